import HindcastKernels
import HindcastModel
import HindcastSupport

/// Measures training throughput of the embedded transformer: full optimizer steps (forward,
/// backward, gradient clipping, AdamW) on random byte sequences, and the share of a step spent in
/// matrix products.
///
/// GEMM share, measured two ways:
/// - in situ: each timed step runs inside a `GemmTimer` scope, which times every
///   `Gemm.multiply` call of the step (the headline `gemmFraction`). A step sharded over T
///   threads (`Transformer.trainingThreads`) times each shard's products on its own thread
///   (`Transformer.shardGemmTimers`); calls and FLOPs are summed over the shards and the GEMM
///   seconds are the mean over the T threads, so the share is the fraction of each busy core's
///   step time spent in products;
/// - replayed: the products one step issues (`Transformer.trainingGemmPlan`) run back to back
///   through `Gemm.multiply` on scratch buffers of the same shapes, strides and counts, between the
///   timed steps. Without the element-wise work in between, caches are warm and the OpenBLAS
///   threads never go idle, so this is the GEMM time of a step under ideal conditions.
/// Uses the calling thread and however many BLAS threads are set, plus `threads - 1` shard
/// threads when `threads > 1`. The replay always runs the whole batch's products on the calling
/// thread with the BLAS threads that are set (the unsharded step's GEMM time).
public enum TrainingBenchmark {
  public struct Result: Codable, Sendable, Equatable {
    public var batch: Int
    public var length: Int
    /// Timed steps (after the warm-up steps).
    public var steps: Int
    /// Threads (batch shards) of each step, `Transformer.trainingThreads`.
    public var threads: Int
    /// `batch * length / stepSeconds`: predicted tokens per second of whole optimizer steps.
    public var tokensPerSecond: Double
    /// Median seconds of one whole step.
    public var stepSeconds: Double
    /// Median seconds of the forward and backward pass with the loss (`lossAndGradients`).
    public var forwardBackwardSeconds: Double
    /// Median seconds of clipping and the AdamW update (step minus forward/backward).
    public var optimizerSeconds: Double
    /// Median seconds per step inside `Gemm.multiply`, timed in the step (`GemmTimer`); with
    /// sharded steps the mean over the shard threads.
    public var gemmSeconds: Double
    /// `gemmSeconds / stepSeconds`.
    public var gemmFraction: Double
    /// Matrix products per step, counted in the step (all shards).
    public var gemmCalls: Int
    /// Median seconds of one replay of the step's products (0 when not replayed).
    public var replayGemmSeconds: Double
    /// `replayGemmSeconds / stepSeconds`.
    public var replayGemmFraction: Double
    /// Floating-point operations of the step's matrix products, counted in the step (attention
    /// over the causal query blocks, as computed).
    public var gemmFlopsPerStep: Double
    /// `gemmFlopsPerStep / stepSeconds / 1e9`: the achieved matrix-product rate of whole steps.
    public var effectiveGflops: Double
    /// `ModelConfig.trainingFlopsPerToken * batch * length / stepSeconds / 1e9`, the model-FLOP
    /// rate usually quoted (causal attention counted once).
    public var modelGflops: Double
    /// Mean loss of the last timed step (about ln(256) = 5.5 for a fresh model).
    public var lastLoss: Float

    enum CodingKeys: String, CodingKey {
      case batch
      case length = "seq"
      case steps, threads
      case tokensPerSecond = "tokens_per_second"
      case stepSeconds = "step_seconds"
      case forwardBackwardSeconds = "forward_backward_seconds"
      case optimizerSeconds = "optimizer_seconds"
      case gemmSeconds = "gemm_seconds"
      case gemmFraction = "gemm_fraction"
      case gemmCalls = "gemm_calls"
      case replayGemmSeconds = "replay_gemm_seconds"
      case replayGemmFraction = "replay_gemm_fraction"
      case gemmFlopsPerStep = "gemm_flops_per_step"
      case effectiveGflops = "effective_gflops"
      case modelGflops = "model_gflops"
      case lastLoss = "last_loss"
    }
  }

