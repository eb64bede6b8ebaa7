import HindcastModel
import HindcastSupport

/// A model that can be trained: a flat parameter buffer laid out by
/// `ParameterLayout(config: config)`, a gradient buffer of the same layout, and a function that
/// computes the loss of a batch and its gradients.
///
/// Implementations own their scratch buffers and are not thread-safe; one trainer drives one
/// source. For bit-exact resumption the computation must be deterministic for a fixed thread
/// count.
public protocol GradientSource: AnyObject {
  /// The model's shape; fixes the parameter layout and the checkpoint's tensor names.
  var config: ModelConfig { get }
  /// `ParameterLayout(config: config).totalCount` values.
  var parameters: [Float] { get set }
  /// Same count as `parameters`; overwritten by each `lossAndGradients` call.
  var gradients: [Float] { get set }
  /// Overwrites `gradients` with the gradient of the mean next-token loss over `batch` and
  /// returns that loss. Each sequence holds `T + 1` tokens: position `t < T` predicts token
  /// `t + 1`. All sequences have the same length.
  func lossAndGradients(batch: [[Int32]]) throws -> Float
}

/// The outcome of one optimizer step.
public struct StepResult: Sendable, Equatable {
  /// Mean loss of the batch, before the update.
  public let loss: Float
  /// Global gradient norm before clipping.
  public let gradientNorm: Float
  /// The learning rate the update used.
  public let learningRate: Float
}

/// One optimizer step at a time: loss and gradients from the model, global-norm clipping, the
/// scheduled learning rate, AdamW. The schedule index is the optimizer's update count, so a
/// trainer rebuilt from a saved `AdamWState` continues the schedule where it stopped.
public final class Trainer {
  public let model: GradientSource
  public private(set) var optimizer: AdamW
  public let schedule: LearningRateSchedule
  /// Maximum global gradient norm; 0 disables clipping.
  public let clipNorm: Float

  /// A trainer for `model`; `state` restores saved moments and update count (zero otherwise).
  public init(
    model: GradientSource, optimizer config: AdamWConfig, schedule: LearningRateSchedule, clipNorm: Float,
    state: AdamWState? = nil
  ) throws {
    let layout = ParameterLayout(config: model.config)
    guard model.parameters.count == layout.totalCount, model.gradients.count == layout.totalCount else {
      throw HindcastError(
        .internalInvariant,
        "model has \(model.parameters.count) parameters and \(model.gradients.count) gradients; "
          + "its config needs \(layout.totalCount)")
    }
    self.model = model
    self.optimizer = try AdamW(config: config, layout: layout, state: state)
    self.schedule = schedule
    self.clipNorm = clipNorm
  }

  /// Updates completed so far.
  public var completedSteps: Int { optimizer.state.step }

  /// Computes the batch's loss and gradients, clips them, and applies one AdamW update. A
  /// non-finite loss or gradient norm throws `.invalidConfig` before the parameters change.
  public func step(batch: [[Int32]]) throws -> StepResult {
    try step { try model.lossAndGradients(batch: batch) }
  }

  /// One step with a custom objective: `lossAndGradients` must overwrite `model.gradients` with
  /// the gradient of the loss it returns (for example a distillation loss over
  /// `TrainingSequence`s). Clipping, the schedule and AdamW are applied as in `step(batch:)`.
  public func step(_ lossAndGradients: () throws -> Float) throws -> StepResult {
    let loss = try lossAndGradients()
    let norm = GradientClipping.clip(&model.gradients, maxNorm: clipNorm)
    guard loss.isFinite, norm.isFinite else {
      throw HindcastError(
        .invalidConfig,
        "training diverged at step \(completedSteps + 1): loss \(loss), gradient norm \(norm)",
        hint: "lower the learning rate or lengthen the warm-up; the last checkpoint is intact")
    }
    let learningRate = schedule.learningRate(atStep: optimizer.state.step)
    try optimizer.update(
      parameters: &model.parameters, gradients: model.gradients, learningRate: learningRate)
    return StepResult(loss: loss, gradientNorm: norm, learningRate: learningRate)
  }
}
