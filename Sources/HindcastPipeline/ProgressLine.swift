import Foundation
import HindcastSupport

/// Progress of a long loop, sent to a `ProgressReporter`: rate and ETA are computed here, the
/// presentation is the reporter's. Every `plainEvery`-th update (and the last) is a milestone.
/// Not thread-safe; one per loop.
public final class ProgressLine {
  private let label: String
  private let total: Int
  private let unit: String
  private let plainEvery: Int
  private let reporter: any ProgressReporter
  private let start = Date()
  private var done = 0
  private var items = 0
  public var quiet = false

  public init(
    label: String, total: Int, unit: String = "shards", plainEvery: Int = 1,
    reporter: any ProgressReporter
  ) {
    self.label = label
    self.total = total
    self.unit = unit
    self.plainEvery = max(1, plainEvery)
    self.reporter = reporter
  }

  /// Marks one more of `total` finished, `records` more items processed.
  public func advance(records: Int = 0, note: String = "") {
    done += 1
    items += records
    guard !quiet else { return }
    let elapsed = Date().timeIntervalSince(start)
    reporter.progress(
      ProgressUpdate(
        label: label, done: done, total: total, unit: unit,
        itemsPerSecond: elapsed > 0 ? Double(items) / elapsed : 0,
        etaSeconds: done > 0 ? elapsed / Double(done) * Double(total - done) : 0, note: note,
        isMilestone: done % plainEvery == 0 || done == total))
  }

  public static func duration(_ seconds: Double) -> String { ProgressUpdate.duration(seconds) }
}
