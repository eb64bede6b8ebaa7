import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Progress of a long loop on standard error: one line rewritten in place on a terminal, or a
/// plain line every `plainEvery` items (and at the end) when stderr is a file or pipe.
/// Not thread-safe; one per loop.
public final class ProgressLine {
  private let label: String
  private let total: Int
  private let unit: String
  private let isTerminal: Bool
  private let plainEvery: Int
  private let start = Date()
  private var done = 0
  private var items = 0
  public var quiet = false

  public init(label: String, total: Int, unit: String = "shards", plainEvery: Int = 1) {
    self.label = label
    self.total = total
    self.unit = unit
    self.plainEvery = max(1, plainEvery)
    isTerminal = isatty(2) == 1
  }

  /// Marks one more of `total` finished, `records` more items processed.
  public func advance(records: Int = 0, note: String = "") {
    done += 1
    items += records
    guard !quiet else { return }
    let elapsed = Date().timeIntervalSince(start)
    let rate = elapsed > 0 ? Double(items) / elapsed : 0
    let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
    let text = String(
      format: "%@: %d/%d %@, %.1f records/s, ETA %@%@", label, done, total, unit, rate, Self.duration(eta),
      note.isEmpty ? "" : ", " + note)
    if isTerminal {
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + text + (done == total ? "\n" : "")).utf8))
    } else if done % plainEvery == 0 || done == total {
      FileHandle.standardError.write(Data((text + "\n").utf8))
    }
  }

  public static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, abs(seconds) < 1e12 else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600
      ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : String(format: "%dm%02ds", s / 60, s % 60)
  }
}

/// Writes a diagnostic line to standard error.
enum FileHandleOutput {
  static func standardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }
}
