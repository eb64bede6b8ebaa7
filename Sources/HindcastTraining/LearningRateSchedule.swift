import HindcastSupport

#if canImport(Glibc)
  import Glibc
#else
  import Foundation
#endif

/// Linear warm-up followed by cosine decay to a floor, over step indices `0..<totalSteps`
/// (index `s` is the learning rate of the `s+1`-th update):
///
///     s < warmup:   peak * (s + 1) / warmup
///     otherwise:    floor + (peak - floor) * (1 + cos(pi * progress)) / 2,
///                   progress = (s - warmup) / max(1, total - warmup - 1), clamped to [0, 1]
///
/// with `floor = peak * finalFraction`. The first decay step runs at the peak and the last one
/// (`total - 1`) at the floor; later steps stay at the floor.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
  /// The learning rate at the end of warm-up, in (0, 10].
  public var peakLearningRate: Double
  /// Steps of linear warm-up, at least 0.
  public var warmupSteps: Int
  /// Steps over which the schedule runs, at least 1.
  public var totalSteps: Int
  /// The floor as a fraction of the peak, in [0, 1].
  public var finalFraction: Double

  enum CodingKeys: String, CodingKey {
    case peakLearningRate = "peak_learning_rate"
    case warmupSteps = "warmup_steps"
    case totalSteps = "total_steps"
    case finalFraction = "final_fraction"
  }

  public init(peakLearningRate: Double, warmupSteps: Int, totalSteps: Int, finalFraction: Double) {
    self.peakLearningRate = peakLearningRate
    self.warmupSteps = warmupSteps
    self.totalSteps = totalSteps
    self.finalFraction = finalFraction
  }

  /// Rejects values outside the ranges above, naming the field; `source` is the error location.
  public func validate(source: String? = nil) throws {
    try requireField(
      peakLearningRate > 0 && peakLearningRate <= 10, "learning_rate", "in (0, 10]; got \(peakLearningRate)",
      source)
    try requireField(warmupSteps >= 0, "warmup_steps", "at least 0; got \(warmupSteps)", source)
    try requireField(totalSteps >= 1, "steps", "at least 1; got \(totalSteps)", source)
    try requireField(
      finalFraction >= 0 && finalFraction <= 1, "final_lr_fraction", "in [0, 1]; got \(finalFraction)", source
    )
  }

  /// The learning rate of the update with 0-based index `step`.
  public func learningRate(atStep step: Int) -> Float {
    let step = max(0, step)
    if step < warmupSteps {
      return Float(peakLearningRate * Double(step + 1) / Double(warmupSteps))
    }
    let floor = peakLearningRate * finalFraction
    let span = max(1, totalSteps - warmupSteps - 1)
    let progress = min(1, Double(step - warmupSteps) / Double(span))
    return Float(floor + (peakLearningRate - floor) * 0.5 * (1 + cos(Double.pi * progress)))
  }
}
