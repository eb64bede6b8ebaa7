import Foundation
import HindcastKernels
import HindcastSupport

/// Batched generation at the pipeline's shapes (issue 13 point 6): hundreds of sequences with
/// prompts of mixed lengths, temperature-1 sampling with per-token log-probs, through the real
/// `Sampler.generate` (continuous batching in `slots` KV-cache slots).
///
/// The workload is fixed by its settings and seed: prompt `i` has a length drawn uniformly from
/// `promptLengths` and random byte tokens; every sequence generates exactly `newTokens` (no stop
/// tokens; `promptLengths.upperBound + newTokens` must fit the context). Work counted: FLOPs of
/// the matrix products the model needs for the tokens it processes (as `hindcast bench
/// --pipeline`): per fed token `2 (4 C^2 + 2 C H) L` for the projections and `4 C L (t + 1)` for
/// attention at position t, plus `2 C V` per logits row (the last prompt token and every fed new
/// token).
public enum GenerationWorkload {
  public struct Settings: Codable, Sendable, Equatable {
    public var sequences: Int
    public var promptLengths: ClosedRange<Int>
    public var newTokens: Int
    public var temperature: Float
    public var slots: Int
    public var repeats: Int
    public var seed: UInt64

    public init(
      sequences: Int = 512, promptLengths: ClosedRange<Int> = 15...200, newTokens: Int = 56,
      temperature: Float = 1, slots: Int = Sampler.defaultMaxBatch, repeats: Int = 3, seed: UInt64 = 1
    ) {
      self.sequences = sequences
      self.promptLengths = promptLengths
      self.newTokens = newTokens
      self.temperature = temperature
      self.slots = slots
      self.repeats = repeats
      self.seed = seed
    }
  }

  public struct Result: Codable, Sendable, Equatable {
    public var settings: Settings
    /// Every run's wall seconds (the first, a warm-up, excluded).
    public var seconds: [Double]
    /// Median of `seconds`.
    public var medianSeconds: Double
    /// Every run's process CPU seconds (all threads, spinning included), same runs as `seconds`.
    public var cpuSeconds: [Double]
    /// Tokens generated per run (`sequences * newTokens`).
    public var generatedTokens: Int
    /// Prompt tokens per run.
    public var promptTokens: Int
    /// FLOPs per run (see the type's documentation).
    public var flops: Double
    /// Generated tokens per second at the median.
    public var tokensPerSecond: Double
    /// GFLOP/s at the median.
    public var gflops: Double { medianSeconds > 0 ? flops / medianSeconds / 1e9 : 0 }
    /// Mean log-prob of the sampled tokens (a check that both sides sample a comparable model).
    public var meanLogprob: Double
    /// The prompt lengths of the workload, in order (so another implementation can run it).
    public var promptLengthList: [Int]
  }

  /// The prompts of the workload: deterministic in `settings.seed`.
  public static func prompts(_ settings: Settings) -> [[Int32]] {
    var rng = SeededRandom(seed: settings.seed)
    let span = settings.promptLengths.count
    return (0..<settings.sequences).map { _ in
      let length = settings.promptLengths.lowerBound + rng.nextInt(below: span)
      return (0..<length).map { _ in Int32(rng.nextInt(below: 256)) }
    }
  }

  /// Forward FLOPs of feeding `fed` tokens of one sequence with `logitRows` logits rows.
  public static func flops(config: ModelConfig, fed: Int, logitRows: Int) -> Double {
    let c = Double(config.width)
    let h = Double(config.hiddenWidth)
    let l = Double(config.layers)
    let t = Double(fed)
    return 2 * (4 * c * c + 2 * c * h) * l * t + 4 * c * l * t * (t + 1) / 2 + 2 * c
      * Double(config.vocabSize) * Double(logitRows)
  }

  /// Runs the workload `settings.repeats` times after one warm-up run on `model`.
  public static func run(model: Transformer, settings: Settings) throws -> Result {
    let config = model.config
    guard settings.sequences >= 1, settings.promptLengths.lowerBound >= 1, settings.newTokens >= 1,
      settings.repeats >= 1, settings.slots >= 1
    else {
      throw HindcastError(
        .invalidConfig,
        "the generation workload needs at least 1 sequence, prompt token, new token, repeat and slot; got \(settings.sequences), \(settings.promptLengths.lowerBound), \(settings.newTokens), \(settings.repeats), \(settings.slots)"
      )
    }
    guard settings.promptLengths.upperBound + settings.newTokens <= config.contextLength else {
      throw HindcastError(
        .invalidConfig,
        "prompts of up to \(settings.promptLengths.upperBound) tokens plus \(settings.newTokens) new tokens exceed the context length \(config.contextLength)"
      )
    }
    let prompts = Self.prompts(settings)
    let seeds = prompts.indices.map { SeedDerivation.derive(settings.seed, [UInt64($0)]) }
    let sampling = SamplingSettings(
      temperature: settings.temperature, maxNewTokens: settings.newTokens, stopTokens: [])
    var seconds: [Double] = []
    var cpuSeconds: [Double] = []
    var generations: [Generation] = []
    for run in 0...settings.repeats {
      let start = DispatchTime.now().uptimeNanoseconds
      let cpuStart = GemmBenchmark.processCPUSeconds()
      generations = try Sampler.generate(
        model: model, prompts: prompts, settings: sampling, seeds: seeds, maxBatch: settings.slots)
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      let cpu = GemmBenchmark.processCPUSeconds() - cpuStart
      if run > 0 {
        seconds.append(elapsed)
        cpuSeconds.append(cpu)
      }
    }
    var flops = 0.0
    var generated = 0
    var logprobSum = 0.0
    for (prompt, generation) in zip(prompts, generations) {
      let new = generation.tokens.count
      generated += new
      flops += Self.flops(config: config, fed: prompt.count + max(0, new - 1), logitRows: max(1, new))
      logprobSum += generation.logprobs.reduce(0.0) { $0 + Double($1) }
    }
    let median = DecodeBenchmark.median(seconds)
    return Result(
      settings: settings, seconds: seconds, medianSeconds: median, cpuSeconds: cpuSeconds,
      generatedTokens: generated,
      promptTokens: prompts.reduce(0) { $0 + $1.count }, flops: flops,
      tokensPerSecond: Double(generated) / max(median, 1e-9),
      meanLogprob: generated > 0 ? logprobSum / Double(generated) : 0, promptLengthList: prompts.map(\.count))
  }
}
