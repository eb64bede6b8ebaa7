import HindcastModel

/// `route`: self-distillation only where it can help, the reward's gradient elsewhere (SRPO,
/// arXiv 2604.02288): a failed attempt gets sdpo's divergence terms (with the `[distill]`
/// divergence, positions and ratio clip, and this table's `vocabulary`); a passing attempt gets
/// grpo's policy-gradient terms (`passed = "grpo"`, advantage from its group) or rft's
/// cross-entropy (`passed = "rft"`), each term weighted `passed_weight` relative to a divergence
/// term.
public struct RouteObjective: DistillObjective {
  public static let options: [ObjectiveOptionDeclaration] = [
    .choice("passed", "grpo", of: ["grpo", "rft"], "objective of passing attempts"),
    .number(
      "passed_weight", 1, in: 0...1000, "term weight of passing attempts relative to a divergence term"),
    .choice(
      "vocabulary", "top-k", of: ["top-k", "full"], "teacher distribution of failed attempts (as sdpo's)"),
  ]

  public var failed: SdpoObjective
  public var passedGrpo: GrpoObjective?
  public var passedWeight: Float

  init(context: ObjectiveContext) throws {
    failed = try SdpoObjective(context: context)
    passedGrpo =
      context.options.text("passed") == "grpo"
      ? GrpoObjective(clip: Float(context.distill.grpoClip), attempts: "passed") : nil
    passedWeight = Float(context.options.number("passed_weight"))
  }

  public var name: String { "route" }
  public var needs: ObjectiveNeeds { failed.needs.union(passedGrpo?.needs ?? []) }
  public var usesTeacher: Bool { true }

  public func sequences(for view: RolloutView) throws -> [TrainingSequence] {
    var sequences: [TrainingSequence]
    if !view.feedback.passed {
      return try failed.sequences(for: view)
    } else if let passedGrpo {
      sequences = try passedGrpo.sequences(for: view)
    } else {
      sequences = try RftObjective().sequences(for: view)
    }
    for s in sequences.indices {
      for t in sequences[s].terms.indices { sequences[s].terms[t].weight *= passedWeight }
    }
    return sequences
  }
}
