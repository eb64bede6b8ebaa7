import HindcastStorage

extension RunInspector {
  /// The ids of every rollout, feedback and rewrite record in the run's completed shards: the
  /// records a memory note's provenance may name (`hindcast memory verify --run`). Each shard is
  /// read and checked against the SHA-256 in the manifest.
  public func recordIds() throws -> Set<String> {
    let manifest = try run.manifest()
    var ids = Set<String>()
    func collect<Record: ShardRecord>(
      _ type: Record.Type, stage: StageName, round: Int, id: (Record) -> String
    )
      throws
    {
      let count = manifest.shardCounts[RunManifest.stageKey(round: round, stage: stage)] ?? 0
      for shard in 0..<count
      where manifest.units[RunManifest.unitKey(round: round, stage: stage, shard: shard)] != nil {
        for record in try run.readShard(type, round: round, stage: stage, shard: shard) {
          ids.insert(id(record))
        }
      }
    }
    for round in 0...max(0, run.spec.rounds) {
      try collect(RolloutRecord.self, stage: .rollout, round: round, id: \.id)
      try collect(FeedbackRecord.self, stage: .feedback, round: round, id: \.id)
      try collect(RewriteRecord.self, stage: .rewrite, round: round, id: \.id)
    }
    return ids
  }
}
