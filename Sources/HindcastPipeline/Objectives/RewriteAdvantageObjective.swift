import HindcastModel

/// `rewrite_advantage`: hindsight rewrites trained with an advantage (RLTF-SD, `lili-chen/rltf`):
/// every rewrite of the rollout that fits the student context gets cross-entropy terms weighted
/// `r(rewrite) - mean first-attempt reward of the group`, where `r` is 1 for a verified rewrite
/// and 0 otherwise. A rewrite better than the group's average is pulled up, a worse one (weight
/// below zero) pushed down; a zero advantage gives nothing. Tokens the round-start student finds
/// very unlikely (log-probability below `min_logprob`, natural log) are masked: they would
/// dominate the gradient and mostly carry the teacher's privileged information.
public struct RewriteAdvantageObjective: DistillObjective {
  public static let options: [ObjectiveOptionDeclaration] = [
    .number("min_logprob", -5, in: -1000...0, "mask rewrite tokens whose student log-prob is below this"),
    .flag("unverified", true, "also train on rewrites that failed verification (negative advantage)"),
  ]

  public var minLogprob: Float
  public var unverified: Bool

  init(context: ObjectiveContext) throws {
    minLogprob = Float(context.options.number("min_logprob"))
    unverified = context.options.flag("unverified")
  }

  public var name: String { "rewrite_advantage" }
  public var needs: ObjectiveNeeds { [.rewrites, .verifiedRewrites, .rewriteStudentLogprobs] }
  public var usesTeacher: Bool { true }

  public func sequences(for view: RolloutView) throws -> [TrainingSequence] {
    guard let rewrite = view.rewrite else { return [] }
    let baseline = view.groupMeanReward
    var sequences: [TrainingSequence] = []
    for (index, sample) in rewrite.hindsight.enumerated() {
      guard sample.verified || unverified, view.prompt.count + sample.tokens.count <= view.contextLength,
        let student = view.rewriteStudentLogprobs?[index], student.count == sample.tokens.count
      else { continue }
      let advantage = Float((sample.verified ? 1 : 0) - baseline)
      guard advantage != 0 else { continue }
      var sequence = TrainingSequence.supervised(
        prompt: view.prompt, completion: sample.tokens, weight: advantage)
      // `supervised` drops no terms for a non-empty prompt, so term i predicts token i.
      sequence.terms = zip(sequence.terms, student).filter { $0.1 >= minLogprob }.map(\.0)
      if !sequence.terms.isEmpty { sequences.append(sequence) }
    }
    return sequences
  }
}
