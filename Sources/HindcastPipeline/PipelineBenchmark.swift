import Foundation
import HindcastKernels
import HindcastModel
import HindcastSupport
import HindcastTasks
import HindcastTraining

/// `hindcast bench --pipeline SPEC`: one round of a spec's real shapes, stage by stage, with the
/// floating-point work each stage needed, the rate it achieved, and the rate `cblas_sgemm` reaches
/// on the same machine, in the same run, at the matrix shapes that stage issues.
///
/// The round is built from the spec's own tasks and contexts (`ContextBuilder` for the model's
/// position encoding): rollout samples `train_per_round x samples_per_task` student attempts;
/// feedback executes and critiques them; teacher scoring re-scores every attempt under its
/// teacher context (top-k as the rewrite stage); rewrite sampling draws `rewrite.samples` hindsight
/// tries per failed attempt; distill runs `distill.steps` optimizer steps of `distill.batch`
/// sequences (teacher prompt-free student contexts with the attempt, cross-entropy on the attempt:
/// the shapes of the distill pool); evaluation samples `held_out x eval.samples` first attempts.
/// The policy is the given model (a checkpoint, so attempts and failures are realistic).
///
/// FLOPs count the matrix products the model needs for the tokens it processes: per token
/// `2 (4 C^2 + 2 C H) L` for the projections, `4 C L (t + 1)` for attention at position t, and
/// `2 C V` for each logits row computed; training counts 3x the forward pass. The sgemm reference
/// multiplies the stage's own linear shapes (rows = tokens of one forward call of the stage) with
/// `cblas_sgemm` directly and takes the FLOP-weighted rate.
///
/// Every rate is given twice: by wall clock (the stage's wall time; the sgemm's best batch) and per
/// second of process CPU time (all threads). On a shared, loaded machine the wall figures include
/// time spent descheduled; the CPU figures do not (but count spinning threads as busy), so their
/// ratio is the one to compare across sittings.
public struct PipelineBenchmark {
  /// One stage's measurement.
  public struct Stage: Codable, Sendable {
    public var name: String
    public var seconds: Double
    /// Process CPU seconds of the stage (all threads).
    public var cpuSeconds: Double
    /// Floating-point operations the stage's model work needs (0 for stages without a model).
    public var flops: Double
    /// Tokens the model processed (prompt and generated, or trained).
    public var tokens: Int
    /// Rows of one forward call used for the sgemm reference (0 without a model).
    public var gemmRows: Int
    /// `cblas_sgemm` GFLOP/s at the stage's linear shapes, best batch by wall clock, and per
    /// process CPU second (0 without a model).
    public var sgemmGflops: Double
    public var sgemmCPUGflops: Double

    public var gflops: Double { seconds > 0 ? flops / seconds / 1e9 : 0 }
    public var cpuGflops: Double { cpuSeconds > 0 ? flops / cpuSeconds / 1e9 : 0 }
    public var sgemmRatio: Double { sgemmGflops > 0 ? gflops / sgemmGflops : 0 }
    public var sgemmCPURatio: Double { sgemmCPUGflops > 0 ? cpuGflops / sgemmCPUGflops : 0 }
  }

  public let spec: PipelineSpec
  public let tasks: TaskSource
  public let model: Transformer

  public init(spec: PipelineSpec, model: Transformer) throws {
    self.spec = spec
    tasks = try TaskSource(spec: spec)
    self.model = model
  }

  /// Forward FLOPs of one sequence of `length` tokens whose logits are computed at `logitRows`.
  func forwardFlops(length: Int, logitRows: Int) -> Double {
    let c = Double(model.config.width)
    let h = Double(model.config.hiddenWidth)
    let l = Double(model.config.layers)
    let v = Double(model.config.vocabSize)
    let t = Double(length)
    let projections = 2 * (4 * c * c + 2 * c * h) * l * t
    let attention = 4 * c * l * t * (t + 1) / 2
    return projections + attention + 2 * c * v * Double(logitRows)
  }

  /// FLOPs of generating `generations` after `prompts` with a KV cache: the prompt once, each new
  /// token attending to its prefix, logits for the last prompt token and every fed new token.
  func generationFlops(prompts: [[Int32]], generations: [Generation]) -> (flops: Double, tokens: Int) {
    var flops = 0.0
    var tokens = 0
    for (prompt, generation) in zip(prompts, generations) {
      let fed = prompt.count + max(0, generation.tokens.count - 1)
      flops += forwardFlops(length: fed, logitRows: 1 + max(0, generation.tokens.count - 1))
      // The logits term above counts one row per fed new token (prefill logits only for the last row).
      tokens += fed
    }
    return (flops, tokens)
  }

