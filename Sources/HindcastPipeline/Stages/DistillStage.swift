import Foundation
import HindcastModel
import HindcastSupport
import HindcastTraining

/// Stage `distill`: trains the next round's policy from the current one, without privileged
/// context, toward the teacher. Objectives are combined with the spec's weights:
///
/// - `sdpo`: per-token divergence between the student and the teacher's stored top-k
///   distribution on the student's own attempt, weighted by a clipped importance ratio; on every
///   position or only up to and including the first located error.
/// - `sft`: cross-entropy on verified hindsight rewrites in the student context.
/// - `rft`: cross-entropy on the policy's own passing attempts.
/// - `grpo`: clipped policy gradient with group-normalized binary rewards.
///
/// Each objective's weight is split evenly over its loss terms within a minibatch, so weights
/// mean the same thing whatever the number of tokens.
public struct DistillStage {
  public let run: Run
  public let tasks: TaskSource

  enum Objective: Int, CaseIterable { case sdpo, sft, rft, grpo }

  struct Example {
    var sequence: TrainingSequence
    var objective: Objective
  }

  /// Builds the training pool of `round` from its rollout, feedback and rewrite shards.
  func pool(round: Int, contextLength: Int) throws -> [Example] {
    let spec = run.spec
    let d = spec.distill
    let needsRewrites = d.sdpo > 0 || d.sft > 0
    try run.requireComplete(round: round, stage: needsRewrites ? .rewrite : .feedback, for: .distill)
    let train = try tasks.train(round: round)
    let byId = Dictionary(train.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let builder = ContextBuilder(contextLength: contextLength, reserve: spec.rollout.maxTokens)
    let shards = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .rollout)] ?? 0
    var examples: [Example] = []
    for shard in 0..<shards {
      let rollouts = try run.readShard(RolloutRecord.self, round: round, stage: .rollout, shard: shard)
      let feedback = try run.readShard(FeedbackRecord.self, round: round, stage: .feedback, shard: shard)
      let rewrites =
        needsRewrites
        ? try run.readShard(RewriteRecord.self, round: round, stage: .rewrite, shard: shard) : []
      try Self.checkInputs(
        run: run, round: round, shard: shard, tasks: Set(tasks.shardSlice(train, shard: shard).map(\.id)),
        rollouts: rollouts, feedback: feedback, rewrites: needsRewrites ? rewrites : nil)
      let feedbackById = Dictionary(feedback.map { ($0.rolloutId, $0) }, uniquingKeysWith: { a, _ in a })
      let rewriteById = Dictionary(rewrites.map { ($0.rolloutId, $0) }, uniquingKeysWith: { a, _ in a })
      // GRPO advantages: rewards normalized within each task's group of samples.
      var groups: [String: [Double]] = [:]
      for item in feedback { groups[item.taskId, default: []].append(item.reward) }
      for rollout in rollouts {
        guard let task = byId[rollout.taskId], let fb = feedbackById[rollout.id], !rollout.tokens.isEmpty
        else {
          continue
        }
        let prompt = builder.student(task: task.prompt)
        guard prompt.count + rollout.tokens.count <= contextLength else { continue }
        let start = prompt.count - 1
        // Up to the first error: only attempts with an error the executor located, on the
        // positions up to and including it (a passing attempt has nothing to correct, and the
        // teacher never saw "passed" feedback in pretraining). All positions: every attempt.
        let located = d.positions == .all ? rollout.tokens.count - 1 : (fb.passed ? nil : fb.firstErrorToken)
        if d.sdpo > 0, let last = located, let rewrite = rewriteById[rollout.id],
          rewrite.teacherTopIds.count == rollout.tokens.count
        {
          let kind: DivergenceKind =
            d.divergence == .forwardKL ? .forwardKL : d.divergence == .reverseKL ? .reverseKL : .jsd
          let terms = (0...last).map { j in
            TokenTerm(
              position: start + j, weight: 1,
              kind: .divergence(
                teacher: .topK(ids: rewrite.teacherTopIds[j], logprobs: rewrite.teacherTopLogprobs[j]),
                kind: kind,
                importance: ImportanceWeight(
                  oldLogprob: rollout.logprobs[j], target: rollout.tokens[j], clip: Float(d.ratioClip))))
          }
          examples.append(
            Example(
              sequence: TrainingSequence(tokens: prompt + rollout.tokens, terms: terms), objective: .sdpo))
        }
        if d.sft > 0, let rewrite = rewriteById[rollout.id] {
          for sample in rewrite.hindsight
          where sample.verified && prompt.count + sample.tokens.count <= contextLength {
            examples.append(
              Example(sequence: .supervised(prompt: prompt, completion: sample.tokens), objective: .sft))
          }
        }
        if d.rft > 0, fb.passed {
          examples.append(
            Example(sequence: .supervised(prompt: prompt, completion: rollout.tokens), objective: .rft))
        }
        if d.grpo > 0, let rewards = groups[rollout.taskId], rewards.count > 1 {
          let mean = rewards.reduce(0, +) / Double(rewards.count)
          let variance = rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rewards.count)
          let advantage = Float((fb.reward - mean) / (variance.squareRoot() + 1e-4))
          if variance > 0 {
            let terms = rollout.tokens.indices.map { j in
              TokenTerm(
                position: start + j, weight: 1,
                kind: .policyGradient(
                  target: rollout.tokens[j], advantage: advantage, oldLogprob: rollout.logprobs[j],
                  clip: Float(d.grpoClip)))
            }
            examples.append(
              Example(
                sequence: TrainingSequence(tokens: prompt + rollout.tokens, terms: terms), objective: .grpo))
          }
        }
      }
    }
    return examples
  }

  /// Checks that one shard's rollouts, feedback and rewrites (nil: not read) belong together and
  /// that every index the pool uses is in range (`StageInputs`), before anything is trained or
  /// written.
  static func checkInputs(
    run: Run, round: Int, shard: Int, tasks: Set<String>, rollouts: [RolloutRecord],
    feedback: [FeedbackRecord],
    rewrites: [RewriteRecord]?
  ) throws {
    let byId = try StageInputs.checkRollouts(
      rollouts, round: round, path: StageInputs.shardPath(run, round: round, stage: .rollout, shard: shard),
      taskIds: tasks, samplesPerTask: run.spec.tasks.samplesPerTask)
    try StageInputs.checkFeedback(
      feedback, rollouts: byId, round: round,
      path: StageInputs.shardPath(run, round: round, stage: .feedback, shard: shard))
    guard let rewrites else { return }
    try StageInputs.checkRewrites(
      rewrites, rollouts: byId, round: round,
      path: StageInputs.shardPath(run, round: round, stage: .rewrite, shard: shard))
  }

  /// Trains `model` (the round's policy, changed in place) and saves it as the next round's
  /// policy. Does nothing when that policy already exists.
  public func execute(round: Int, model: Transformer) throws {
    let store = PolicyStore(run: run)
    if try store.exists(round: round + 1) { return }
    let started = Date()
    let spec = run.spec
    let d = spec.distill
    let examples = try pool(round: round, contextLength: model.config.contextLength)
    model.trainingThreads = run.spec.model.threads
    // The EMA teacher follows the student: ema = (1 - rate) ema + rate student after each step.
    let ema = spec.distill.teacher == .ema ? try store.load(round: round, kind: .ema) : nil
    let rate = Float(d.emaRate)
    var optimizer = try AdamW(config: AdamWConfig(weightDecay: 0), layout: model.layout)
    var rng = SeededRandom(seed: run.seed(round: round, stage: .distill, shard: 0))
    var order: [Int] = []
    var cursor = 0
    var budget = Budget()
    var losses: [Double] = []
    let weights: [Objective: Double] = [.sdpo: d.sdpo, .sft: d.sft, .rft: d.rft, .grpo: d.grpo]
    let progress = ProgressLine(
      label: "distill round \(round)", total: examples.isEmpty ? 0 : d.steps, unit: "steps", plainEvery: 4)
    for _ in 0..<(examples.isEmpty ? 0 : d.steps) {
      var batch: [Example] = []
      while batch.count < min(d.batch, examples.count) {
        if cursor == order.count {
          order = Array(examples.indices)
          for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
          cursor = 0
        }
        batch.append(examples[order[cursor]])
        cursor += 1
      }
      // Split each objective's weight evenly over its terms in this minibatch.
      var termCounts: [Objective: Int] = [:]
      for example in batch { termCounts[example.objective, default: 0] += example.sequence.terms.count }
      let sequences = batch.map { example -> TrainingSequence in
        var sequence = example.sequence
        let w = Float((weights[example.objective] ?? 0) / Double(max(1, termCounts[example.objective] ?? 1)))
        for i in sequence.terms.indices { sequence.terms[i].weight = w }
        return sequence
      }
      model.zeroGradients()
      let report = try model.lossAndGradients(sequences)
      _ = GradientClipping.clip(&model.gradients, maxNorm: 1)
      try optimizer.update(
        parameters: &model.parameters, gradients: model.gradients, learningRate: Float(d.learningRate))
      if let ema {
        for i in ema.parameters.indices {
          ema.parameters[i] += rate * (model.parameters[i] - ema.parameters[i])
        }
      }
      budget.trainingTokens += report.terms
      losses.append(report.loss)
      progress.advance(records: sequences.count)
    }
    // The EMA teacher is saved before the policy: the policy's manifest entry marks the round done.
    if let ema { try store.save(ema, round: round + 1, kind: .ema) }
    try store.save(model, round: round + 1)
    var event = MetricsEvent(stage: StageName.distill.rawValue, round: round, worker: run.worker.index)
    budget.fill(&event)
    event.records = examples.count
    event.wallSeconds = Date().timeIntervalSince(started)
    event.values = [
      "final_loss": losses.last ?? 0,
      "mean_loss": losses.isEmpty ? 0 : losses.reduce(0, +) / Double(losses.count),
    ]
    for objective in Objective.allCases {
      event.values["examples_\(objective)"] = Double(examples.filter { $0.objective == objective }.count)
    }
    try run.record(event)
  }
}
