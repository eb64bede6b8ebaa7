import Foundation
import HindcastStorage
import HindcastSupport

/// What one shard of work produced.
public struct ShardOutput<Record: ShardRecord> {
  public var records: [Record]
  public var budget = Budget()
  public var values: [String: Double] = [:]

  public init(records: [Record], budget: Budget = Budget(), values: [String: Double] = [:]) {
    self.records = records
    self.budget = budget
    self.values = values
  }
}

extension Run {
  /// Runs the shards of `stage` in `round` that this worker owns and that are not complete yet.
  ///
  /// For each shard: the work function gets the shard index and its derived seed; its records are
  /// written atomically to the shard file; only then is the shard recorded in the manifest with
  /// its SHA-256. A shard the manifest lists as complete is re-verified (hash, header) and skipped;
  /// a damaged one stops the stage with its path. Returns the number of shards computed now.
  @discardableResult
  public func runShards<Record: ShardRecord>(
    round: Int, stage: StageName, shardCount: Int,
    work: (_ shard: Int, _ seed: UInt64) throws -> ShardOutput<Record>
  ) throws -> Int {
    let stageKey = RunManifest.stageKey(round: round, stage: stage)
    let manifest = try withManifest { manifest -> RunManifest in
      manifest.shardCounts[stageKey] = shardCount
      return manifest
    }
    let owned = (0..<shardCount).filter { worker.owns($0) }
    var pending: [Int] = []
    for shard in owned {
      let key = RunManifest.unitKey(round: round, stage: stage, shard: shard)
      if let unit = manifest.units[key] {
        try verifyUnit(unit, kind: Record.shardKind)
      } else {
        pending.append(shard)
      }
    }
    if pending.isEmpty { return 0 }
    AtomicFile.removeStaleTemporaries(in: layout.path("\(RunLayout.roundName(round))/\(stage.rawValue)"))
    let progress = ProgressLine(
      label: "\(stage.rawValue) round \(round)", total: pending.count, plainEvery: max(1, pending.count / 10),
      reporter: reporter)
    for shard in pending {
      let started = Date()
      let output = try work(shard, seed(round: round, stage: stage, shard: shard))
      let relative = layout.shardName(round: round, stage: stage, shard: shard)
      let info = try ShardFile.write(output.records, to: layout.path(relative))
      let key = RunManifest.unitKey(round: round, stage: stage, shard: shard)
      // The unit's metrics go to the log before the unit is committed: a crash in between leaves
      // an event the manifest does not vouch for, which `RunLedger` ignores; the recomputed unit
      // logs again. So the ledger is durable exactly when the unit is.
      var event = MetricsEvent(stage: stage.rawValue, round: round, shard: shard, worker: worker.index)
      output.budget.fill(&event)
      event.records = output.records.count
      event.values = output.values
      event.wallSeconds = Date().timeIntervalSince(started)
      try record(event)
      try withManifest { manifest in
        manifest.units[key] = RunManifest.Unit(path: relative, sha256: info.sha256, records: info.recordCount)
      }
      progress.advance(records: output.records.count)
    }
    return pending.count
  }

  /// Checks that a unit the manifest lists is intact.
  func verifyUnit(_ unit: RunManifest.Unit, kind: String) throws {
    do {
      try ShardFile.verify(path: layout.path(unit.path), kind: kind, expectedSHA256: unit.sha256)
    } catch let error as HindcastError {
      var error = error
      error.hint =
        "the manifest lists this shard as complete but it is damaged; run "
        + "`hindcast verify --run \(layout.root) --repair` to forget it, then rerun the stage"
      throw error
    }
  }

  /// Whether every shard of a stage is complete (across all workers).
  public func isComplete(round: Int, stage: StageName) throws -> Bool {
    let manifest = try manifest()
    guard let count = manifest.shardCounts[RunManifest.stageKey(round: round, stage: stage)] else {
      return false
    }
    return (0..<count).allSatisfy {
      manifest.units[RunManifest.unitKey(round: round, stage: stage, shard: $0)] != nil
    }
  }

  /// Reads one complete upstream shard; throws naming the stage to run first when it is missing.
  public func readShard<Record: ShardRecord>(
    _ type: Record.Type, round: Int, stage: StageName, shard: Int
  ) throws -> [Record] {
    let key = RunManifest.unitKey(round: round, stage: stage, shard: shard)
    guard let unit = try manifest().units[key] else {
      throw HindcastError(
        .missingPrerequisite, "round \(round) has no complete \(stage.rawValue) shard \(shard)",
        location: layout.root,
        hint: "run `hindcast \(stage.rawValue) --run \(layout.root) --round \(round)` first")
    }
    return try ShardFile.read(Record.self, from: layout.path(unit.path), expectedSHA256: unit.sha256)
  }

  /// Requires that a whole upstream stage is complete before a stage that reads all of it runs.
  public func requireComplete(round: Int, stage: StageName, for consumer: StageName) throws {
    guard try isComplete(round: round, stage: stage) else {
      throw HindcastError(
        .missingPrerequisite,
        "\(consumer.rawValue) for round \(round) needs the complete \(stage.rawValue) stage of that round",
        location: layout.root,
        hint: "run `hindcast \(stage.rawValue) --run \(layout.root) --round \(round)` first (all workers)")
    }
  }
}
