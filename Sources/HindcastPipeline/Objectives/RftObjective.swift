import HindcastModel

/// `rft`: cross-entropy on the policy's own attempt when it passed (rejection-sampling
/// fine-tuning).
public struct RftObjective: DistillObjective {
  public var name: String { "rft" }
  public var needs: ObjectiveNeeds { [] }
  public var usesTeacher: Bool { false }

  public func sequences(for view: RolloutView) throws -> [TrainingSequence] {
    guard view.feedback.passed else { return [] }
    return [.supervised(prompt: view.prompt, completion: view.rollout.tokens)]
  }
}