  /// `cblas_sgemm` GFLOP/s over the four linear shapes of a forward call of `rows` rows, weighted
  /// by their FLOPs: by the best of `repeats` timed batches each, and per process CPU second.
  public static func sgemmRate(config: ModelConfig, rows: Int, repeats: Int = 5) -> (
    wall: Double, cpu: Double
  ) {
    let (c, h) = (config.width, config.hiddenWidth)
    typealias S = GemmBenchmark.Shape
    let shapes = [
      S(name: "qkv", .normal, .transposed, m: rows, n: 3 * c, k: c, callsPerStep: 1),
      S(name: "proj", .normal, .transposed, m: rows, n: c, k: c, callsPerStep: 1),
      S(name: "fc", .normal, .transposed, m: rows, n: h, k: c, callsPerStep: 1),
      S(name: "fcproj", .normal, .transposed, m: rows, n: c, k: h, callsPerStep: 1),
    ]
    var flops = 0.0
    var wall = 0.0
    var cpu = 0.0
    for shape in shapes {
      let rates = GemmBenchmark.cblasRates(shape, repetitions: repeats, minimumSeconds: 0.02)
      flops += shape.flops
      wall += shape.flops / (rates.bestWall * 1e9)
      cpu += shape.flops / (rates.perCPUSecond * 1e9)
    }
    return (wall > 0 ? flops / wall / 1e9 : 0, cpu > 0 ? flops / cpu / 1e9 : 0)
  }

  /// The result of `body`, its wall seconds and its process CPU seconds.
  static func time<R>(_ body: () throws -> R) rethrows -> (R, Double, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let cpu = GemmBenchmark.processCPUSeconds()
    let result = try body()
    return (
      result, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
      GemmBenchmark.processCPUSeconds() - cpu
    )
  }

  static func stage(
    _ name: String, _ seconds: Double, _ cpu: Double, flops: Double, tokens: Int, rows: Int,
    config: ModelConfig
  ) -> Stage {
    let rates = rows > 0 ? sgemmRate(config: config, rows: rows) : (wall: 0, cpu: 0)
    return Stage(
      name: name, seconds: seconds, cpuSeconds: cpu, flops: flops, tokens: tokens, gemmRows: rows,
      sgemmGflops: rates.wall, sgemmCPUGflops: rates.cpu)
  }