  /// Runs `warmupSteps` untimed and `steps` timed optimizer steps of a fresh model of `config`
  /// (seeded by `seed`) on fixed random batches of `batch` sequences predicting `length` tokens
  /// each, AdamW at a constant 1e-4 with clipping at norm 1. `length` must be in
  /// 1...contextLength. The model's steps run on `threads` threads (`trainingThreads`).
  /// `progress` receives a line after each timed step. Without `replayGemm` the replay figures
  /// are 0.
  public static func run(
    config: ModelConfig, batch: Int, length: Int, steps: Int, warmupSteps: Int = 1, seed: UInt64 = 0,
    threads: Int = 1, replayGemm: Bool = true, progress: (String) -> Void = { _ in }
  ) throws -> Result {
    guard batch >= 1, steps >= 1, warmupSteps >= 0, (1...config.contextLength).contains(length) else {
      throw HindcastError(
        .invalidConfig,
        "training benchmark needs batch >= 1, steps >= 1 and a length in 1...\(config.contextLength); "
          + "got batch \(batch), steps \(steps), length \(length)")
    }
    let model = try Transformer(config: config, seed: seed)
    model.trainingThreads = threads
    let schedule = LearningRateSchedule(
      peakLearningRate: 1e-4, warmupSteps: 0, totalSteps: warmupSteps + steps, finalFraction: 1)
    let trainer = try Trainer(model: model, optimizer: AdamWConfig(), schedule: schedule, clipNorm: 1)
    var rng = SeededRandom(seed: seed &+ 1)
    let batches = (0..<2).map { _ in
      (0..<batch).map { _ in (0...length).map { _ in Int32(rng.nextInt(below: 256)) } }
    }
    let plan = Transformer.trainingGemmPlan(config: config, batch: batch, length: length)
    let replay = replayGemm ? GemmBenchmark.Replay(plan) : nil
    for i in 0..<warmupSteps { _ = try trainer.step(batch: batches[i % 2]) }
    var stepTimes: [Double] = []
    var modelTimes: [Double] = []
    var gemmTimes: [Double] = []
    var replayTimes: [Double] = []
    let timer = GemmTimer()
    var lastLoss: Float = 0
    var totalCalls = 0
    var totalFlops = 0.0
    for i in 0..<steps {
      var modelSeconds = 0.0
      var result: StepResult?
      timer.reset()
      let stepSeconds = try GemmTimer.$current.withValue(timer) {
        try timed {
          result = try trainer.step {
            var loss: Float = 0
            modelSeconds = try timed { loss = try model.lossAndGradients(batch: batches[i % 2]) }
            return loss
          }
        }
      }
      stepTimes.append(stepSeconds)
      let shardTimers = model.shardGemmTimers
      totalCalls = timer.calls + shardTimers.reduce(0) { $0 + $1.calls }
      totalFlops = timer.flops + shardTimers.reduce(0.0) { $0 + $1.flops }
      gemmTimes.append(
        (timer.seconds + shardTimers.reduce(0.0) { $0 + $1.seconds }) / Double(1 + shardTimers.count))
      modelTimes.append(modelSeconds)
      lastLoss = result?.loss ?? 0
      if let replay { replayTimes.append(replay.seconds()) }
      progress(
        "train step \(i + 1)/\(steps): \(format(stepSeconds * 1000)) ms, "
          + "\(Int((Double(batch * length) / stepSeconds).rounded())) tok/s")
    }
    let step = GemmBenchmark.median(stepTimes)
    let forwardBackward = GemmBenchmark.median(modelTimes)
    let gemm = GemmBenchmark.median(gemmTimes)
    let replayed = GemmBenchmark.median(replayTimes)
    let flops = totalFlops
    let tokens = Double(batch * length)
    return Result(
      batch: batch, length: length, steps: steps, threads: model.trainingThreads,
      tokensPerSecond: tokens / step, stepSeconds: step,
      forwardBackwardSeconds: forwardBackward, optimizerSeconds: max(0, step - forwardBackward),
      gemmSeconds: gemm, gemmFraction: gemm / step, gemmCalls: totalCalls, replayGemmSeconds: replayed,
      replayGemmFraction: replayed / step, gemmFlopsPerStep: flops,
      effectiveGflops: flops / step / 1e9,
      modelGflops: config.trainingFlopsPerToken * tokens / step / 1e9, lastLoss: lastLoss)
  }

  private static func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let parts = (ContinuousClock.now - start).components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
  }

  private static func format(_ value: Double) -> String {
    let rounded = (value * 10).rounded() / 10
    return "\(rounded)"
  }
}
