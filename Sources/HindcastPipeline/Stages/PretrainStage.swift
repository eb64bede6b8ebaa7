import Foundation
import HindcastMemory
import HindcastModel
import HindcastSupport
import HindcastTasks
import HindcastTraining

/// Stage 0 (`pretrain`): trains the base policy from scratch on a corpus generated from the task
/// family, and saves it as the run's round-0 policy.
///
/// The corpus mixes direct examples (`<task>T<answer>SOLUTION<end>`) with revision examples
/// (`<task>T<attempt>FLAWED<feedback>F<critique>C<answer>SOLUTION<end>`), so the model learns to
/// use feedback in context. The loss covers only the solution tokens. Training is deterministic
/// from the run seed. `docs/base-policy.md` records the variants measured for this recipe.
///
/// - With learned positions (`model.position = "learned"`) contexts are answer-aligned
///   (`ContextBuilder.alignsAnswer`): the solution of a direct and of a revision example sits at
///   the same absolute positions, so the model learns the skill once and can use it behind
///   feedback. With rotary positions (`"rope"`) contexts are not padded. Either way examples of
///   both kinds mix within a batch, and a step costs only the batch's real tokens: sequences are
///   packed back to back without padding (`Transformer.lossAndGradients`).
/// - Packing (`pretrain.pack`, default off; measured worse): each training sequence concatenates
///   examples up to the model's context; `pretrain.batch` counts packed sequences then.
/// - Revisions start from the family's synthetic flaws. From `own_mistakes_from` (a fraction of
///   the steps) on, the model's own failed attempts (at `own_temperature`, default 1) at `own_mistakes_tasks` corpus
///   tasks become revision examples, refreshed every `own_mistakes_every` steps on fresh tasks
///   (FEASIBILITY.md: revisions from the policy's own mistakes make a stronger teacher); a
///   revision draw then takes an own mistake with probability `own_fraction`.
/// - Notes (`note_fraction`, default 0): a revision example shows, with this probability, the
///   strategy note the memory stage's proposer writes for the example's flaw, placed where the
///   rewrite stage puts retrieved notes. Without it the base policy has never seen a `<note>`
///   segment when the memory first offers one.
public struct PretrainStage {
  public let run: Run
  public let tasks: TaskSource

  /// A revision example (`RevisionCorpus`): the teacher context for a flawed attempt, then the
  /// canonical solution.
  static func revision(
    task: TaskRecord, attempt: String, family: any TaskFamily, builder: ContextBuilder,
    noteWriter: RuleBasedNoteProposer? = nil, weights: RevisionCorpus.Weights = .plain, critique: Bool = true
  ) -> TrainingSequence {
    RevisionCorpus.example(
      task: task, attempt: attempt, family: family, builder: builder, noteWriter: noteWriter,
      weights: weights,
      critique: critique)
  }

  /// The revision weights the spec asks for (`pretrain.revision_prefix_weight`, `revision_fix_weight`).
  var revisionWeights: RevisionCorpus.Weights {
    RevisionCorpus.Weights(
      prefix: Float(run.spec.pretrain.revisionPrefixWeight), fix: Float(run.spec.pretrain.revisionFixWeight))
  }

  /// The note writer for one revision example: the memory stage's proposer with probability
  /// `pretrain.note_fraction`, else nil. Draws from `rng` only when the fraction is positive, so
  /// runs without notes keep their earlier random streams.
  func noteWriter(rng: inout SeededRandom) -> RuleBasedNoteProposer? {
    let fraction = run.spec.pretrain.noteFraction
    guard fraction > 0, rng.nextUnitDouble() < fraction else { return nil }
    return RuleBasedNoteProposer(maxTokens: max(16, run.spec.rewrite.memoryBudgetTokens))
  }

