import HindcastSupport

/// How `Sampler.generate` chooses tokens. Codable with snake_case keys (`temperature`, `top_k`,
/// `top_p`, `max_new_tokens`, `stop_tokens`, `return_top_k`); missing keys take the defaults
/// below, unknown keys are rejected.
///
/// The sampling distribution at each step is: softmax(logits / temperature), restricted to the
/// `topK` most likely tokens, then to the smallest prefix (in descending probability, ties by
/// lower id) whose mass reaches `topP` of what remains, renormalized. Temperature 0 is greedy
/// decoding (the most likely token; ties go to the lower id) and ignores `topK` and `topP`.
public struct SamplingSettings: Codable, Sendable, Equatable {
  /// Softmax temperature: 0 means greedy, otherwise finite and >= 0.001. Default 1.
  public var temperature: Float
  /// Keep only the k most likely tokens (k >= 1); nil keeps all. Default nil.
  public var topK: Int?
  /// Nucleus sampling mass in (0, 1]; nil (or 1) keeps all. Default nil.
  public var topP: Float?
  /// Maximum tokens to generate per sequence, >= 1 (stop tokens count). Default 128.
  public var maxNewTokens: Int
  /// Generation of a sequence ends after it produces one of these ids (which is kept in its
  /// output). Default `[<end>]`; empty means only length and context end a sequence.
  public var stopTokens: [Int32]
  /// When set (1...vocabulary size), each position also returns this many most likely tokens
  /// with their untempered log-probabilities. Default nil.
  public var returnTopK: Int?

  public init(
    temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, maxNewTokens: Int = 128,
    stopTokens: [Int32] = [Tokenizer.Special.end.rawValue], returnTopK: Int? = nil
  ) {
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.maxNewTokens = maxNewTokens
    self.stopTokens = stopTokens
    self.returnTopK = returnTopK
  }

  /// Greedy decoding with the default stop token.
  public static func greedy(maxNewTokens: Int = 128) -> SamplingSettings {
    SamplingSettings(temperature: 0, maxNewTokens: maxNewTokens)
  }

  enum CodingKeys: String, CodingKey, CaseIterable {
    case temperature
    case topK = "top_k"
    case topP = "top_p"
    case maxNewTokens = "max_new_tokens"
    case stopTokens = "stop_tokens"
    case returnTopK = "return_top_k"
  }

  private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  public init(from decoder: Decoder) throws {
    let any = try decoder.container(keyedBy: AnyKey.self)
    for key in any.allKeys where CodingKeys(stringValue: key.stringValue) == nil {
      let known = CodingKeys.allCases.map(\.rawValue).joined(separator: ", ")
      throw DecodingError.dataCorrupted(
        DecodingError.Context(
          codingPath: decoder.codingPath + [key],
          debugDescription: "unknown sampling setting '\(key.stringValue)'; known settings: \(known)"))
    }
    let defaults = SamplingSettings()
    let container = try decoder.container(keyedBy: CodingKeys.self)
    temperature = try container.decodeIfPresent(Float.self, forKey: .temperature) ?? defaults.temperature
    topK = try container.decodeIfPresent(Int.self, forKey: .topK)
    topP = try container.decodeIfPresent(Float.self, forKey: .topP)
    maxNewTokens = try container.decodeIfPresent(Int.self, forKey: .maxNewTokens) ?? defaults.maxNewTokens
    stopTokens = try container.decodeIfPresent([Int32].self, forKey: .stopTokens) ?? defaults.stopTokens
    returnTopK = try container.decodeIfPresent(Int.self, forKey: .returnTopK)
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(temperature, forKey: .temperature)
    try container.encodeIfPresent(topK, forKey: .topK)
    try container.encodeIfPresent(topP, forKey: .topP)
    try container.encode(maxNewTokens, forKey: .maxNewTokens)
    try container.encode(stopTokens, forKey: .stopTokens)
    try container.encodeIfPresent(returnTopK, forKey: .returnTopK)
  }