  /// Runs the round and returns its stages in pipeline order. `seed` drives every sample.
  public func run(seed: UInt64, progress: (String) -> Void = { _ in }) throws -> [Stage] {
    let family = tasks.family
    let builder = ContextBuilder(config: model.config, reserve: spec.rollout.maxTokens)
    let config = model.config
    let slots = Sampler.defaultMaxBatch
    var stages: [Stage] = []
    func generationStage(_ name: String, prompts: [[Int32]], settings: SamplingSettings, salt: UInt64) throws
      -> [Generation]
    {
      let seeds = prompts.indices.map { SeedDerivation.derive(seed, [salt, UInt64($0)]) }
      let (generations, seconds, cpu) = try Self.time {
        try Sampler.generate(model: model, prompts: prompts, settings: settings, seeds: seeds)
      }
      let (flops, tokens) = generationFlops(prompts: prompts, generations: generations)
      let rows = min(slots, prompts.count)
      stages.append(Self.stage(name, seconds, cpu, flops: flops, tokens: tokens, rows: rows, config: config))
      progress("\(name): \(prompts.count) sequences, \(tokens) tokens, \(String(format: "%.2f", seconds)) s")
      return generations
    }

    // Rollout.
    let train = try tasks.train(round: 0)
    let samples = spec.tasks.samplesPerTask
    let rolloutTasks = train.flatMap { task in [TaskRecord](repeating: task, count: samples) }
    let students = rolloutTasks.map { builder.student(task: $0.prompt) }
    let rolloutSettings = spec.rollout.settings
    let attempts = try generationStage("rollout", prompts: students, settings: rolloutSettings, salt: 1)

    // Feedback: execute and critique every attempt.
    let texts = attempts.map { Tokenizer.decodeText($0.tokens) }
    let (hindsights, feedbackSeconds, feedbackCPU) = Self.time {
      zip(rolloutTasks, texts).map { task, attempt -> (passed: Bool, hindsight: ContextBuilder.Hindsight) in
        let result = family.execute(task: task, attempt: attempt)
        let critique = family.critique(task: task, attempt: attempt, result: result)
        return (
          result.passed,
          ContextBuilder.Hindsight(
            attempt: attempt, feedback: result.feedbackText(level: .full), critique: critique.rendered)
        )
      }
    }
    stages.append(
      Self.stage("feedback", feedbackSeconds, feedbackCPU, flops: 0, tokens: 0, rows: 0, config: config))

    // Teacher scoring: every attempt under its teacher context, with top-k.
    let teachers = zip(rolloutTasks, hindsights).map { task, item in
      builder.teacher(task: task.prompt, hindsight: item.hindsight).tokens
    }
    let continuations = attempts.map { $0.tokens.isEmpty ? [Tokenizer.Special.end.rawValue] : $0.tokens }
    let fits = teachers.indices.filter {
      teachers[$0].count + continuations[$0].count <= config.contextLength
    }
    let (_, scoreSeconds, scoreCPU) = try Self.time {
      try Scorer.score(
        model: model, prompts: fits.map { teachers[$0] }, continuations: fits.map { continuations[$0] },
        topK: spec.rewrite.teacherTopK)
    }
    var scoreFlops = 0.0
    var scoreTokens = 0
    for i in fits {
      let length = teachers[i].count + continuations[i].count - 1
      scoreFlops += forwardFlops(length: length, logitRows: length)
      scoreTokens += length
    }
    let scoreRows = min(scoreTokens, Scorer.defaultMaxBatchTokens)
    stages.append(
      Self.stage(
        "teacher scoring", scoreSeconds, scoreCPU, flops: scoreFlops, tokens: scoreTokens, rows: scoreRows,
        config: config))
    progress("teacher scoring: \(fits.count) sequences, \(scoreTokens) tokens")

    // Rewrite sampling: hindsight tries for failed attempts.
    let failed = hindsights.indices.filter { !hindsights[$0].passed }
    let rewritePrompts = failed.flatMap { [[Int32]](repeating: teachers[$0], count: spec.rewrite.samples) }
    if !rewritePrompts.isEmpty {
      let settings = SamplingSettings(
        temperature: Float(spec.rewrite.temperature), maxNewTokens: spec.rollout.maxTokens)
      _ = try generationStage("rewrite sampling", prompts: rewritePrompts, settings: settings, salt: 2)
    }

    // Distill: optimizer steps on student contexts with the attempts (the pool's shapes).
    let pool = students.indices.compactMap { i -> TrainingSequence? in
      guard !attempts[i].tokens.isEmpty, students[i].count + attempts[i].tokens.count <= config.contextLength
      else { return nil }
      return .supervised(
        prompt: students[i], completion: attempts[i].tokens,
        weight: 1 / Float(max(1, attempts[i].tokens.count)))
    }
    if !pool.isEmpty {
      model.trainingThreads = spec.model.threads
      var optimizer = try AdamW(config: AdamWConfig(weightDecay: 0.01), layout: model.layout)
      let batch = min(spec.distill.batch, pool.count)
      var rng = SeededRandom(seed: SeedDerivation.derive(seed, [3]))
      var distillTokens = 0
      var distillFlops = 0.0
      let saved = model.parameters
      let (_, distillSeconds, distillCPU) = try Self.time {
        for _ in 0..<spec.distill.steps {
          let chosen = (0..<batch).map { _ in pool[rng.nextInt(below: pool.count)] }
          for sequence in chosen {
            distillTokens += sequence.tokens.count
            distillFlops += 3 * forwardFlops(length: sequence.tokens.count, logitRows: sequence.tokens.count)
          }
          model.zeroGradients()
          _ = try model.lossAndGradients(chosen)
          _ = GradientClipping.clip(&model.gradients, maxNorm: 1)
          try optimizer.update(
            parameters: &model.parameters, gradients: model.gradients,
            learningRate: Float(spec.distill.learningRate))
        }
      }
      model.parameters = saved
      let rows = distillTokens / max(1, spec.distill.steps) / max(1, spec.model.threads)
      stages.append(
        Self.stage(
          "distill", distillSeconds, distillCPU, flops: distillFlops, tokens: distillTokens, rows: rows,
          config: config))
      progress("distill: \(spec.distill.steps) steps, \(distillTokens) tokens")
    }

    // Evaluation: sampled first attempts on held-out tasks.
    let heldOut = try tasks.heldOut()
    let evalPrompts = heldOut.flatMap { task in
      [[Int32]](repeating: builder.student(task: task.prompt), count: spec.eval.samples)
    }
    let evalSettings = SamplingSettings(
      temperature: Float(spec.eval.temperature), maxNewTokens: spec.rollout.maxTokens)
    _ = try generationStage("evaluation", prompts: evalPrompts, settings: evalSettings, salt: 4)
    return stages
  }
}
