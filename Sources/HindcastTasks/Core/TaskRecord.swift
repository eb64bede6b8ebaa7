import HindcastSupport

/// Which split a task belongs to. The two are disjoint by construction: see `SplitAssignment`.
public enum TaskSplit: String, Codable, Sendable, CaseIterable {
  case train
  case heldOut = "held-out"
}

/// One task of a family: what the model sees, a canonical solution, and what the executor needs.
///
/// Serialized as one JSON object per line (`hindcast tasks generate`), keys as below.
public struct TaskRecord: Codable, Sendable, Equatable {
  /// Stable id: the family name and a hash of the task's content (built-in families), or the
  /// id from the user's file (exec). Identical tasks have identical ids in every process.
  public var id: String
  /// The family that generated the task and can execute attempts at it.
  public var family: String
  public var split: TaskSplit
  /// The text the model sees after `<task>`.
  public var prompt: String
  /// A correct solution, the text the model should produce after `<answer>`. Empty when unknown
  /// (an exec task without a canonical solution).
  public var canonical: String
  /// Family-specific data the executor needs (operands, hidden tests, the user's task object).
  public var payload: JSONValue
  /// Scope tags for memory retrieval and reports, e.g. `["op:add", "digits:3", "level:2"]`.
  public var features: [String]

  public init(
    id: String, family: String, split: TaskSplit, prompt: String, canonical: String,
    payload: JSONValue, features: [String]
  ) {
    self.id = id
    self.family = family
    self.split = split
    self.prompt = prompt
    self.canonical = canonical
    self.payload = payload
    self.features = features
  }

  /// True when `canonical` holds a solution.
  public var hasCanonical: Bool { !canonical.isEmpty }
}

/// A difficulty setting: each generated task draws its level uniformly from `levels`. What a
/// level means is family-specific (`TaskFamily.levels`, docs/tasks.md); larger is harder.
public struct TaskDifficulty: Codable, Sendable, Equatable {
  public var levels: ClosedRange<Int>

  public init(levels: ClosedRange<Int>) { self.levels = levels }
  public init(level: Int) { self.levels = level...level }

  /// Checks the range against what a family supports.
  public func validate(for family: String, supported: ClosedRange<Int>) throws {
    guard supported.contains(levels.lowerBound), supported.contains(levels.upperBound) else {
      throw HindcastError(
        .invalidInput,
        "difficulty \(levels.lowerBound)...\(levels.upperBound) is outside \(family)'s levels "
          + "\(supported.lowerBound)...\(supported.upperBound)",
        hint: "choose levels between \(supported.lowerBound) and \(supported.upperBound)")
    }
  }
}

/// Assigns every task to a split by a stable hash of its content key, so train and held-out
/// tasks can never coincide: a generator draws tasks and keeps only those of the wanted split.
public enum SplitAssignment {
  /// Held-out buckets out of `bucketCount`: 1/8 of all possible tasks are reserved.
  public static let heldOutBuckets: UInt64 = 125
  public static let bucketCount: UInt64 = 1000

  /// The split of a task of `family` whose content key (the prompt, for built-in families) is
  /// `key`. Deterministic across processes and machines.
  public static func split(family: String, key: String) -> TaskSplit {
    let hash = StableHash.fnv1a64("hindcast-split-v1\u{0}\(family)\u{0}\(key)")
    // Mix the FNV output so that neighbouring keys spread over all buckets.
    var mixer = SplitMix64(state: hash)
    return mixer.next() % bucketCount < heldOutBuckets ? .heldOut : .train
  }

  /// A stable task id: `family-` and 16 hex digits of a hash of the content key.
  public static func id(family: String, key: String) -> String {
    "\(family)-\(StableHash.hex(StableHash.fnv1a64("hindcast-task-v1\u{0}\(family)\u{0}\(key)")))"
  }
}
