import HindcastSupport

/// The settings of a language-model training run: what is optimized and how. Stored in each
/// checkpoint's `state.json`, so a resumed run continues with exactly the same settings.
/// Codable with explicit keys; `validate` names the offending field and its allowed range.
public struct TrainingConfig: Codable, Sendable, Equatable {
  /// Optimizer updates in the whole run, at least 1.
  public var steps: Int
  /// Sequences per batch, in 1...65536.
  public var batchSize: Int
  /// Tokens each sequence predicts (the window holds one more), in 1...contextLength.
  public var sequenceLength: Int
  /// Peak learning rate, in (0, 10].
  public var learningRate: Double
  /// Steps of linear warm-up, at least 0.
  public var warmupSteps: Int
  /// The cosine decay ends at `learningRate * finalLearningRateFraction`, in [0, 1].
  public var finalLearningRateFraction: Double
  /// AdamW's betas, epsilon and weight decay.
  public var optimizer: AdamWConfig
  /// Maximum global gradient norm; 0 turns clipping off. In [0, 1e6].
  public var clipNorm: Float
  /// The run seed: model initialization and data order derive from it.
  public var seed: UInt64

  enum CodingKeys: String, CodingKey {
    case steps
    case batchSize = "batch_size"
    case sequenceLength = "sequence_length"
    case learningRate = "learning_rate"
    case warmupSteps = "warmup_steps"
    case finalLearningRateFraction = "final_lr_fraction"
    case optimizer
    case clipNorm = "clip_norm"
    case seed
  }

  public init(
    steps: Int = 1000, batchSize: Int = 16, sequenceLength: Int = 64, learningRate: Double = 1e-3,
    warmupSteps: Int = 50, finalLearningRateFraction: Double = 0.1, optimizer: AdamWConfig = AdamWConfig(),
    clipNorm: Float = 1.0, seed: UInt64 = 1
  ) {
    self.steps = steps
    self.batchSize = batchSize
    self.sequenceLength = sequenceLength
    self.learningRate = learningRate
    self.warmupSteps = warmupSteps
    self.finalLearningRateFraction = finalLearningRateFraction
    self.optimizer = optimizer
    self.clipNorm = clipNorm
    self.seed = seed
  }

  /// The learning-rate schedule these settings describe.
  public var schedule: LearningRateSchedule {
    LearningRateSchedule(
      peakLearningRate: learningRate, warmupSteps: warmupSteps, totalSteps: steps,
      finalFraction: finalLearningRateFraction)
  }

  /// Checks every field against its range and `sequenceLength` against the model's context.
  public func validate(contextLength: Int, source: String? = nil) throws {
    try requireField(steps >= 1 && steps <= 1_000_000_000, "steps", "in 1...1000000000; got \(steps)", source)
    try requireField(
      batchSize >= 1 && batchSize <= 65_536, "batch_size", "in 1...65536; got \(batchSize)", source)
    try requireField(
      sequenceLength >= 1 && sequenceLength <= contextLength, "sequence_length",
      "in 1...\(contextLength) (the model's context length); got \(sequenceLength)", source)
    try schedule.validate(source: source)
    try optimizer.validate(source: source)
    try requireField(
      clipNorm >= 0 && clipNorm <= 1e6, "clip_norm", "in [0, 1e6] (0 = off); got \(clipNorm)", source)
  }

  /// The fields of `other` that differ from these, as `name: self -> other` lines, ignoring
  /// `steps` (a resumed run may train further). Empty when a run may resume with `other`.
  public func differencesIgnoringSteps(from other: TrainingConfig) -> [String] {
    var differences: [String] = []
    func compare<T: Equatable>(_ name: String, _ a: T, _ b: T) {
      if a != b { differences.append("\(name): \(a) -> \(b)") }
    }
    compare("batch_size", batchSize, other.batchSize)
    compare("sequence_length", sequenceLength, other.sequenceLength)
    compare("learning_rate", learningRate, other.learningRate)
    compare("warmup_steps", warmupSteps, other.warmupSteps)
    compare("final_lr_fraction", finalLearningRateFraction, other.finalLearningRateFraction)
    compare("beta1", optimizer.beta1, other.optimizer.beta1)
    compare("beta2", optimizer.beta2, other.optimizer.beta2)
    compare("epsilon", optimizer.epsilon, other.optimizer.epsilon)
    compare("weight_decay", optimizer.weightDecay, other.optimizer.weightDecay)
    compare("clip_norm", clipNorm, other.clipNorm)
    compare("seed", seed, other.seed)
    return differences
  }
}
