import HindcastModel
import HindcastSupport
import HindcastTasks

/// Stage `feedback`: executes every rollout and criticizes it. Shard i reads rollout shard i.
public struct FeedbackStage {
  public let run: Run
  public let tasks: TaskSource

  public func execute(round: Int) throws {
    let spec = run.spec
    try run.requireComplete(round: round, stage: .rollout, for: .feedback)
    let train = try tasks.train(round: round)
    let byId = Dictionary(train.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let count = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .rollout)] ?? 0
    try run.runShards(round: round, stage: .feedback, shardCount: count) {
      shard, _ -> ShardOutput<FeedbackRecord> in
      let rollouts = try run.readShard(RolloutRecord.self, round: round, stage: .rollout, shard: shard)
      try StageInputs.checkRollouts(
        rollouts, round: round, path: StageInputs.shardPath(run, round: round, stage: .rollout, shard: shard),
        taskIds: Set(tasks.shardSlice(train, shard: shard).map(\.id)),
        samplesPerTask: spec.tasks.samplesPerTask)
      var budget = Budget()
      var passes = 0
      let records = try rollouts.map { rollout -> FeedbackRecord in
        guard let task = byId[rollout.taskId] else {
          throw HindcastError(
            .corruptFile,
            "rollout \(rollout.id) names task \(rollout.taskId), which is not in round \(round)",
            location: run.layout.path(run.layout.shardName(round: round, stage: .rollout, shard: shard)))
        }
        let result = tasks.family.execute(task: task, attempt: rollout.text)
        budget.environmentCalls += 1
        if result.passed { passes += 1 }
        return FeedbackRecord(
          id: rollout.id + "/fb", rolloutId: rollout.id, taskId: task.id, round: round,
          sample: rollout.sample,
          passed: result.passed, reward: result.passed ? 1 : 0, result: result,
          critique: tasks.family.critique(task: task, attempt: rollout.text, result: result),
          firstErrorToken: Self.firstErrorToken(result: result, tokens: rollout.tokens))
      }
      let rate = records.isEmpty ? 0 : Double(passes) / Double(records.count)
      return ShardOutput(records: records, budget: budget, values: ["pass_rate": rate])
    }
  }

  /// The token index of the first located error. Attempts are byte tokens, so the executor's
  /// byte offset into the attempt text is the token index (clamped to the attempt).
  static func firstErrorToken(result: ExecutionResult, tokens: [Int32]) -> Int? {
    guard !result.passed, let offset = result.errorOffset, !tokens.isEmpty else { return nil }
    return min(max(0, offset), tokens.count - 1)
  }
}
