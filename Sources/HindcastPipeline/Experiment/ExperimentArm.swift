/// One arm of an experiment: a named recipe of pipeline-spec overrides applied on top of the
/// experiment's base spec. Every arm shares the base policy, tasks, model and budget; only the
/// learning signal differs. `docs/experiments.md` explains what each arm tests.
public enum ExperimentArm: String, CaseIterable, Codable, Sendable {
  /// Self-distillation from the frozen base teacher, divergence up to the first located error.
  case sdpo
  /// The textbook variant that collapsed in FEASIBILITY.md: round-start teacher, every position.
  case sdpoAllRoundStart = "sdpo-all-roundstart"
  /// sdpo with an EMA teacher that follows the student.
  case sdpoEMA = "sdpo-ema"
  /// Cross-entropy on verified hindsight rewrites only.
  case sft
  /// sdpo plus half-weight SFT on verified rewrites.
  case sdpoPlusSFT = "sdpo+sft"
  /// Scalar-reward baseline: group-normalized policy gradient on binary rewards.
  case grpo
  /// Scalar-reward baseline: fine-tuning on the policy's own passing samples.
  case rft
  /// sdpo plus half-weight GRPO.
  case sdpoPlusGRPO = "sdpo+grpo"
  /// sdpo without memory notes in the teacher's context.
  case sdpoNoMemory = "sdpo-nomemory"
  /// sdpo whose teacher only hears "wrong" (no location, no value).
  case sdpoBare = "sdpo-bare"
  /// sdpo whose teacher hears where the error is but not the correct value.
  case sdpoLocation = "sdpo-location"
  /// sdpo without the critique segment.
  case sdpoNoCritique = "sdpo-nocritique"
  /// sdpo without a passing sibling's solution.
  case sdpoNoSibling = "sdpo-nosibling"

  /// Whether the arm is a scalar-reward baseline (no language feedback reaches the learner).
  public var isBaseline: Bool { self == .grpo || self == .rft }

  /// Pipeline-spec keys this arm sets, as dotted keys with TOML values. Objective weights are
  /// always set in full so that the base spec's weights never leak into an arm.
  public var overrides: [String: TOMLDocument.Value] {
    func weights(sdpo: Double = 0, sft: Double = 0, grpo: Double = 0, rft: Double = 0) -> [String:
      TOMLDocument.Value]
    {
      [
        "distill.sdpo": .float(sdpo), "distill.sft": .float(sft), "distill.grpo": .float(grpo),
        "distill.rft": .float(rft),
      ]
    }
    // Every teacher-context segment is set in full, so an ablation changes exactly one of them.
    let feedbackArm: [String: TOMLDocument.Value] = [
      "distill.teacher": .string("base"), "distill.positions": .string("up-to-first-error"),
      "rewrite.feedback": .string("full"), "rewrite.critique": .bool(true),
      "rewrite.use_sibling": .bool(true),
      "rewrite.memory": .bool(true),
    ]
    var result: [String: TOMLDocument.Value]
    switch self {
    case .sdpo: result = feedbackArm.merging(weights(sdpo: 1)) { $1 }
    case .sdpoAllRoundStart:
      result = feedbackArm.merging(weights(sdpo: 1)) { $1 }
      result["distill.teacher"] = .string("round-start")
      result["distill.positions"] = .string("all")
    case .sdpoEMA:
      result = feedbackArm.merging(weights(sdpo: 1)) { $1 }
      result["distill.teacher"] = .string("ema")
    case .sft: result = feedbackArm.merging(weights(sft: 1)) { $1 }
    case .sdpoPlusSFT: result = feedbackArm.merging(weights(sdpo: 1, sft: 0.5)) { $1 }
    case .grpo: result = weights(grpo: 1)
    case .rft: result = weights(rft: 1)
    case .sdpoPlusGRPO: result = feedbackArm.merging(weights(sdpo: 1, grpo: 0.5)) { $1 }
    case .sdpoNoMemory:
      result = feedbackArm.merging(weights(sdpo: 1)) { $1 }
      result["rewrite.memory"] = .bool(false)
    case .sdpoBare:
      result = feedbackArm.merging(weights(sdpo: 1)) { $1 }
      result["rewrite.feedback"] = .string("bare")
    case .sdpoLocation:
      result = feedbackArm.merging(weights(sdpo: 1)) { $1 }
      result["rewrite.feedback"] = .string("location")
    case .sdpoNoCritique:
      result = feedbackArm.merging(weights(sdpo: 1)) { $1 }
      result["rewrite.critique"] = .bool(false)
    case .sdpoNoSibling:
      result = feedbackArm.merging(weights(sdpo: 1)) { $1 }
      result["rewrite.use_sibling"] = .bool(false)
    }
    return result
  }

  /// One line for the report: what the arm changes.
  public var summary: String {
    switch self {
    case .sdpo: return "self-distillation, frozen base teacher, up to the first error, full feedback"
    case .sdpoAllRoundStart:
      return "self-distillation, round-start teacher, every position (textbook variant)"
    case .sdpoEMA: return "self-distillation, EMA teacher, up to the first error"
    case .sft: return "SFT on verified hindsight rewrites"
    case .sdpoPlusSFT: return "sdpo + 0.5 × SFT on verified rewrites"
    case .grpo: return "GRPO on binary execution reward (baseline)"
    case .rft: return "rejection-sampling fine-tuning on passing samples (baseline)"
    case .sdpoPlusGRPO: return "sdpo + 0.5 × GRPO"
    case .sdpoNoMemory: return "sdpo without memory notes in the teacher's context"
    case .sdpoBare: return "sdpo, teacher told only \"wrong\""
    case .sdpoLocation: return "sdpo, teacher told where the error is but not the value"
    case .sdpoNoCritique: return "sdpo without the critique segment"
    case .sdpoNoSibling: return "sdpo without a passing sibling's solution"
    }
  }
}
