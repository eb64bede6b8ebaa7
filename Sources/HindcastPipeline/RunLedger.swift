import Foundation
import HindcastStorage

/// The budget ledger of a run, exactly as durable as the work it counts.
///
/// A stage appends a unit's metrics event to `metrics.jsonl` *before* it commits the unit to the
/// manifest (`Run.runShards`, the distill stage). A crash between the two leaves an event for
/// work the manifest does not list; the unit is then recomputed and logs again. Reading keeps,
/// for every unit, the last event, and only if the manifest lists the unit as complete, so the
/// totals after any number of SIGKILLs equal an uninterrupted run's. Events without a unit of
/// their own (pretrain, memory, guard, eval summaries) are kept as they are, last per key.
public enum RunLedger {
  /// The committed events of the run at `layout`, in the order their units first appeared, and
  /// the number of torn lines skipped. An absent log is an empty ledger.
  public static func committedEvents(layout: RunLayout) throws -> (events: [MetricsEvent], skippedLines: Int)
  {
    guard FileManager.default.fileExists(atPath: layout.metrics) else { return ([], 0) }
    let contents = try MetricsLog.read(MetricsEvent.self, from: layout.metrics)
    let units = try RunManifest.read(path: layout.manifest)?.units ?? [:]
    var latest: [String: MetricsEvent] = [:]
    var order: [String] = []
    for (_, event) in contents.events {
      let key = "\(event.stage)|\(event.round)|\(event.shard ?? -1)"
      if latest[key] == nil { order.append(key) }
      latest[key] = event
    }
    let events = order.compactMap { latest[$0] }.filter { event in
      if let shard = event.shard, let stage = StageName(rawValue: event.stage) {
        return units[RunManifest.unitKey(round: event.round, stage: stage, shard: shard)] != nil
      }
      if event.stage == StageName.distill.rawValue {
        return units[layout.policyName(round: event.round + 1)] != nil
      }
      return true
    }
    return (events, contents.skipped.count)
  }
}
