import HindcastSupport

/// Measures the sampler's throughput on the real generation path (`Sampler.generate`, greedy, no
/// stop tokens, so every sequence produces exactly `newTokens`).
///
/// Each repetition times a prefill-only generation (prompts plus the first token) and a full one;
/// prefill is the median of the first, decode the difference of the medians, i.e. the
/// `newTokens - 1` incremental steps with their sampling. Uses the calling thread and however many
/// BLAS threads are set.
public enum DecodeBenchmark {
  public struct Result: Codable, Sendable, Equatable {
    public var batch: Int
    public var promptLength: Int
    public var newTokens: Int
    /// Median seconds to process the prompts and choose the first token.
    public var prefillSeconds: Double
    /// Seconds for the remaining `newTokens - 1` decode steps (difference of medians).
    public var decodeSeconds: Double
    /// `batch * promptLength / prefillSeconds`.
    public var prefillTokensPerSecond: Double
    /// `batch * (newTokens - 1) / decodeSeconds`: generated tokens per second in decoding.
    public var decodeTokensPerSecond: Double
    /// `decodeSeconds / (newTokens - 1)` in milliseconds.
    public var millisecondsPerStep: Double

    enum CodingKeys: String, CodingKey {
      case batch
      case promptLength = "prompt_length"
      case newTokens = "new_tokens"
      case prefillSeconds = "prefill_seconds"
      case decodeSeconds = "decode_seconds"
      case prefillTokensPerSecond = "prefill_tokens_per_second"
      case decodeTokensPerSecond = "decode_tokens_per_second"
      case millisecondsPerStep = "milliseconds_per_step"
    }
  }

  /// Runs `repetitions` (plus one warm-up) of `batch` random byte prompts of `promptLength`
  /// tokens each, generating `newTokens` (>= 2) per sequence. Throws if the sizes are invalid or
  /// `promptLength + newTokens` exceeds the context length.
  public static func run(
    model: Transformer, batch: Int, promptLength: Int, newTokens: Int, repetitions: Int = 3, seed: UInt64 = 0
  ) throws -> Result {
    guard batch >= 1, promptLength >= 1, newTokens >= 2, repetitions >= 1 else {
      throw HindcastError(
        .invalidConfig,
        "decode benchmark needs batch >= 1, prompt length >= 1, new tokens >= 2 and repetitions >= 1; got \(batch), \(promptLength), \(newTokens), \(repetitions)"
      )
    }
    guard promptLength + newTokens <= model.config.contextLength else {
      throw HindcastError(
        .invalidConfig,
        "prompt length \(promptLength) + new tokens \(newTokens) exceed the context length \(model.config.contextLength)"
      )
    }
    var rng = SeededRandom(seed: seed)
    let prompts = (0..<batch).map { _ in (0..<promptLength).map { _ in Int32(rng.nextInt(below: 256)) } }
    let seeds = (0..<batch).map { UInt64($0) }
    func seconds(_ tokens: Int) throws -> Double {
      let settings = SamplingSettings(temperature: 0, maxNewTokens: tokens, stopTokens: [])
      var failure: Error?
      let duration = ContinuousClock().measure {
        do {
          _ = try Sampler.generate(
            model: model, prompts: prompts, settings: settings, seeds: seeds, maxBatch: batch)
        } catch { failure = error }
      }
      if let failure { throw failure }
      let parts = duration.components
      return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
    _ = try seconds(newTokens)
    var prefill: [Double] = []
    var full: [Double] = []
    for _ in 0..<repetitions {
      prefill.append(try seconds(1))
      full.append(try seconds(newTokens))
    }
    let prefillSeconds = median(prefill)
    let decodeSeconds = max(median(full) - prefillSeconds, 1e-9)
    let steps = Double(newTokens - 1)
    return Result(
      batch: batch, promptLength: promptLength, newTokens: newTokens, prefillSeconds: prefillSeconds,
      decodeSeconds: decodeSeconds, prefillTokensPerSecond: Double(batch * promptLength) / prefillSeconds,
      decodeTokensPerSecond: Double(batch) * steps / decodeSeconds,
      millisecondsPerStep: decodeSeconds / steps * 1000)
  }

  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }
}
