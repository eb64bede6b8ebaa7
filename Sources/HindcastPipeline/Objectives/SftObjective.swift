import HindcastModel

/// `sft`: cross-entropy on every verified hindsight rewrite of the rollout, in the student
/// context (hindsight SFT). Rewrites that do not fit the context are skipped.
public struct SftObjective: DistillObjective {
  public var name: String { "sft" }
  public var needs: ObjectiveNeeds { [.rewrites, .verifiedRewrites] }
  public var usesTeacher: Bool { true }

  public func sequences(for view: RolloutView) throws -> [TrainingSequence] {
    guard let rewrite = view.rewrite else { return [] }
    return rewrite.hindsight.compactMap { sample in
      guard sample.verified && view.prompt.count + sample.tokens.count <= view.contextLength else {
        return nil
      }
      return .supervised(prompt: view.prompt, completion: sample.tokens)
    }
  }
}
