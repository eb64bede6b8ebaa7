import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTasks

/// The records stages write, one JSON object per line in their shards. Every record carries the
/// ids of the records it came from, so any result can be traced back to its task and rollout.
/// Field-by-field documentation: docs/formats.md.

/// One sampled attempt of the current policy at a training task (task-only context).
public struct RolloutRecord: ShardRecord, Equatable {
  public static let shardKind = "rollout"
  /// `rNNNN/TASKID/sK`.
  public var id: String
  public var round: Int
  public var taskId: String
  public var sample: Int
  /// Generated token ids, including `<end>` when the policy stopped by itself.
  public var tokens: [Int32]
  /// The attempt as text (the byte tokens, without special tokens).
  public var text: String
  /// Log-probability of each generated token under the policy's own distribution (temperature
  /// 1, no truncation). The behaviour log-probs are these only when the rollout was sampled with
  /// the identity transform; see `behaviourLogprobs`.
  public var logprobs: [Float]
  /// Why generation stopped: stop, length or context.
  public var finish: String
  /// The sampling transform the tokens were drawn with: temperature (0 = greedy), and top-k /
  /// top-p when set (absent: no truncation, which is every rollout written before they existed).
  public var temperature: Double
  public var topK: Int?
  public var topP: Double?
  public var maxTokens: Int
  /// The served policy that produced this record (`RemotePolicy.servedBy`: backend, server,
  /// model, scoring route, contexts); absent for the embedded model.
  public var policy: String?

  /// Log-probability of each token under the distribution it was actually drawn from
  /// (`sampling`: tempered, truncated, renormalized; 0 for greedy): the behaviour log-probs of
  /// importance ratios. Written exactly when `sampling` is not the identity (where they equal
  /// `logprobs`, so a temperature-1 shard is unchanged). nil otherwise, and also for a rollout
  /// written before this field existed or by a server that does not report them: such a
  /// non-identity rollout has no behaviour log-probs and the distill stage refuses it.
  public var behaviourLogprobs: [Float]?

  public init(
    id: String, round: Int, taskId: String, sample: Int, tokens: [Int32], text: String, logprobs: [Float],
    finish: String, temperature: Double, topK: Int? = nil, topP: Double? = nil, maxTokens: Int,
    behaviourLogprobs: [Float]? = nil, policy: String? = nil
  ) {
    self.id = id
    self.round = round
    self.taskId = taskId
    self.sample = sample
    self.tokens = tokens
    self.text = text
    self.logprobs = logprobs
    self.finish = finish
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.maxTokens = maxTokens
    self.behaviourLogprobs = behaviourLogprobs
    self.policy = policy
  }

  enum CodingKeys: String, CodingKey {
    case id, round, sample, tokens, text, logprobs, finish, temperature, policy
    case taskId = "task_id"
    case topK = "top_k"
    case topP = "top_p"
    case maxTokens = "max_tokens"
    case behaviourLogprobs = "behaviour_logprobs"
  }

  /// The transform the tokens were drawn with (the temperature as the sampler used it, a float).
  public var sampling: SamplingTransform {
    SamplingTransform(temperature: Float(temperature), topK: topK, topP: topP.map { Float($0) })
  }

  /// The behaviour log-probs (see `behaviourLogprobs`): the stored ones, `logprobs` for the
  /// identity transform, nil when they are unknown.
  public var behaviour: [Float]? {
    behaviourLogprobs ?? (sampling.isIdentity ? logprobs : nil)
  }

  /// `behaviour`, or an error naming the rollout when it is unknown.
  public func requireBehaviour() throws -> [Float] {
    guard let behaviour else {
      throw HindcastError(
        .corruptFile,
        "rollout \(id) was sampled at temperature \(temperature)"
          + (topK.map { ", top_k \($0)" } ?? "") + (topP.map { ", top_p \($0)" } ?? "")
          + " but stores no behaviour_logprobs, so its importance ratios cannot be computed",
        hint:
          "the shard was written before Hindcast recorded the sampling distribution's log-probs, or by a"
          + " server that reports none; delete the round's shards and rerun its rollout stage with the"
          + " embedded policy")
    }
    return behaviour
  }
}

