import HindcastModel
import HindcastSupport

/// A model's configuration and its flat parameter buffer, laid out by
/// `ParameterLayout(config:)`. What inference needs; loadable from Hindcast- or Python-written
/// checkpoint directories (`CheckpointIO.readWeights`).
public struct ModelWeights: Sendable {
  public let config: ModelConfig
  /// Row-major float32 values of every layout entry, `ParameterLayout(config:).totalCount` long.
  public let parameters: [Float]

  /// Pairs a config with its parameters; throws `.shapeMismatch` if the count differs from the
  /// layout's and `.invalidConfig` if the config is invalid.
  public init(config: ModelConfig, parameters: [Float]) throws {
    try config.validate()
    let expected = ParameterLayout(config: config).totalCount
    guard parameters.count == expected else {
      throw HindcastError(
        .shapeMismatch, "the model config needs \(expected) parameters but \(parameters.count) were given")
    }
    self.config = config
    self.parameters = parameters
  }
}

/// The full state of a training run besides the weights: optimizer moments and everything a
/// resumed run needs to continue exactly where the saved one stopped.
public struct TrainingSnapshot: Sendable, Equatable {
  /// AdamW moments (same layout as the parameters) and update count.
  public var optimizer: AdamWState
  public var state: TrainingState

  public init(optimizer: AdamWState, state: TrainingState) {
    self.optimizer = optimizer
    self.state = state
  }
}

/// What `state.json` holds. Unknown to Python tools but plain JSON; UInt64 words are written as
/// 16-digit hex strings so no JSON reader loses precision.
public struct TrainingState: Codable, Sendable, Equatable {
  /// The format version this build writes; it reads this one and older ones.
  public static let currentFormatVersion = 1

  public var formatVersion: Int
  /// Optimizer updates completed.
  public var step: Int
  /// The data-order generator, positioned after the last completed step's batch.
  public var random: SeededRandom
  /// Batches drawn from the data so far.
  public var dataCursor: Int
  /// Training tokens (predicted positions) processed so far.
  public var tokensSeen: Int
  /// The run's settings; a resumed run must use the same ones (except `steps`).
  public var training: TrainingConfig
  /// Threads the run used; results are bit-exact only with the same count.
  public var threadCount: Int
  /// A content hash of the training data, or nil when not applicable.
  public var dataFingerprint: String?
  /// Mean loss of each completed step, in order (`losses.count == step` for `train-lm`).
  public var losses: [Float]
  /// Trainer-specific state (for example whether an EMA copy exists), kept verbatim.
  public var extra: [String: String]

  enum CodingKeys: String, CodingKey {
    case formatVersion = "format_version"
    case step
    case random = "random_state"
    case dataCursor = "data_cursor"
    case tokensSeen = "tokens_seen"
    case training
    case threadCount = "threads"
    case dataFingerprint = "data_fingerprint"
    case losses
    case extra
  }

  public init(
    step: Int, random: SeededRandom, dataCursor: Int, tokensSeen: Int, training: TrainingConfig,
    threadCount: Int, dataFingerprint: String? = nil, losses: [Float] = [], extra: [String: String] = [:]
  ) {
    self.formatVersion = Self.currentFormatVersion
    self.step = step
    self.random = random
    self.dataCursor = dataCursor
    self.tokensSeen = tokensSeen
    self.training = training
    self.threadCount = threadCount
    self.dataFingerprint = dataFingerprint
    self.losses = losses
    self.extra = extra
  }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    formatVersion = try container.decode(Int.self, forKey: .formatVersion)
    step = try container.decode(Int.self, forKey: .step)
    let words = try container.decode([String].self, forKey: .random)
    let parsed = words.compactMap { UInt64($0, radix: 16) }
    guard parsed.count == words.count, let random = SeededRandom(state: parsed) else {
      throw DecodingError.dataCorruptedError(
        forKey: .random, in: container, debugDescription: "expected 4 hex words, not all zero")
    }
    self.random = random
    dataCursor = try container.decode(Int.self, forKey: .dataCursor)
    tokensSeen = try container.decode(Int.self, forKey: .tokensSeen)
    training = try container.decode(TrainingConfig.self, forKey: .training)
    threadCount = try container.decode(Int.self, forKey: .threadCount)
    dataFingerprint = try container.decodeIfPresent(String.self, forKey: .dataFingerprint)
    losses = try container.decode([Float].self, forKey: .losses)
    extra = try container.decodeIfPresent([String: String].self, forKey: .extra) ?? [:]
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(formatVersion, forKey: .formatVersion)
    try container.encode(step, forKey: .step)
    try container.encode(random.state.map(StableHash.hex), forKey: .random)
    try container.encode(dataCursor, forKey: .dataCursor)
    try container.encode(tokensSeen, forKey: .tokensSeen)
    try container.encode(training, forKey: .training)
    try container.encode(threadCount, forKey: .threadCount)
    try container.encodeIfPresent(dataFingerprint, forKey: .dataFingerprint)
    try container.encode(losses, forKey: .losses)
    try container.encode(extra, forKey: .extra)
  }
}

/// A checkpoint: the weights, and for a resumable training run the optimizer and trainer state.
public struct Checkpoint: Sendable {
  public var weights: ModelWeights
  /// Nil for a weights-only checkpoint (for example a frozen policy for inference).
  public var training: TrainingSnapshot?

  public init(weights: ModelWeights, training: TrainingSnapshot? = nil) {
    self.weights = weights
    self.training = training
  }
}
