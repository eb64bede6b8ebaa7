import Foundation
import HindcastModel
import HindcastSupport

/// Settings given on the command line; nil means "not given". A fresh run fills the gaps with
/// defaults; a resumed run fills them from its checkpoint and rejects given values that differ
/// from the saved ones (except `steps`, which may grow or shrink).
public struct TrainingOverrides: Sendable, Equatable {
  public var steps: Int?
  public var batchSize: Int?
  public var sequenceLength: Int?
  public var learningRate: Double?
  public var warmupSteps: Int?
  public var finalLearningRateFraction: Double?
  public var weightDecay: Float?
  public var clipNorm: Float?
  public var seed: UInt64?

  public init(
    steps: Int? = nil, batchSize: Int? = nil, sequenceLength: Int? = nil, learningRate: Double? = nil,
    warmupSteps: Int? = nil, finalLearningRateFraction: Double? = nil, weightDecay: Float? = nil,
    clipNorm: Float? = nil, seed: UInt64? = nil
  ) {
    self.steps = steps
    self.batchSize = batchSize
    self.sequenceLength = sequenceLength
    self.learningRate = learningRate
    self.warmupSteps = warmupSteps
    self.finalLearningRateFraction = finalLearningRateFraction
    self.weightDecay = weightDecay
    self.clipNorm = clipNorm
    self.seed = seed
  }

  /// `base` with every given field replaced.
  public func applied(to base: TrainingConfig) -> TrainingConfig {
    var config = base
    if let steps { config.steps = steps }
    if let batchSize { config.batchSize = batchSize }
    if let sequenceLength { config.sequenceLength = sequenceLength }
    if let learningRate { config.learningRate = learningRate }
    if let warmupSteps { config.warmupSteps = warmupSteps }
    if let finalLearningRateFraction { config.finalLearningRateFraction = finalLearningRateFraction }
    if let weightDecay { config.optimizer.weightDecay = weightDecay }
    if let clipNorm { config.clipNorm = clipNorm }
    if let seed { config.seed = seed }
    return config
  }

  /// The settings of a fresh run for a model with `contextLength`: these overrides on top of
  /// the defaults (sequence length = the context length, warm-up = 10% of the steps up to 100).
  public func freshConfig(contextLength: Int) -> TrainingConfig {
    var base = TrainingConfig()
    base.sequenceLength = contextLength
    let steps = self.steps ?? base.steps
    base.warmupSteps = min(100, max(0, steps / 10))
    return applied(to: base)
  }
}

/// What `LanguageModelTraining.run` is asked to do.
public struct LanguageModelTrainingRequest: Sendable {
  /// A JSON-lines corpus, `{"text": ...}` per line, plain or `.zst`.
  public var corpusPath: String
  /// The run directory; the checkpoint lives in `DIR/checkpoint`.
  public var outputDirectory: String
  /// The model shape; nil means the checkpoint's on resume and `defaultModel` when fresh.
  public var model: ModelConfig?
  public var overrides: TrainingOverrides
  /// Threads the model may use (passed to the model factory and recorded in the checkpoint).
  public var threads: Int
  /// Write a checkpoint every this many steps (0: only at the end); the last step always
  /// writes one.
  public var checkpointEvery: Int

  public init(
    corpusPath: String, outputDirectory: String, model: ModelConfig? = nil,
    overrides: TrainingOverrides = TrainingOverrides(), threads: Int = 1, checkpointEvery: Int = 100
  ) {
    self.corpusPath = corpusPath
    self.outputDirectory = outputDirectory
    self.model = model
    self.overrides = overrides
    self.threads = threads
    self.checkpointEvery = checkpointEvery
  }
}

/// Progress of a training run, reported after every step.
public struct TrainingProgress: Sendable {
  /// Steps completed (1-based after the first update).
  public let step: Int
  public let totalSteps: Int
  public let result: StepResult
  /// Predicted tokens per second over the steps of this process.
  public let tokensPerSecond: Double
  /// Estimated seconds until `totalSteps`, from this process's mean step time.
  public let etaSeconds: Double
}