  /// Whether the choice is the argmax (no random numbers are drawn).
  public var isGreedy: Bool { temperature == 0 }

  /// The map from the model's distribution to the one these settings draw from.
  public var transform: SamplingTransform { SamplingTransform(settings: self) }

  /// Rejects settings the sampler cannot use, naming the field (its JSON key) and the allowed
  /// range. `vocabSize` (the model's) bounds `stop_tokens` and `return_top_k`; `source` is used
  /// as the error location when given.
  public func validate(vocabSize: Int = Tokenizer.vocabSize, source: String? = nil) throws {
    func require(_ ok: Bool, _ key: CodingKeys, _ range: String) throws {
      if !ok {
        throw HindcastError(
          .invalidConfig, "sampling setting '\(key.rawValue)' must be \(range)", location: source,
          hint: "fix '\(key.rawValue)' in the sampling settings")
      }
    }
    try require(
      temperature == 0 || (temperature.isFinite && temperature >= 0.001), .temperature,
      "0 (greedy) or a finite value >= 0.001; got \(temperature)")
    if let topK {
      try require(topK >= 1, .topK, ">= 1 (or absent to keep every token); got \(topK)")
    }
    if let topP {
      try require(topP > 0 && topP <= 1, .topP, "in (0, 1] (or absent); got \(topP)")
    }
    try require(maxNewTokens >= 1, .maxNewTokens, ">= 1; got \(maxNewTokens)")
    if let bad = stopTokens.first(where: { $0 < 0 || Int($0) >= vocabSize }) {
      try require(false, .stopTokens, "token ids in 0..<\(vocabSize); got \(bad)")
    }
    if let returnTopK {
      try require(
        (1...vocabSize).contains(returnTopK), .returnTopK,
        "in 1...\(vocabSize) (or absent); got \(returnTopK)")
    }
  }
}

/// A token id with its log-probability (natural log).
public struct TokenLogprob: Codable, Sendable, Equatable {
  public var token: Int32
  public var logprob: Float
  public init(token: Int32, logprob: Float) {
    self.token = token
    self.logprob = logprob
  }
}

/// Why a generated sequence ended.
public enum FinishReason: String, Codable, Sendable {
  /// It produced one of the stop tokens (the last token of the output).
  case stop
  /// It produced `maxNewTokens` tokens.
  case length
  /// Prompt plus continuation filled the model's context length.
  case context
}

/// One generated continuation.
public struct Generation: Codable, Sendable, Equatable {
  /// The generated tokens (not the prompt), including the stop token if one ended the sequence.
  public var tokens: [Int32]
  /// Per token: its log-probability under the *untempered* model distribution,
  /// log softmax(logits)[token] (temperature 1, no top-k/top-p). They equal what `Scorer`
  /// returns for the same tokens (up to float rounding); they are the behaviour log-probabilities
  /// only when the settings' `transform` is the identity.
  public var logprobs: [Float]
  /// Per token: its log-probability under the distribution it was actually drawn from
  /// (`SamplingSettings.transform`: temperature, top-k and top-p applied and renormalized), the
  /// behaviour log-probabilities for importance ratios. 0 for greedy decoding, where the chosen
  /// token has probability 1.
  public var samplingLogprobs: [Float]
  /// Per token, when `returnTopK` was set: the most likely tokens at that position (descending,
  /// ties by lower id) with untempered log-probabilities.
  public var topK: [[TokenLogprob]]?
  public var finish: FinishReason

  public init(
    tokens: [Int32], logprobs: [Float], samplingLogprobs: [Float], topK: [[TokenLogprob]]?,
    finish: FinishReason
  ) {
    self.tokens = tokens
    self.logprobs = logprobs
    self.samplingLogprobs = samplingLogprobs
    self.topK = topK
    self.finish = finish
  }
}
