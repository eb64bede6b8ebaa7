import Foundation
import HindcastModel
import HindcastSupport
import HindcastTasks
import HindcastTraining

/// Stage 0 (`pretrain`): trains the base policy from scratch on a corpus generated from the task
/// family, and saves it as the run's round-0 policy.
///
/// The corpus mixes direct examples (`<task>T<answer>SOLUTION<end>`) with revision examples
/// (`<task>T<attempt>FLAWED<feedback>F<critique>C<answer>SOLUTION<end>`), so the model learns to
/// use feedback in context. Revisions start from the family's synthetic flaws; after two thirds
/// of the steps the model's own failed attempts on corpus tasks are added as revision examples
/// (FEASIBILITY.md: revisions built from the policy's own mistakes make a stronger teacher). The
/// loss covers only the solution tokens. Training is deterministic from the run seed.
public struct PretrainStage {
  public let run: Run
  public let tasks: TaskSource

  public init(run: Run, tasks: TaskSource) {
    self.run = run
    self.tasks = tasks
  }

  /// A revision example: the teacher context for a flawed attempt, then the canonical solution.
  static func revision(
    task: TaskRecord, attempt: String, family: any TaskFamily, builder: ContextBuilder
  ) -> TrainingSequence {
    let result = family.execute(task: task, attempt: attempt)
    let critique = family.critique(task: task, attempt: attempt, result: result)
    let hindsight = ContextBuilder.Hindsight(
      attempt: attempt, feedback: result.feedbackText(level: .full), critique: critique.rendered)
    let prompt = builder.teacher(task: task.prompt, hindsight: hindsight).tokens
    return .supervised(prompt: prompt, completion: ContextBuilder.completion(task.canonical))
  }

  public func execute() throws {
    let store = PolicyStore(run: run)
    if try store.exists(round: 0) { return }
    let started = Date()
    let spec = run.spec
    let p = spec.pretrain
    let family = tasks.family
    let seed = SeedDerivation.derive(spec.seed, [0x7072_6574_7261_696E])
    var rng = SeededRandom(seed: seed)
    let model = try Transformer(config: spec.model.config, seed: rng.next())
    let builder = ContextBuilder(contextLength: model.config.contextLength, reserve: spec.rollout.maxTokens)
    let corpus = try tasks.pretraining(count: p.corpusTasks)
    let fits = { (s: TrainingSequence) in s.tokens.count <= model.config.contextLength }
    let direct = corpus.map {
      TrainingSequence.supervised(
        prompt: builder.student(task: $0.prompt), completion: ContextBuilder.completion($0.canonical))
    }.filter(fits)
    var revisions = corpus.map { task in
      Self.revision(
        task: task, attempt: family.flaw(solution: task.canonical, task: task, rng: &rng), family: family,
        builder: builder)
    }.filter(fits)
    guard !direct.isEmpty else {
      throw HindcastError(
        .invalidConfig,
        "no pretraining example fits the model's context of \(model.config.contextLength) tokens",
        location: run.layout.spec, hint: "raise model.context or lower tasks.difficulty")
    }
    let schedule = LearningRateSchedule(
      peakLearningRate: p.learningRate, warmupSteps: min(p.warmup, p.steps), totalSteps: max(1, p.steps),
      finalFraction: 0.1)
    var optimizer = try AdamW(config: AdamWConfig(weightDecay: 0.01), layout: model.layout)
    let ownMistakesAt = p.steps * 2 / 3
    let progress = ProgressLine(
      label: "pretrain", total: p.steps, unit: "steps", plainEvery: max(1, p.steps / 20))
    var trained = 0
    var lastLoss = 0.0
    for step in 0..<p.steps {
      if step == ownMistakesAt && p.revisionFraction > 0 {
        revisions += try ownMistakes(model: model, corpus: corpus, builder: builder, seed: rng.next()).filter(
          fits)
      }
      // Whole batches are direct or revision examples, so short direct examples are not padded
      // to the length of revision contexts.
      let useRevision = !revisions.isEmpty && rng.nextUnitDouble() < p.revisionFraction
      let pool = useRevision ? revisions : direct
      var batch = (0..<p.batch).map { _ in pool[rng.nextInt(below: pool.count)] }
      let terms = batch.reduce(0) { $0 + $1.terms.count }
      for b in batch.indices {
        for t in batch[b].terms.indices { batch[b].terms[t].weight = 1 / Float(max(1, terms)) }
      }
      model.zeroGradients()
      let report = try model.lossAndGradients(batch)
      _ = GradientClipping.clip(&model.gradients, maxNorm: 1)
      try optimizer.update(
        parameters: &model.parameters, gradients: model.gradients,
        learningRate: schedule.learningRate(atStep: step))
      trained += terms
      lastLoss = report.loss
      progress.advance(records: batch.count, note: String(format: "loss %.3f", report.loss))
    }
    try store.save(model, round: 0)
    var event = MetricsEvent(stage: "pretrain", round: 0, worker: run.worker.index)
    event.trainingTokens = trained
    event.records = direct.count + revisions.count
    event.wallSeconds = Date().timeIntervalSince(started)
    event.values = ["final_loss": lastLoss, "parameters": Double(model.layout.totalCount)]
    try run.record(event)
  }

  /// Revision examples from the model's own failed attempts at corpus tasks (temperature 1).
  func ownMistakes(model: Transformer, corpus: [TaskRecord], builder: ContextBuilder, seed: UInt64) throws
    -> [TrainingSequence]
  {
    let sample = Array(corpus.prefix(512))
    let settings = SamplingSettings(temperature: 1, maxNewTokens: run.spec.rollout.maxTokens)
    let seeds = sample.indices.map { SeedDerivation.derive(seed, [UInt64($0)]) }
    let generations = try Sampler.generate(
      model: model, prompts: sample.map { builder.student(task: $0.prompt) }, settings: settings, seeds: seeds
    )
    var examples: [TrainingSequence] = []
    for (task, generation) in zip(sample, generations) {
      let attempt = Tokenizer.decodeText(generation.tokens)
      if tasks.family.execute(task: task, attempt: attempt).passed { continue }
      examples.append(Self.revision(task: task, attempt: attempt, family: tasks.family, builder: builder))
    }
    return examples
  }
}