/// What a training run reports while it runs. Libraries never print; the CLI renders these.
public enum TrainingEvent: Sendable {
  /// Training is about to start: from step 0, or resumed from `resumedFrom`.
  case started(resumedFrom: Int?, totalSteps: Int, parameterCount: Int, corpusTokens: Int, documents: Int)
  case step(TrainingProgress)
  case checkpointWritten(step: Int, path: String)
  /// Something the user should know, for example a changed thread count on resume.
  case note(String)
}

/// How a run ended.
public struct LanguageModelTrainingSummary: Sendable {
  /// Steps completed in total (including earlier runs).
  public let step: Int
  /// Steps run by this call (0 when the checkpoint had already reached the requested steps).
  public let stepsThisRun: Int
  /// Mean loss of the first and the last completed step (nil before any step).
  public let firstLoss: Float?
  public let lastLoss: Float?
  /// The checkpoint directory written (or found complete).
  public let checkpointPath: String
}

/// Language-model training on a corpus (`hindcast train-lm`): random windows of the token
/// stream, AdamW with warm-up and cosine decay, checkpoints every K steps and at the end, exact
/// resumption from `DIR/checkpoint`.
///
/// A run interrupted at any point and started again with the same request ends with the same
/// bytes as an uninterrupted one, given a deterministic model and the same thread count: the
/// checkpoint holds weights, moments, step, data-order RNG state and the settings.
public enum LanguageModelTraining {
  /// The model trained when none is given and there is no checkpoint.
  public static let defaultModel = ModelConfig.small

  /// Makes a freshly initialized model: `(config, initialization seed, threads)`.
  public typealias ModelFactory = (ModelConfig, UInt64, Int) throws -> GradientSource

  /// The checkpoint directory of a run directory.
  public static func checkpointPath(in outputDirectory: String) -> String {
    CheckpointIO.normalized(outputDirectory) + "/checkpoint"
  }