/// The executed and criticized version of one rollout.
public struct FeedbackRecord: ShardRecord, Equatable {
  public static let shardKind = "feedback"
  public var id: String
  public var rolloutId: String
  public var taskId: String
  public var round: Int
  public var sample: Int
  public var passed: Bool
  /// 1 for a pass, 0 otherwise (the scalar reward that GRPO and RFT see).
  public var reward: Double
  /// Raw execution feedback, never replaced by the critique.
  public var result: ExecutionResult
  public var critique: Critique
  /// Index into the rollout's tokens of the first error the executor located, if any.
  public var firstErrorToken: Int?

  enum CodingKeys: String, CodingKey {
    case id, round, sample, passed, reward, result, critique
    case rolloutId = "rollout_id"
    case taskId = "task_id"
    case firstErrorToken = "first_error_token"
  }
}

/// A memory note offered to the teacher, and whether it was actually shown (randomized).
public struct NoteAssignment: Codable, Sendable, Equatable {
  public var noteId: String
  public var included: Bool

  enum CodingKeys: String, CodingKey {
    case included
    case noteId = "note_id"
  }
}

/// One hindsight trajectory sampled by the teacher and checked again.
public struct HindsightSample: Codable, Sendable, Equatable {
  public var text: String
  public var tokens: [Int32]
  public var verified: Bool
  public var kind: String
}

/// The teacher's view of one student attempt.
public struct RewriteRecord: ShardRecord, Equatable {
  public static let shardKind = "rewrite"
  public var id: String
  public var feedbackId: String
  public var rolloutId: String
  public var taskId: String
  public var round: Int
  /// The privileged teacher context, rendered as text (special tokens as markers).
  public var teacherContext: String
  /// The same context as token ids (what the teacher was conditioned on).
  public var teacherTokens: [Int32]
  /// The rollout whose passing attempt was shown as a sibling, if any.
  public var siblingRolloutId: String?
  public var notes: [NoteAssignment]
  /// Corrected trajectories sampled with the privileged context (failed attempts only).
  public var hindsight: [HindsightSample]
  /// Per student token: the teacher's log-probability of that token.
  public var teacherLogprobs: [Float]
  /// Per student token: the teacher's top-k token ids and log-probabilities (tail mass implied).
  public var teacherTopIds: [[Int32]]
  public var teacherTopLogprobs: [[Float]]
  /// The served policy that produced this record (`RemotePolicy.servedBy`: backend, server,
  /// model, scoring route, contexts); absent for the embedded model.
  public var policy: String? = nil

  enum CodingKeys: String, CodingKey {
    case id, round, notes, hindsight, policy
    case feedbackId = "feedback_id"
    case rolloutId = "rollout_id"
    case taskId = "task_id"
    case teacherContext = "teacher_context"
    case teacherTokens = "teacher_tokens"
    case siblingRolloutId = "sibling_rollout_id"
    case teacherLogprobs = "teacher_logprobs"
    case teacherTopIds = "teacher_top_ids"
    case teacherTopLogprobs = "teacher_top_logprobs"
  }
}

/// One validation or test task evaluated on a policy's first attempt, without feedback.
public struct EvalRecord: ShardRecord, Equatable {
  public static let shardKind = "eval"
  public var taskId: String
  /// `validation` or `test`: which split the task belongs to.
  public var split: TaskSplit
  public var greedyPassed: Bool
  public var greedyText: String
  /// Pass/fail of each temperature sample (empty for validation tasks and for test tasks beyond
  /// `eval.sampled_tasks`).
  public var sampledPassed: [Bool]
  /// The served policy that produced this record (`RemotePolicy.servedBy`: backend, server,
  /// model, scoring route, contexts); absent for the embedded model.
  public var policy: String? = nil

  enum CodingKeys: String, CodingKey {
    case split, policy
    case taskId = "task_id"
    case greedyPassed = "greedy_passed"
    case greedyText = "greedy_text"
    case sampledPassed = "sampled_passed"
  }
}
