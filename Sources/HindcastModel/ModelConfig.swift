import HindcastSupport

/// How the transformer encodes token positions.
public enum PositionEncoding: String, Codable, Sendable, CaseIterable {
  /// A learned absolute position embedding `wpe (T, C)` added to the token embedding (the
  /// original model; every checkpoint written before this field existed uses it).
  case learned
  /// Rotary position embeddings (RoPE) on each head's queries and keys: attention scores depend
  /// only on the distance between positions, so a prompt needs no padding to put its answer at a
  /// fixed position. No position parameters. See `Rotary`.
  case rope
}

/// The shape of the embedded decoder-only transformer. Codable with explicit keys so that
/// `config.json` next to a checkpoint is readable by people and by Python.
public struct ModelConfig: Codable, Sendable, Equatable {
  /// Number of token ids, including the tokenizer's special tokens.
  public var vocabSize: Int
  /// Maximum sequence length (positions in the learned position embedding).
  public var contextLength: Int
  /// Number of transformer blocks.
  public var layers: Int
  /// Model width (embedding size, C).
  public var width: Int
  /// Attention heads; `width` must be divisible by `heads`.
  public var heads: Int
  /// Hidden width of the MLP as a multiple of `width`.
  public var mlpMultiplier: Int
  /// The position encoding (`position_encoding` in `config.json`). A config without the key (every
  /// checkpoint written before it existed) decodes as `.learned`, which is what those models are.
  public var positionEncoding: PositionEncoding

  enum CodingKeys: String, CodingKey {
    case vocabSize = "vocab_size"
    case contextLength = "context_length"
    case layers
    case width
    case heads
    case mlpMultiplier = "mlp_multiplier"
    case positionEncoding = "position_encoding"
  }

  public init(
    vocabSize: Int = Tokenizer.vocabSize, contextLength: Int, layers: Int, width: Int, heads: Int,
    mlpMultiplier: Int = 4, positionEncoding: PositionEncoding = .learned
  ) {
    self.vocabSize = vocabSize
    self.contextLength = contextLength
    self.layers = layers
    self.width = width
    self.heads = heads
    self.mlpMultiplier = mlpMultiplier
    self.positionEncoding = positionEncoding
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    vocabSize = try c.decode(Int.self, forKey: .vocabSize)
    contextLength = try c.decode(Int.self, forKey: .contextLength)
    layers = try c.decode(Int.self, forKey: .layers)
    width = try c.decode(Int.self, forKey: .width)
    heads = try c.decode(Int.self, forKey: .heads)
    mlpMultiplier = try c.decode(Int.self, forKey: .mlpMultiplier)
    positionEncoding = try c.decodeIfPresent(PositionEncoding.self, forKey: .positionEncoding) ?? .learned
  }

  /// Width of one attention head.
  public var headWidth: Int { width / heads }
  /// Hidden width of the MLP.
  public var hiddenWidth: Int { width * mlpMultiplier }

  /// Rejects shapes the model cannot run, naming the field and the allowed range.
  /// `source` (a file path) is used as the error location when given.
  public func validate(source: String? = nil) throws {
    func require(_ ok: Bool, _ field: String, _ range: String) throws {
      if !ok {
        throw HindcastError(
          .invalidConfig, "model config field '\(field)' must be \(range)", location: source,
          hint: "fix '\(field)' in the model config")
      }
    }
    try require(
      (Tokenizer.vocabSize...1_048_576).contains(vocabSize), CodingKeys.vocabSize.rawValue,
      "in \(Tokenizer.vocabSize)...1048576 (the tokenizer needs \(Tokenizer.vocabSize) ids); got \(vocabSize)"
    )
    try require(
      (2...16_384).contains(contextLength), CodingKeys.contextLength.rawValue,
      "in 2...16384; got \(contextLength)")
    try require((1...128).contains(layers), "layers", "in 1...128; got \(layers)")
    try require((4...16_384).contains(width), "width", "in 4...16384; got \(width)")
    try require(
      (1...width).contains(heads) && width % heads == 0, "heads",
      "in 1...width and divide width (\(width)); got \(heads)")
    try require(
      (1...16).contains(mlpMultiplier), CodingKeys.mlpMultiplier.rawValue, "in 1...16; got \(mlpMultiplier)")
    if positionEncoding == .rope {
      try require(
        headWidth % 2 == 0, CodingKeys.heads.rawValue,
        "such that width / heads is even for rotary position embeddings; got head width \(headWidth)")
    }
  }

  /// Total number of trainable parameters (embeddings are tied, so counted once).
  public var parameterCount: Int { ParameterLayout(config: self).totalCount }

  /// Floating-point operations for one training token (forward and backward), the usual
  /// 6 x parameters (without the position table, a lookup) plus the attention term at the full
  /// context; used for GFLOP/s figures.
  public var trainingFlopsPerToken: Double {
    let attention = 6.0 * Double(layers * contextLength * width)
    let positionTable = positionEncoding == .learned ? contextLength * width : 0
    return 6.0 * Double(parameterCount - positionTable) + attention
  }
}

extension ModelConfig {
  /// About 0.2M parameters: unit tests and smoke runs.
  public static let tiny = ModelConfig(contextLength: 64, layers: 2, width: 64, heads: 4)
  /// About 0.6M parameters: the default policy for the quickstart pipeline.
  public static let small = ModelConfig(contextLength: 256, layers: 3, width: 128, heads: 4)
  /// About 3.3M parameters: the reference benchmark model of `../shared/bench/README.md`
  /// (width 256, 4 layers, 4 heads, context 256).
  public static let bench = ModelConfig(contextLength: 256, layers: 4, width: 256, heads: 4)

  /// Named presets accepted by `--model` options and specs.
  public static let presets: [String: ModelConfig] = ["tiny": .tiny, "small": .small, "bench": .bench]
}