  /// Trains as `request` says, resuming from the run directory's checkpoint if there is one.
  /// Input problems (missing, empty or malformed corpus, invalid settings, a checkpoint that
  /// does not match the request) throw before anything is written.
  public static func run(
    _ request: LanguageModelTrainingRequest, makeModel: ModelFactory,
    progress: (TrainingEvent) -> Void = { _ in }
  ) throws -> LanguageModelTrainingSummary {
    guard request.threads >= 1 && request.threads <= 1024 else {
      throw HindcastError(.invalidConfig, "threads must be in 1...1024; got \(request.threads)")
    }
    guard request.checkpointEvery >= 0 else {
      throw HindcastError(
        .invalidConfig, "checkpoint interval must be at least 0; got \(request.checkpointEvery)")
    }
    let corpus = try TokenCorpus.load(request.corpusPath)
    let fingerprint = corpus.fingerprint
    let checkpointPath = checkpointPath(in: request.outputDirectory)
    try CheckpointIO.recoverInterruptedWrite(at: checkpointPath)

    let config: ModelConfig
    let training: TrainingConfig
    let model: GradientSource
    var random: SeededRandom
    var state: TrainingState
    var optimizerState: AdamWState?
    if FileManager.default.fileExists(atPath: checkpointPath) {
      let checkpoint = try CheckpointIO.read(checkpointPath)
      guard let saved = checkpoint.training else {
        throw HindcastError(
          .invalidInput, "the checkpoint holds weights only and cannot be resumed", location: checkpointPath,
          hint: "use another --out directory")
      }
      config = checkpoint.weights.config
      if let requested = request.model, requested != config {
        throw HindcastError(
          .invalidConfig, "the checkpoint was trained with a different model config",
          location: checkpointPath,
          hint: "drop --model/--config to continue it, or use another --out directory")
      }
      training = request.overrides.applied(to: saved.state.training)
      let differences = saved.state.training.differencesIgnoringSteps(from: training)
      guard differences.isEmpty else {
        throw HindcastError(
          .invalidConfig,
          "the checkpoint was trained with other settings (\(differences.joined(separator: "; ")))",
          location: checkpointPath,
          hint: "drop those options to continue the run, or use another --out directory")
      }
      if let savedFingerprint = saved.state.dataFingerprint, savedFingerprint != fingerprint {
        throw HindcastError(
          .invalidInput,
          "the corpus differs from the one the checkpoint was trained on (fingerprint \(fingerprint), "
            + "saved \(savedFingerprint))", location: request.corpusPath,
          hint: "resume with the same corpus, or use another --out directory")
      }
      try training.validate(contextLength: config.contextLength)
      try corpus.requireWindow(sequenceLength: training.sequenceLength)
      model = try makeModel(config, initializationSeed(training.seed), request.threads)
      model.parameters = checkpoint.weights.parameters
      random = saved.state.random
      state = saved.state
      state.training = training
      optimizerState = saved.optimizer
      if saved.state.threadCount != request.threads {
        progress(
          .note(
            "the checkpoint was written with \(saved.state.threadCount) threads and this run uses "
              + "\(request.threads); results may differ in the last bits from an uninterrupted run"))
        state.threadCount = request.threads
      }
      if state.step >= training.steps {
        return LanguageModelTrainingSummary(
          step: state.step, stepsThisRun: 0, firstLoss: state.losses.first, lastLoss: state.losses.last,
          checkpointPath: checkpointPath)
      }
    } else {
      config = request.model ?? defaultModel
      try config.validate()
      training = request.overrides.freshConfig(contextLength: config.contextLength)
      try training.validate(contextLength: config.contextLength)
      try corpus.requireWindow(sequenceLength: training.sequenceLength)
      model = try makeModel(config, initializationSeed(training.seed), request.threads)
      random = SeededRandom(seed: SeedDerivation.derive(training.seed, labels: ["train-lm", "data"]))
      state = TrainingState(
        step: 0, random: random, dataCursor: 0, tokensSeen: 0, training: training,
        threadCount: request.threads,
        dataFingerprint: fingerprint)
    }

    let trainer = try Trainer(
      model: model, optimizer: training.optimizer, schedule: training.schedule, clipNorm: training.clipNorm,
      state: optimizerState)
    let resumedFrom = state.step > 0 ? state.step : nil
    progress(
      .started(
        resumedFrom: resumedFrom, totalSteps: training.steps, parameterCount: model.parameters.count,
        corpusTokens: corpus.tokens.count, documents: corpus.documentCount))

    let clock = ContinuousClock()
    let startTime = clock.now
    let startStep = state.step
    let tokensPerStep = training.batchSize * training.sequenceLength
    while state.step < training.steps {
      let batch = try corpus.sampleBatch(
        batchSize: training.batchSize, sequenceLength: training.sequenceLength, random: &random)
      let result = try trainer.step(batch: batch)
      state.step += 1
      state.dataCursor += 1
      state.tokensSeen += tokensPerStep
      state.random = random
      state.losses.append(result.loss)

      let elapsed = seconds(clock.now - startTime)
      let stepsDone = state.step - startStep
      progress(
        .step(
          TrainingProgress(
            step: state.step, totalSteps: training.steps, result: result,
            tokensPerSecond: elapsed > 0 ? Double(stepsDone * tokensPerStep) / elapsed : 0,
            etaSeconds: elapsed / Double(stepsDone) * Double(training.steps - state.step))))

      let periodic = request.checkpointEvery > 0 && state.step % request.checkpointEvery == 0
      if periodic || state.step == training.steps {
        let weights = try ModelWeights(config: config, parameters: model.parameters)
        let snapshot = TrainingSnapshot(optimizer: trainer.optimizer.state, state: state)
        try CheckpointIO.write(Checkpoint(weights: weights, training: snapshot), to: checkpointPath)
        progress(.checkpointWritten(step: state.step, path: checkpointPath))
      }
    }
    return LanguageModelTrainingSummary(
      step: state.step, stepsThisRun: state.step - startStep, firstLoss: state.losses.first,
      lastLoss: state.losses.last, checkpointPath: checkpointPath)
  }

  /// The seed a run's model is initialized from.
  public static func initializationSeed(_ runSeed: UInt64) -> UInt64 {
    SeedDerivation.derive(runSeed, labels: ["train-lm", "init"])
  }

  static func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
  }
}
