import Foundation
import HindcastModel
import HindcastSupport
import HindcastTasks
import HindcastTraining

/// Stage `distill`: trains the next round's policy from the current one, without privileged
/// context. It only joins, batches and steps: every rollout is joined with its task, feedback,
/// group and teacher view into a `RolloutView`, each active objective of `ObjectiveRegistry`
/// (the spec's `distill.NAME` weights) turns the view into weighted sequences, and the pool is
/// trained in shuffled minibatches.
///
/// Each objective's weight is split evenly over its loss terms within a minibatch (times the
/// objective's own relative term weights), so weights mean the same thing whatever the number of
/// tokens. With `distill.gap_gate`, teacher objectives' weights are also scaled by the round's
/// measured teacher-student gap (`RoundGap.gate`).
public struct DistillStage {
  public let run: Run
  public let tasks: TaskSource

  public init(run: Run, tasks: TaskSource) {
    self.run = run
    self.tasks = tasks
  }

  /// One pool entry: a sequence and the objective (registry name) that made it.
  struct Example {
    var sequence: TrainingSequence
    var objective: String
  }

  /// Joins the round's rollout, feedback and (when `needs` has `rewrites`) rewrite shards into
  /// views, in shard and rollout order. Rollouts without task or feedback, with an empty attempt
  /// or one that does not fit the context are left out; groups hold every feedback record of the
  /// task in the shard. When `needs` has `behaviourLogprobs`, a rollout without them is refused
  /// (`StageInputs.checkBehaviour`).
  func views(round: Int, config: ModelConfig, needs: ObjectiveNeeds) throws -> [RolloutView] {
    let withRewrites = needs.contains(.rewrites)
    let spec = run.spec
    let contextLength = config.contextLength
    try run.requireComplete(round: round, stage: withRewrites ? .rewrite : .feedback, for: .distill)
    let train = try tasks.train(round: round)
    let byId = Dictionary(train.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let builder = ContextBuilder(config: config, reserve: spec.rollout.maxTokens)
    let shards = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .rollout)] ?? 0
    var views: [RolloutView] = []
    for shard in 0..<shards {
      let rollouts = try run.readShard(RolloutRecord.self, round: round, stage: .rollout, shard: shard)
      let feedback = try run.readShard(FeedbackRecord.self, round: round, stage: .feedback, shard: shard)
      let rewrites =
        withRewrites ? try run.readShard(RewriteRecord.self, round: round, stage: .rewrite, shard: shard) : []
      try Self.checkInputs(
        run: run, round: round, shard: shard, tasks: Set(tasks.shardSlice(train, shard: shard).map(\.id)),
        rollouts: rollouts, feedback: feedback, rewrites: withRewrites ? rewrites : nil)
      if needs.contains(.behaviourLogprobs) {
        try StageInputs.checkBehaviour(
          rollouts, path: StageInputs.shardPath(run, round: round, stage: .rollout, shard: shard))
      }
      views += Self.join(
        rollouts: rollouts, feedback: feedback, rewrites: rewrites, tasks: byId, builder: builder,
        contextLength: contextLength)
    }
    return views
  }

  /// Joins one shard's records into views (see `views(round:config:needs:)`).
  static func join(
    rollouts: [RolloutRecord], feedback: [FeedbackRecord], rewrites: [RewriteRecord],
    tasks byId: [String: TaskRecord],
    builder: ContextBuilder, contextLength: Int
  ) -> [RolloutView] {
    let feedbackById = Dictionary(feedback.map { ($0.rolloutId, $0) }, uniquingKeysWith: { a, _ in a })
    let rewriteById = Dictionary(rewrites.map { ($0.rolloutId, $0) }, uniquingKeysWith: { a, _ in a })
    var groups: [String: [RolloutView.Sibling]] = [:]
    for item in feedback {
      groups[item.taskId, default: []].append(
        .init(rolloutId: item.rolloutId, reward: item.reward, passed: item.passed))
    }
    var views: [RolloutView] = []
    for rollout in rollouts {
      guard let task = byId[rollout.taskId], let fb = feedbackById[rollout.id], !rollout.tokens.isEmpty else {
        continue
      }
      let prompt = builder.student(task: task.prompt)
      guard prompt.count + rollout.tokens.count <= contextLength else { continue }
      views.append(
        RolloutView(
          task: task, rollout: rollout, feedback: fb, rewrite: rewriteById[rollout.id],
          group: groups[rollout.taskId] ?? [], prompt: prompt, contextLength: contextLength))
    }
    return views
  }

  /// Fills what the objectives need beyond the stored records: full-vocabulary teacher scores
  /// (re-scored by `teacher` on the stored teacher contexts) and the round-start student's
  /// log-probabilities of hindsight rewrites (by `student`).
  static func complete(
    _ views: inout [RolloutView], needs: ObjectiveNeeds, teacher: () throws -> Transformer,
    student: Transformer
  ) throws {
    if needs.contains(.fullTeacher) {
      let scored = views.indices.filter { views[$0].rewrite != nil }
      let model = try teacher()
      let results = try Scorer.score(
        model: model, prompts: scored.map { views[$0].rewrite?.teacherTokens ?? [] },
        continuations: scored.map { views[$0].rollout.tokens }, fullDistribution: true)
      let v = model.config.vocabSize
      for (index, result) in zip(scored, results) {
        guard let rows = result.distribution else { continue }
        views[index].fullTeacher = (0..<result.logprobs.count).map { Array(rows[($0 * v)..<(($0 + 1) * v)]) }
      }
    }
    if needs.contains(.rewriteStudentLogprobs) {
      var pairs: [(view: Int, sample: Int)] = []
      for (i, view) in views.enumerated() {
        views[i].rewriteStudentLogprobs = Array(repeating: nil, count: view.rewrite?.hindsight.count ?? 0)
        for (j, sample) in (view.rewrite?.hindsight ?? []).enumerated()
        where !sample.tokens.isEmpty && view.prompt.count + sample.tokens.count <= view.contextLength {
          pairs.append((i, j))
        }
      }
      let results = try Scorer.score(
        model: student, prompts: pairs.map { views[$0.view].prompt },
        continuations: pairs.map { views[$0.view].rewrite?.hindsight[$0.sample].tokens ?? [] })
      for (pair, result) in zip(pairs, results) {
        views[pair.view].rewriteStudentLogprobs?[pair.sample] = result.logprobs
      }
    }
  }

  /// The training pool: every active objective's sequences for every view, rollout by rollout,
  /// objectives in registry order.
  static func pool(views: [RolloutView], objectives: [any DistillObjective]) throws -> [Example] {
    var examples: [Example] = []
    for view in views {
      for objective in objectives {
        for sequence in try objective.sequences(for: view) {
          examples.append(Example(sequence: sequence, objective: objective.name))
        }
      }
    }
    return examples
  }

  /// Builds the training pool of `round` (without completing needs that require a model).
  func pool(round: Int, config: ModelConfig) throws -> [Example] {
    let active = try ObjectiveRegistry.active(run.spec.distill)
    let needs = active.reduce(into: ObjectiveNeeds()) { $0.formUnion($1.objective.needs) }
    let joined = try views(round: round, config: config, needs: needs)
    return try Self.pool(views: joined, objectives: active.map(\.objective))
  }

  /// The minibatch's sequences with final term weights: each term's relative weight times its
  /// objective's weight, divided by the objective's number of terms in the batch.
  static func weighted(_ batch: [Example], weights: [String: Double]) -> [TrainingSequence] {
    var termCounts: [String: Int] = [:]
    for example in batch { termCounts[example.objective, default: 0] += example.sequence.terms.count }
    return batch.map { example -> TrainingSequence in
      var sequence = example.sequence
      let weight = weights[example.objective] ?? 0
      let count = Double(max(1, termCounts[example.objective] ?? 1))
      for i in sequence.terms.indices {
        sequence.terms[i].weight = Float(Double(sequence.terms[i].weight) * weight / count)
      }
      return sequence
    }
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
    let active = try ObjectiveRegistry.active(d)
    let needs = active.reduce(into: ObjectiveNeeds()) { $0.formUnion($1.objective.needs) }
    var joined = try views(round: round, config: model.config, needs: needs)
    try Self.complete(
      &joined, needs: needs,
      teacher: { try TeacherSelection.teacher(run: run, round: round, current: model) },
      student: model)
    let examples = try Self.pool(views: joined, objectives: active.map(\.objective))
    var weights: [String: Double] = [:]
    var gate: RoundGap.Gate?
    if d.gapGate && active.contains(where: { $0.objective.usesTeacher }) {
      gate = try RoundGap(run: run, tasks: tasks).gate(round: round, policy: model)
    }
    for (objective, weight) in active {
      weights[objective.name] = weight * (objective.usesTeacher ? gate?.factor ?? 1 : 1)
    }
    model.trainingThreads = run.spec.model.threads
    // The EMA teacher follows the student: ema = (1 - rate) ema + rate student after each step.
    let ema = spec.distill.teacher == .ema ? try store.load(round: round, kind: .ema) : nil
    let rate = Float(d.emaRate)
    let moments = d.persistMoments ? try Self.savedMoments(run: run, round: round) : nil
    var optimizer = try AdamW(config: AdamWConfig(weightDecay: 0), layout: model.layout, state: moments)
    var rng = SeededRandom(seed: run.seed(round: round, stage: .distill, shard: 0))
    var order: [Int] = []
    var cursor = 0
    var budget = Budget()
    var losses: [Double] = []
    let progress = ProgressLine(
      label: "distill round \(round)", total: examples.isEmpty ? 0 : d.steps, unit: "steps", plainEvery: 4,
      reporter: run.reporter)
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
      let sequences = Self.weighted(batch, weights: weights)
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
      budget.modelTokens += 3 * sequences.reduce(0) { $0 + $1.tokens.count }
      losses.append(report.loss)
      progress.advance(records: sequences.count)
    }
    var event = MetricsEvent(stage: StageName.distill.rawValue, round: round, worker: run.worker.index)
    budget.fill(&event)
    event.records = examples.count
    event.wallSeconds = Date().timeIntervalSince(started)
    event.values = [
      "final_loss": losses.last ?? 0,
      "mean_loss": losses.isEmpty ? 0 : losses.reduce(0, +) / Double(losses.count),
    ]
    for entry in ObjectiveRegistry.entries
    where ["sdpo", "sft", "rft", "grpo"].contains(entry.name) || d.weights[entry.name] != nil {
      event.values["examples_\(entry.name)"] = Double(examples.filter { $0.objective == entry.name }.count)
    }
    if let gate {
      event.values["gap_gate"] = gate.factor
      event.values["gap_difference"] = gate.difference
      event.values["gap_low"] = gate.low
    }
    try run.record(event)
    // The event is logged before the policy commits the round (RunLedger keeps it only then).
    // The EMA teacher is saved before the policy: the policy's manifest entry marks the round done.
    if let ema { try store.save(ema, round: round + 1, kind: .ema) }
    try store.save(
      model, round: round + 1,
      training: d.persistMoments ? Self.snapshot(optimizer.state, rng: rng, threads: spec.model.threads) : nil
    )
  }

  /// AdamW moments saved with the round's policy by the previous distillation, or nil (round 0,
  /// a policy restored by a rollback, or one saved without `distill.persist_moments`).
  static func savedMoments(run: Run, round: Int) throws -> AdamWState? {
    guard round > 0 else { return nil }
    let directory = run.layout.policy(round: round)
    guard FileManager.default.fileExists(atPath: directory + "/" + CheckpointIO.FileName.optimizer) else {
      return nil
    }
    return try CheckpointIO.read(directory).training?.optimizer
  }

  /// The optimizer state saved beside a distilled policy (`persist_moments`).
  static func snapshot(_ state: AdamWState, rng: SeededRandom, threads: Int) -> TrainingSnapshot {
    TrainingSnapshot(
      optimizer: state,
      state: TrainingState(
        step: state.step, random: rng, dataCursor: 0, tokensSeen: 0, training: TrainingConfig(),
        threadCount: threads, extra: ["writer": "distill"]))
  }
}
