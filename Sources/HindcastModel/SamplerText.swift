import HindcastSupport

extension Tokenizer {
  /// Encodes text in which segment markers are written literally, e.g. `<task>12+7=<answer>`:
  /// each exact marker of `Special` (`<task>`, `<attempt>`, ..., `<end>`, `<pad>`) becomes its id,
  /// everything else its UTF-8 bytes. The inverse of `decode` for such text. Used for prompts typed
  /// by people (the `sample` command).
  public static func encodeMarked(_ text: String) -> [Int32] {
    let bytes = Array(text.utf8)
    let markers = Special.allCases.map { (Array($0.marker.utf8), $0.rawValue) }
    var tokens: [Int32] = []
    tokens.reserveCapacity(bytes.count)
    var i = 0
    outer: while i < bytes.count {
      if bytes[i] == UInt8(ascii: "<") {
        for (marker, id) in markers where bytes.count - i >= marker.count {
          if bytes[i..<(i + marker.count)].elementsEqual(marker) {
            tokens.append(id)
            i += marker.count
            continue outer
          }
        }
      }
      tokens.append(Int32(bytes[i]))
      i += 1
    }
    return tokens
  }
}

/// A text-level sampling request: what the `sample` command (and scripts) ask for.
public struct SampleRequest: Codable, Sendable, Equatable {
  /// Prompts as text with literal segment markers (see `Tokenizer.encodeMarked`).
  public var prompts: [String]
  public var settings: SamplingSettings
  /// Sample `j` of prompt `i` uses the seed `SeedDerivation.derive(seed, [i, j])`.
  public var seed: UInt64
  /// Continuations per prompt, >= 1.
  public var samplesPerPrompt: Int

  enum CodingKeys: String, CodingKey {
    case prompts, settings, seed
    case samplesPerPrompt = "samples_per_prompt"
  }

  public init(prompts: [String], settings: SamplingSettings, seed: UInt64, samplesPerPrompt: Int = 1) {
    self.prompts = prompts
    self.settings = settings
    self.seed = seed
    self.samplesPerPrompt = samplesPerPrompt
  }
}

/// One continuation of a `SampleRequest`.
public struct TextSample: Codable, Sendable, Equatable {
  public var promptIndex: Int
  public var sampleIndex: Int
  public var prompt: String
  /// The continuation rendered by `Tokenizer.decode`, without the stop token that ended it.
  public var text: String
  /// The generated tokens, including the stop token if one ended the sequence.
  public var tokens: [Int32]
  /// Untempered log-probabilities of `tokens` (see `Generation.logprobs`).
  public var logprobs: [Float]
  public var finish: FinishReason

  enum CodingKeys: String, CodingKey {
    case promptIndex = "prompt_index"
    case sampleIndex = "sample_index"
    case prompt, text, tokens, logprobs, finish
  }
}

extension Sampler {
  /// Samples `samplesPerPrompt` continuations of every prompt. Results are ordered by prompt, then
  /// sample, and each depends only on its own seed (see `SampleRequest.seed`).
  public static func sample(
    model: Transformer, request: SampleRequest, maxBatch: Int = defaultMaxBatch
  ) throws -> [TextSample] {
    guard request.samplesPerPrompt >= 1 else {
      throw HindcastError(
        .invalidConfig, "samples_per_prompt must be >= 1; got \(request.samplesPerPrompt)",
        hint: "ask for at least one sample per prompt")
    }
    guard !request.prompts.isEmpty else {
      throw HindcastError(.invalidInput, "no prompts given", hint: "pass at least one prompt")
    }
    var prompts: [[Int32]] = []
    var seeds: [UInt64] = []
    var origin: [(prompt: Int, sample: Int)] = []
    for (i, text) in request.prompts.enumerated() {
      let tokens = Tokenizer.encodeMarked(text)
      for j in 0..<request.samplesPerPrompt {
        prompts.append(tokens)
        seeds.append(SeedDerivation.derive(request.seed, [UInt64(i), UInt64(j)]))
        origin.append((i, j))
      }
    }
    let generations = try generate(
      model: model, prompts: prompts, settings: request.settings, seeds: seeds, maxBatch: maxBatch)
    return zip(origin, generations).map { origin, generation in
      var shown = generation.tokens
      if generation.finish == .stop { shown.removeLast() }
      return TextSample(
        promptIndex: origin.prompt, sampleIndex: origin.sample, prompt: request.prompts[origin.prompt],
        text: Tokenizer.decode(shown), tokens: generation.tokens, logprobs: generation.logprobs,
        finish: generation.finish)
    }
  }

  /// One continuation per prompt, as text (see `sample(model:request:)`).
  public static func sampleText(
    model: Transformer, prompts: [String], settings: SamplingSettings, seed: UInt64
  ) throws -> [String] {
    try sample(model: model, request: SampleRequest(prompts: prompts, settings: settings, seed: seed)).map(
      \.text)
  }
}
