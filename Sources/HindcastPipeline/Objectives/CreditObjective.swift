import Foundation
import HindcastModel

/// `credit`: the teacher sizes per-token credit, the reward keeps the direction (RLSD, arXiv
/// 2604.03128). Every attempt with a group advantage `A` (as grpo) gets grpo's policy-gradient
/// terms, term `j` weighted
///
///     w_j = exp(clamp(sign(A) * (log t_j - log s_j), -log max_ratio, log max_ratio))
///
/// where `t_j` is the teacher's (feedback-conditioned) probability of the sampled token and `s_j`
/// the student's, both of the untransformed model distributions (the rollout's `logprobs`, not its
/// behaviour log-probs: the teacher scores at temperature 1, so the two must be compared alike).
/// The policy-gradient terms themselves use grpo's behaviour ratio. A failed attempt's blame goes
/// mostly to tokens the teacher finds less likely than the student did; a passing attempt's credit to tokens the teacher endorses. With
/// `normalize` the weights of one attempt are rescaled to mean 1, so an attempt's total update
/// stays grpo's and only its distribution over tokens changes. An attempt without teacher scores
/// gets weight 1 on every token (plain grpo).
public struct CreditObjective: DistillObjective {
  public static let options: [ObjectiveOptionDeclaration] = [
    .number("max_ratio", 2, in: 1...1000, "largest per-token weight (smallest: its inverse)"),
    .flag("normalize", true, "rescale an attempt's token weights to mean 1"),
  ]

  public var grpo: GrpoObjective
  public var maxRatio: Double
  public var normalize: Bool

  init(context: ObjectiveContext) throws {
    grpo = GrpoObjective(clip: Float(context.distill.grpoClip))
    maxRatio = context.options.number("max_ratio")
    normalize = context.options.flag("normalize")
  }

  public var name: String { "credit" }
  public var needs: ObjectiveNeeds { [.rewrites, .behaviourLogprobs] }
  public var usesTeacher: Bool { true }

  /// The per-token weights of an attempt with advantage `advantage`.
  public static func weights(
    teacher: [Float], student: [Float], advantage: Float, maxRatio: Double, normalize: Bool
  ) -> [Float] {
    let bound = log(maxRatio)
    let sign: Double = advantage >= 0 ? 1 : -1
    var weights = zip(teacher, student).map { t, s in
      exp(min(max(sign * (Double(t) - Double(s)), -bound), bound))
    }
    if normalize, !weights.isEmpty {
      let mean = weights.reduce(0, +) / Double(weights.count)
      weights = weights.map { $0 / mean }
    }
    return weights.map { Float($0) }
  }

  public func sequences(for view: RolloutView) throws -> [TrainingSequence] {
    guard let advantage = GroupAdvantage.of(view) else { return [] }
    var tokenWeights: [Float]?
    if let teacher = view.rewrite?.teacherLogprobs, teacher.count == view.rollout.tokens.count {
      tokenWeights = Self.weights(
        teacher: teacher, student: view.rollout.logprobs, advantage: advantage, maxRatio: maxRatio,
        normalize: normalize)
    }
    return [try grpo.sequence(view, advantage: advantage, tokenWeights: tokenWeights)]
  }
}
