import HindcastModel

/// `grpo`: the clipped policy gradient (PPO ratio clip `distill.grpo_clip`) on every token of the
/// attempt, with the group-normalized reward as advantage (`GroupAdvantage`). The ratio is that of
/// the distributions the current and the rollout policy sample from (`SamplingTransform`). Groups without a
/// reward spread give nothing. Option `attempts`: train on all attempts, or only the passing (or
/// failed) ones, which routing uses.
public struct GrpoObjective: DistillObjective {
  public static let options: [ObjectiveOptionDeclaration] = [
    .choice("attempts", "all", of: ["all", "passed", "failed"], "which attempts get a policy-gradient term")
  ]

  public var clip: Float
  public var attempts: String

  public init(clip: Float, attempts: String = "all") {
    self.clip = clip
    self.attempts = attempts
  }

  init(context: ObjectiveContext) throws {
    self.init(clip: Float(context.distill.grpoClip), attempts: context.options.text("attempts"))
  }

  public var name: String { "grpo" }
  public var needs: ObjectiveNeeds { .behaviourLogprobs }
  public var usesTeacher: Bool { false }

  public func sequences(for view: RolloutView) throws -> [TrainingSequence] {
    if attempts == "passed" && !view.feedback.passed { return [] }
    if attempts == "failed" && view.feedback.passed { return [] }
    guard let advantage = GroupAdvantage.of(view) else { return [] }
    return [try sequence(view, advantage: advantage, tokenWeights: nil)]
  }

  /// The policy-gradient sequence of the attempt with `advantage`, each term weighted by
  /// `tokenWeights[j]` (1 when nil). The ratio's old log-probs are the rollout's behaviour
  /// log-probs under the transform it was sampled with, which each term carries.
  func sequence(_ view: RolloutView, advantage: Float, tokenWeights: [Float]?) throws -> TrainingSequence {
    let rollout = view.rollout
    let behaviour = try rollout.requireBehaviour()
    let sampling = rollout.sampling
    let terms = rollout.tokens.indices.map { j in
      TokenTerm(
        position: view.position(ofAttemptToken: j), weight: tokenWeights?[j] ?? 1,
        kind: .policyGradient(
          target: rollout.tokens[j], advantage: advantage, oldLogprob: behaviour[j], clip: clip,
          sampling: sampling))
    }
    return TrainingSequence(tokens: view.attemptTokens, terms: terms)
  }
}
