import HindcastModel
import HindcastTasks

/// One rollout joined with everything the distill stage knows about it: the shape every
/// objective reads. `DistillStage` builds these (one per rollout that has a task, feedback and a
/// non-empty attempt that fits the context) and hands each to every active objective.
public struct RolloutView {
  /// The same task's other samples of this round (the rollout itself included), with rewards.
  public struct Sibling: Sendable, Equatable {
    public var rolloutId: String
    public var reward: Double
    public var passed: Bool

    public init(rolloutId: String, reward: Double, passed: Bool) {
      self.rolloutId = rolloutId
      self.reward = reward
      self.passed = passed
    }
  }

  public var task: TaskRecord
  public var rollout: RolloutRecord
  public var feedback: FeedbackRecord
  /// The teacher's view (scores, hindsight rewrites); nil when the rewrite stage did not run or
  /// wrote nothing for this rollout.
  public var rewrite: RewriteRecord?
  /// The group of this task's samples, in feedback-shard order (the rollout itself included).
  public var group: [Sibling]
  /// The student context (task only) the attempt was sampled from.
  public var prompt: [Int32]
  /// The model's context length: no sequence may be longer.
  public var contextLength: Int
  /// Full-vocabulary teacher log-probabilities per attempt token, when an objective asked for
  /// them (`ObjectiveNeeds.fullTeacher`): the teacher re-scores `rewrite.teacherTokens` + attempt.
  public var fullTeacher: [[Float]]?
  /// Round-start student log-probabilities of each hindsight rewrite's tokens in the student
  /// context (same order as `rewrite.hindsight`, nil for one that does not fit), when asked for
  /// (`ObjectiveNeeds.rewriteStudentLogprobs`).
  public var rewriteStudentLogprobs: [[Float]?]?

  public init(
    task: TaskRecord, rollout: RolloutRecord, feedback: FeedbackRecord, rewrite: RewriteRecord?,
    group: [Sibling], prompt: [Int32], contextLength: Int
  ) {
    self.task = task
    self.rollout = rollout
    self.feedback = feedback
    self.rewrite = rewrite
    self.group = group
    self.prompt = prompt
    self.contextLength = contextLength
  }

  /// Position (in `prompt + rollout.tokens`) that predicts attempt token `j`.
  public func position(ofAttemptToken j: Int) -> Int { prompt.count - 1 + j }

  /// The full training sequence of the attempt in the student context.
  public var attemptTokens: [Int32] { prompt + rollout.tokens }

  /// Mean reward of the group (the GRPO baseline, RLTF-SD's first-attempt mean).
  public var groupMeanReward: Double {
    group.isEmpty ? 0 : group.map(\.reward).reduce(0, +) / Double(group.count)
  }

  /// Share of the group's samples that passed.
  public var groupPassRate: Double {
    group.isEmpty ? 0 : Double(group.filter(\.passed).count) / Double(group.count)
  }
}

/// What an objective needs computed before it can build its terms (beyond the stored records).
public struct ObjectiveNeeds: OptionSet, Sendable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }

  /// The rewrite stage's records (teacher scores, hindsight rewrites).
  public static let rewrites = ObjectiveNeeds(rawValue: 1)
  /// Full-vocabulary teacher distributions, recomputed from the stored teacher contexts.
  public static let fullTeacher = ObjectiveNeeds(rawValue: 2)
  /// The round-start student's log-probabilities of verified rewrites.
  public static let rewriteStudentLogprobs = ObjectiveNeeds(rawValue: 4)
  /// Hindsight rewrites sampled with the privileged context and verified by the environment
  /// (`RewriteRecord.hindsight`): the rewrite stage samples and verifies them, at one environment
  /// call each, only when an active objective declares this (or memory is on). Implies `rewrites`.
  public static let verifiedRewrites = ObjectiveNeeds(rawValue: 8)
  /// The rollouts' behaviour log-probabilities (`RolloutRecord.behaviour`) for importance ratios:
  /// the distill stage refuses rollouts that lack them before building any term.
  public static let behaviourLogprobs = ObjectiveNeeds(rawValue: 16)
}

/// A distillation objective: turns one joined rollout into weighted training sequences.
///
/// Contract: `sequences(for:)` is a pure function of the view (and the objective's options): the
/// same view gives the same sequences, in the same order. Term weights are *relative*: the
/// distill stage multiplies each by the objective's spec weight (times the round's gap gate for
/// teacher objectives) and divides by the objective's total number of terms in the minibatch, so
/// a weight of 1 on every term reproduces an even split. Weights may be negative (a rewrite with
/// a negative advantage) but must be finite. Every sequence must fit `view.contextLength`.
public protocol DistillObjective: Sendable {
  /// The spec name (`distill.NAME` weight, `[objective.NAME]` options).
  var name: String { get }
  /// What the stage must compute before calling `sequences(for:)`.
  var needs: ObjectiveNeeds { get }
  /// Whether the objective distills from the teacher (gap gating scales these).
  var usesTeacher: Bool { get }
  func sequences(for view: RolloutView) throws -> [TrainingSequence]
}
