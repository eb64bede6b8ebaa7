import HindcastModel

/// `sdpo`: per-token divergence (`distill.divergence`) between the student and the
/// feedback-conditioned teacher on the student's own attempt, each term multiplied by the
/// detached importance ratio clipped at `distill.ratio_clip`: the current policy's probability of
/// the token over the rollout's behaviour probability, both under the transform the rollout was
/// sampled with (`SamplingTransform`). The divergence itself compares the untransformed student
/// and teacher distributions.
///
/// Positions (`distill.positions`): `up-to-first-error` covers only failed attempts whose first
/// error the executor located, on the positions up to and including it (a passing attempt has
/// nothing to correct, and pretraining never showed the teacher "passed" feedback); `all` covers
/// every position of every attempt.
///
/// Option `vocabulary`: `top-k` uses the teacher's stored top-k log-probabilities plus a tail
/// bucket (`rewrite.teacher_top_k`); `full` uses the teacher's whole distribution over the
/// vocabulary, recomputed by the distill stage from the stored teacher context.
public struct SdpoObjective: DistillObjective {
  public static let options: [ObjectiveOptionDeclaration] = [
    .choice(
      "vocabulary", "top-k", of: ["top-k", "full"],
      "teacher distribution: stored top-k with a tail bucket, or the full vocabulary (re-scored)")
  ]

  public var divergence: DivergenceKind
  public var positions: PipelineSpec.PositionMask
  public var ratioClip: Float
  public var fullVocabulary: Bool

  public init(
    divergence: DivergenceKind, positions: PipelineSpec.PositionMask, ratioClip: Float,
    fullVocabulary: Bool = false
  ) {
    self.divergence = divergence
    self.positions = positions
    self.ratioClip = ratioClip
    self.fullVocabulary = fullVocabulary
  }

  init(context: ObjectiveContext) throws {
    let d = context.distill
    self.init(
      divergence: d.divergence == .forwardKL ? .forwardKL : d.divergence == .reverseKL ? .reverseKL : .jsd,
      positions: d.positions, ratioClip: Float(d.ratioClip),
      fullVocabulary: context.options.text("vocabulary") == "full")
  }

  public var name: String { "sdpo" }
  public var needs: ObjectiveNeeds {
    fullVocabulary ? [.rewrites, .fullTeacher, .behaviourLogprobs] : [.rewrites, .behaviourLogprobs]
  }
  public var usesTeacher: Bool { true }

  /// The last attempt token covered, or nil when the attempt gets no divergence.
  public func lastCovered(_ view: RolloutView) -> Int? {
    positions == .all
      ? view.rollout.tokens.count - 1 : (view.feedback.passed ? nil : view.feedback.firstErrorToken)
  }

  public func sequences(for view: RolloutView) throws -> [TrainingSequence] {
    guard let last = lastCovered(view), last < view.rollout.tokens.count, let rewrite = view.rewrite else {
      return []
    }
    let rollout = view.rollout
    let behaviour = try rollout.requireBehaviour()
    let sampling = rollout.sampling
    let teachers: [TeacherDistribution]
    if fullVocabulary {
      guard let full = view.fullTeacher, full.count == rollout.tokens.count else { return [] }
      teachers = (0...last).map { .full(logprobs: full[$0]) }
    } else {
      guard rewrite.teacherTopIds.count == rollout.tokens.count else { return [] }
      teachers = (0...last).map {
        .topK(ids: rewrite.teacherTopIds[$0], logprobs: rewrite.teacherTopLogprobs[$0])
      }
    }
    let terms = (0...last).map { j in
      TokenTerm(
        position: view.position(ofAttemptToken: j), weight: 1,
        kind: .divergence(
          teacher: teachers[j], kind: divergence,
          importance: ImportanceWeight(
            oldLogprob: behaviour[j], target: rollout.tokens[j], clip: ratioClip, sampling: sampling)))
    }
    return [TrainingSequence(tokens: view.attemptTokens, terms: terms)]
  }
}