  /// Concatenates examples from `draw` into one sequence of at most `length` tokens, shifting
  /// each example's loss terms to its place. The first example is always taken (callers keep
  /// every example within `length`); after that, up to `misses` drawn examples that do not fit
  /// are skipped before the pack is closed.
  static func pack(length: Int, misses: Int = 3, draw: () -> TrainingSequence) -> TrainingSequence {
    var tokens: [Int32] = []
    var terms: [TokenTerm] = []
    var missed = 0
    while missed <= misses {
      let example = draw()
      if !tokens.isEmpty && tokens.count + example.tokens.count > length {
        missed += 1
        continue
      }
      let offset = tokens.count
      tokens += example.tokens
      terms += example.terms.map { term in
        var shifted = term
        shifted.position += offset
        return shifted
      }
      if tokens.count >= length { break }
    }
    return TrainingSequence(tokens: tokens, terms: terms)
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
    // Each step's batch is split over `model.threads` cores (bit-identical for a fixed count).
    model.trainingThreads = spec.model.threads
    let contextLength = model.config.contextLength
    let builder = ContextBuilder(config: model.config, reserve: spec.rollout.maxTokens)
    let corpus = try tasks.pretraining(count: p.corpusTasks)
    let fits = { (s: TrainingSequence) in s.tokens.count <= contextLength }
    let direct = corpus.map {
      TrainingSequence.supervised(
        prompt: builder.student(task: $0.prompt), completion: ContextBuilder.completion($0.canonical))
    }.filter(fits)
    let synthetic = corpus.map { task in
      let attempt = family.flaw(solution: task.canonical, task: task, rng: &rng)
      return Self.revision(
        task: task, attempt: attempt, family: family, builder: builder, noteWriter: noteWriter(rng: &rng),
        weights: revisionWeights, critique: run.spec.rewrite.critique)
    }.filter(fits)
    guard !direct.isEmpty else {
      throw HindcastError(
        .invalidConfig,
        "no pretraining example fits the model's context of \(contextLength) tokens",
        location: run.layout.spec, hint: "raise model.context or lower tasks.difficulty")
    }
    var own: [TrainingSequence] = []
    let schedule = LearningRateSchedule(
      peakLearningRate: p.learningRate, warmupSteps: min(p.warmup, p.steps), totalSteps: max(1, p.steps),
      finalFraction: 0.1)
    var optimizer = try AdamW(config: AdamWConfig(weightDecay: 0.01), layout: model.layout)
    let ownFrom = Int((Double(p.steps) * p.ownMistakesFrom).rounded())
    let progress = ProgressLine(
      label: "pretrain", total: p.steps, unit: "steps", plainEvery: max(1, p.steps / 20),
      reporter: run.reporter)
    var trained = 0
    var lastLoss = 0.0
    var ownRefreshes = 0
    var ownSeconds = 0.0
    for step in 0..<p.steps {
      let refresh =
        step == ownFrom
        || (p.ownMistakesEvery > 0 && step > ownFrom && (step - ownFrom) % p.ownMistakesEvery == 0)
      if refresh && p.revisionFraction > 0 && p.ownFraction > 0 && p.ownMistakesTasks > 0 {
        let began = Date()
        let start = (ownRefreshes * p.ownMistakesTasks) % corpus.count
        let slice = (0..<min(p.ownMistakesTasks, corpus.count)).map { corpus[(start + $0) % corpus.count] }
        let fresh = try ownMistakes(model: model, tasks: slice, builder: builder, seed: rng.next()).filter(
          fits)
        if !fresh.isEmpty { own = fresh }
        ownRefreshes += 1
        ownSeconds += Date().timeIntervalSince(began)
      }
      func drawRevision() -> TrainingSequence? {
        if !own.isEmpty && (synthetic.isEmpty || rng.nextUnitDouble() < p.ownFraction) {
          return own[rng.nextInt(below: own.count)]
        }
        return synthetic.isEmpty ? nil : synthetic[rng.nextInt(below: synthetic.count)]
      }
      func drawExample() -> TrainingSequence {
        if rng.nextUnitDouble() < p.revisionFraction, let revision = drawRevision() { return revision }
        return direct[rng.nextInt(below: direct.count)]
      }
      var batch: [TrainingSequence]
      if p.pack {
        batch = (0..<p.batch).map { _ in Self.pack(length: contextLength, draw: drawExample) }
      } else {
        // Batches are packed without padding, so short direct and long revision examples mix
        // freely.
        batch = (0..<p.batch).map { _ in drawExample() }
      }
      let terms = batch.reduce(0) { $0 + $1.terms.count }
      // Each term's own weight (1, or a revision prefix's `revision_prefix_weight`) over the count.
      for b in batch.indices {
        for t in batch[b].terms.indices { batch[b].terms[t].weight *= 1 / Float(max(1, terms)) }
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
    event.records = direct.count + synthetic.count + own.count
    event.wallSeconds = Date().timeIntervalSince(started)
    event.values = [
      "final_loss": lastLoss, "parameters": Double(model.layout.totalCount),
      "own_mistakes_last": Double(own.count), "own_mistakes_seconds": ownSeconds,
    ]
    try run.record(event)
  }

  /// Revision examples from the model's own failed attempts at `tasks`, sampled at
  /// `pretrain.own_temperature` (0: greedy).
  func ownMistakes(model: Transformer, tasks sample: [TaskRecord], builder: ContextBuilder, seed: UInt64)
    throws -> [TrainingSequence]
  {
    let settings = SamplingSettings(
      temperature: Float(run.spec.pretrain.ownTemperature), maxNewTokens: run.spec.rollout.maxTokens)
    let seeds = sample.indices.map { SeedDerivation.derive(seed, [UInt64($0)]) }
    let generations = try Sampler.generate(
      model: model, prompts: sample.map { builder.student(task: $0.prompt) }, settings: settings, seeds: seeds
    )
    var examples: [TrainingSequence] = []
    var rng = SeededRandom(seed: SeedDerivation.derive(seed, [0x6E6F_7465]))
    for (task, generation) in zip(sample, generations) {
      let attempt = Tokenizer.decodeText(generation.tokens)
      if tasks.family.execute(task: task, attempt: attempt).passed { continue }
      examples.append(
        Self.revision(
          task: task, attempt: attempt, family: tasks.family, builder: builder,
          noteWriter: noteWriter(rng: &rng), weights: revisionWeights, critique: run.spec.rewrite.critique))
    }
    return examples
  }
}
