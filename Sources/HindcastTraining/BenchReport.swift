import HindcastKernels
import HindcastModel
import HindcastSupport

/// What `hindcast bench` measures, in one run: GEMM throughput at the model's shapes (through
/// `Gemm.multiply` next to a direct `cblas_sgemm`), training throughput of whole optimizer steps
/// with their GEMM share, and KV-cache decode throughput at the requested batch sizes.
public struct BenchSettings: Codable, Sendable, Equatable {
  /// Preset name, for the report.
  public var modelName: String
  public var model: ModelConfig
  /// BLAS threads the run uses (set by the caller; recorded here).
  public var threads: Int
  /// Threads (batch shards) of a training step, `Transformer.trainingThreads`; `threads` unless
  /// `--train-threads` says otherwise.
  public var trainingThreads: Int
  /// Training batch: sequences per step and tokens predicted per sequence.
  public var batch: Int
  public var length: Int
  /// Timed training steps (after `warmupSteps`).
  public var steps: Int
  public var warmupSteps: Int
  /// Repetitions of each GEMM shape and each decode measurement (medians are reported).
  public var repeats: Int
  /// Minimum seconds of one timed batch of calls of a GEMM shape.
  public var gemmSeconds: Double
  /// Decode: batch sizes, prompt tokens and generated tokens per sequence.
  public var decodeBatches: [Int]
  public var promptLength: Int
  public var newTokens: Int
  /// Which parts to run.
  public var runGemm: Bool
  public var runTraining: Bool
  public var runDecode: Bool
  /// Whether training replays the step's GEMMs to measure their share (see `TrainingBenchmark`).
  public var replayGemm: Bool
  public var seed: UInt64

  enum CodingKeys: String, CodingKey {
    case modelName = "model_name"
    case model, threads, batch
    case trainingThreads = "training_threads"
    case length = "seq"
    case steps
    case warmupSteps = "warmup_steps"
    case repeats
    case gemmSeconds = "gemm_seconds"
    case decodeBatches = "decode_batches"
    case promptLength = "prompt_length"
    case newTokens = "new_tokens"
    case runGemm = "run_gemm"
    case runTraining = "run_training"
    case runDecode = "run_decode"
    case replayGemm = "replay_gemm"
    case seed
  }

  public init(
    modelName: String, model: ModelConfig, threads: Int, batch: Int = 16, length: Int = 256, steps: Int = 5,
    warmupSteps: Int = 1, repeats: Int = 5, gemmSeconds: Double = 0.05, decodeBatches: [Int] = [1, 32],
    promptLength: Int = 64, newTokens: Int = 128, runGemm: Bool = true, runTraining: Bool = true,
    runDecode: Bool = true, replayGemm: Bool = true, seed: UInt64 = 0, trainingThreads: Int? = nil
  ) {
    self.modelName = modelName
    self.model = model
    self.threads = threads
    self.trainingThreads = trainingThreads ?? threads
    self.batch = batch
    self.length = length
    self.steps = steps
    self.warmupSteps = warmupSteps
    self.repeats = repeats
    self.gemmSeconds = gemmSeconds
    self.decodeBatches = decodeBatches
    self.promptLength = promptLength
    self.newTokens = newTokens
    self.runGemm = runGemm
    self.runTraining = runTraining
    self.runDecode = runDecode
    self.replayGemm = replayGemm
    self.seed = seed
  }

  /// Rejects settings the benchmarks cannot run, naming the option.
  public func validate() throws {
    try model.validate()
    func require(_ ok: Bool, _ message: String) throws {
      if !ok { throw HindcastError(.invalidConfig, "bench: " + message) }
    }
    try require(threads >= 1, "--threads must be at least 1; got \(threads)")
    try require(trainingThreads >= 1, "--train-threads must be at least 1; got \(trainingThreads)")
    try require(batch >= 1, "--batch must be at least 1; got \(batch)")
    try require(
      (1...model.contextLength).contains(length),
      "--seq must be in 1...\(model.contextLength) (the model's context); got \(length)")
    try require(steps >= 1 && warmupSteps >= 0, "--steps must be at least 1 and --warmup at least 0")
    try require(repeats >= 1, "--repeats must be at least 1; got \(repeats)")
    try require(gemmSeconds > 0 && gemmSeconds <= 10, "--gemm-seconds must be in (0, 10]; got \(gemmSeconds)")
    try require(!decodeBatches.isEmpty && decodeBatches.allSatisfy { $0 >= 1 }, "decode batches must be >= 1")
    try require(
      promptLength >= 1 && newTokens >= 2 && promptLength + newTokens <= model.contextLength,
      "--prompt (>= 1) + --new-tokens (>= 2) must fit the context of \(model.contextLength); "
        + "got \(promptLength) + \(newTokens)")
  }
}

/// The results of one `hindcast bench` run; the JSON it writes.
public struct BenchReport: Codable, Sendable, Equatable {
  /// ISO 8601 time the run started (filled by the caller).
  public var date: String
  /// OpenBLAS build and detected core.
  public var blas: String
  public var parameters: Int
  public var settings: BenchSettings
  /// One entry per distinct product of a training step, in plan order.
  public var gemm: [GemmBenchmark.Result]
  public var training: TrainingBenchmark.Result?
  public var decode: [DecodeBenchmark.Result]

  /// Runs the parts `settings` selects, in the order GEMM, training, decode. `progress`
  /// receives one line per finished measurement. The caller sets the BLAS thread count first.
  public static func run(settings: BenchSettings, date: String, progress: (String) -> Void = { _ in }) throws
    -> BenchReport
  {
    try settings.validate()
    var report = BenchReport(
      date: date, blas: BLASThreads.libraryDescription, parameters: settings.model.parameterCount,
      settings: settings, gemm: [], training: nil, decode: [])
    if settings.runGemm {
      let plan = Transformer.trainingGemmPlan(
        config: settings.model, batch: settings.batch, length: settings.length)
      for shape in plan {
        let result = GemmBenchmark.measure(
          shape, repetitions: settings.repeats, minimumSeconds: settings.gemmSeconds)
        progress(
          "gemm \(shape.name) \(shape.label): \(Int(result.hindcastGflops.rounded())) GFLOP/s "
            + "(cblas \(Int(result.cblasGflops.rounded())))")
        report.gemm.append(result)
      }
    }
    if settings.runTraining {
      report.training = try TrainingBenchmark.run(
        config: settings.model, batch: settings.batch, length: settings.length, steps: settings.steps,
        warmupSteps: settings.warmupSteps, seed: settings.seed, threads: settings.trainingThreads,
        replayGemm: settings.replayGemm, progress: progress)
    }
    if settings.runDecode {
      let model = try Transformer(config: settings.model, seed: settings.seed)
      for batch in settings.decodeBatches {
        let result = try DecodeBenchmark.run(
          model: model, batch: batch, promptLength: settings.promptLength, newTokens: settings.newTokens,
          repetitions: settings.repeats, seed: settings.seed)
        progress(
          "decode batch \(batch): \(Int(result.decodeTokensPerSecond.rounded())) tok/s "
            + "(\(result.millisecondsPerStep) ms/step)")
        report.decode.append(result)
      }
    }
    return report
  }
}
