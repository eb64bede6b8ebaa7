import HindcastModel
import HindcastSupport
import HindcastTasks

/// Stage `rollout`: k samples per training task from the round's policy, task-only context.
public struct RolloutStage {
  public let run: Run
  public let tasks: TaskSource

  public func execute(round: Int, policy: Policy) throws {
    let spec = run.spec
    let train = try tasks.train(round: round)
    let builder = ContextBuilder(policy: policy, reserve: spec.rollout.maxTokens)
    let settings = spec.rollout.settings
    let transform = settings.transform
    // Behaviour log-probs are stored when they differ from the model's own (`RolloutRecord`), and
    // only from a policy that reports them exactly.
    let storesBehaviour = !transform.isIdentity && policy.reportsSamplingLogprobs
    try run.runShards(round: round, stage: .rollout, shardCount: tasks.shardCount(taskCount: train.count)) {
      shard, seed -> ShardOutput<RolloutRecord> in
      let retries = policy.retries
      var prompts: [[Int32]] = []
      var owners: [(task: TaskRecord, sample: Int)] = []
      for task in tasks.shardSlice(train, shard: shard) {
        for sample in 0..<spec.tasks.samplesPerTask {
          prompts.append(try builder.studentPrompt(task: task.prompt))
          owners.append((task, sample))
        }
      }
      let seeds = (0..<prompts.count).map { SeedDerivation.derive(seed, [UInt64($0)]) }
      let generations = try policy.generate(prompts: prompts, settings: settings, seeds: seeds)
      var budget = Budget()
      let records = try zip(prompts, zip(owners, generations)).map { prompt, item -> RolloutRecord in
        let (owner, generation) = item
        budget.generatedTokens += generation.tokens.count
        budget.modelTokens += prompt.count + generation.tokens.count
        return RolloutRecord(
          id: "\(RunLayout.roundName(round))/\(owner.task.id)/s\(owner.sample)", round: round,
          taskId: owner.task.id,
          sample: owner.sample, tokens: generation.tokens, text: try builder.answerText(generation.tokens),
          logprobs: generation.logprobs, finish: generation.finish.rawValue,
          temperature: spec.rollout.temperature, topK: settings.topK,
          topP: settings.topP == nil ? nil : spec.rollout.topP,
          maxTokens: spec.rollout.maxTokens,
          behaviourLogprobs: storesBehaviour ? generation.samplingLogprobs : nil, policy: policy.servedBy)
      }
      // Mean surprisal of the sampled tokens under the untempered policy: with the identity
      // transform (temperature 1, no truncation) this is a Monte-Carlo estimate of the policy's
      // per-token entropy (nats), logged per round as a collapse guard.
      let logprobs = records.flatMap(\.logprobs)
      let entropy = logprobs.isEmpty ? 0 : -logprobs.reduce(0) { $0 + Double($1) } / Double(logprobs.count)
      return ShardOutput(
        records: records, budget: budget,
        values: policy.retryValues(since: retries).merging(["policy_entropy": entropy]) { $1 })
    }
  }
}
