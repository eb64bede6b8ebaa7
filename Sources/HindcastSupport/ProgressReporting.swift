/// One step of a long loop, as a library reports it. Presentation (a line rewritten in place on
/// a terminal, plain lines in a log, nothing) is the reporter's business.
public struct ProgressUpdate: Sendable, Equatable {
  /// What is running, e.g. "rollout round 2".
  public var label: String
  /// Units finished so far, of `total`.
  public var done: Int
  public var total: Int
  /// What a unit is ("shards", "steps").
  public var unit: String
  /// Items (records) per second since the loop started.
  public var itemsPerSecond: Double
  /// Estimated seconds until the loop ends.
  public var etaSeconds: Double
  /// Extra text, e.g. "loss 1.234"; may be empty.
  public var note: String
  /// True for the updates a reporter that cannot rewrite lines should show (every n-th and the
  /// last); a terminal may show all of them.
  public var isMilestone: Bool

  public init(
    label: String, done: Int, total: Int, unit: String, itemsPerSecond: Double, etaSeconds: Double,
    note: String, isMilestone: Bool
  ) {
    self.label = label
    self.done = done
    self.total = total
    self.unit = unit
    self.itemsPerSecond = itemsPerSecond
    self.etaSeconds = etaSeconds
    self.note = note
    self.isMilestone = isMilestone
  }

  public var isLast: Bool { done >= total }

  /// "rollout round 2: 3/8 shards, 41.0 records/s, ETA 0m12s, note".
  public var text: String {
    let rate = (itemsPerSecond * 10).rounded() / 10
    return "\(label): \(done)/\(total) \(unit), \(rate) records/s, ETA \(Self.duration(etaSeconds))"
      + (note.isEmpty ? "" : ", " + note)
  }

  /// "1h02m" or "3m07s".
  public static func duration(_ seconds: Double) -> String {
    let total = seconds.isFinite ? max(0, Int(seconds.rounded())) : 0
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return total >= 3600 ? "\(total / 3600)h\(two(total / 60 % 60))m" : "\(total / 60)m\(two(total % 60))s"
  }
}

/// Where library code sends progress and notices (rollbacks, weaker sandboxes). Libraries never
/// print: the CLI gives them a reporter that writes to standard error; tests and embedders may
/// collect or drop what is reported. Implementations must be safe to call from any thread.
public protocol ProgressReporter: Sendable {
  /// A step of a long loop.
  func progress(_ update: ProgressUpdate)
  /// A one-line notice a person running the command should see (no trailing newline).
  func notice(_ text: String)
}

/// Drops everything: the default for code that was given no reporter.
public struct SilentReporter: ProgressReporter {
  public init() {}
  public func progress(_ update: ProgressUpdate) {}
  public func notice(_ text: String) {}
}
