import HindcastModel
import HindcastSupport

/// Cross-checks of the shards a stage reads, made before the stage computes or writes anything:
/// every record belongs to the round, ids are unique, feedback and rewrites pair one-to-one with
/// the rollouts of the same shard, and every index and token id a stage will use is in range.
/// Each error names the shard file and the record (`path#record N`, 1-based).
enum StageInputs {
  /// The path of one stage's shard, for error locations.
  static func shardPath(_ run: Run, round: Int, stage: StageName, shard: Int) -> String {
    run.layout.path(run.layout.shardName(round: round, stage: stage, shard: shard))
  }

  static func error(_ path: String, record index: Int, _ message: String) -> HindcastError {
    HindcastError(
      .corruptFile, message, location: "\(path)#record \(index + 1)",
      hint:
        "the shard does not belong with the others of its round; delete the round's later shards and rerun")
  }

  /// Rollouts of one shard: of `round`, unique ids, tokens in the vocabulary, one behaviour
  /// log-probability per token. Returns them by id.
  @discardableResult
  /// When `taskIds` is given (the tasks of the shard's slice), every rollout must be of one of
  /// them, so that another shard's bytes are refused; `samplesPerTask` then fixes the count.
  static func checkRollouts(
    _ rollouts: [RolloutRecord], round: Int, path: String, taskIds: Set<String>? = nil,
    samplesPerTask: Int? = nil,
    vocabSize: Int = Tokenizer.vocabSize
  ) throws -> [String: RolloutRecord] {
    if let taskIds, let samplesPerTask, rollouts.count != taskIds.count * samplesPerTask {
      throw HindcastError(
        .corruptFile,
        "rollout shard has \(rollouts.count) records; its \(taskIds.count) tasks with \(samplesPerTask) samples"
          + " each make \(taskIds.count * samplesPerTask)",
        location: path, hint: "the shard does not belong to this run's round; delete it and rerun rollout")
    }
    var byId: [String: RolloutRecord] = [:]
    for (i, r) in rollouts.enumerated() {
      if let taskIds, !taskIds.contains(r.taskId) {
        throw error(
          path, record: i, "rollout \(r.id) is of task \(r.taskId), which this shard does not cover")
      }
      guard r.round == round else {
        throw error(path, record: i, "rollout \(r.id) is of round \(r.round), not \(round)")
      }
      guard byId.updateValue(r, forKey: r.id) == nil else {
        throw error(path, record: i, "rollout id \(r.id) appears twice")
      }
      guard r.logprobs.count == r.tokens.count else {
        throw error(
          path, record: i,
          "rollout \(r.id) has \(r.tokens.count) tokens but \(r.logprobs.count) log-probabilities")
      }
      // A served policy's ids are in the server's vocabulary (`policy` names it), not the embedded one.
      let limit = r.policy == nil ? vocabSize : Int(Int32.max)
      if let bad = r.tokens.first(where: { $0 < 0 || Int($0) >= limit }) {
        throw error(path, record: i, "rollout \(r.id) holds token id \(bad), outside 0..<\(limit)")
      }
      if let bad = r.logprobs.first(where: { !$0.isFinite || $0 > 1e-3 }) {
        throw error(
          path, record: i, "rollout \(r.id) holds log-probability \(bad); they must be finite and <= 0")
      }
      do { try r.sampling.validate() } catch let problem as HindcastError {
        throw error(path, record: i, "rollout \(r.id): \(problem.message)")
      }
      if let behaviour = r.behaviourLogprobs {
        guard behaviour.count == r.tokens.count else {
          throw error(
            path, record: i,
            "rollout \(r.id) has \(r.tokens.count) tokens but \(behaviour.count) behaviour_logprobs")
        }
        if let bad = behaviour.first(where: { !$0.isFinite || $0 > 1e-3 }) {
          throw error(
            path, record: i,
            "rollout \(r.id) holds behaviour log-probability \(bad); they must be finite and <= 0")
        }
      }
    }
    return byId
  }

  /// Rollouts whose importance ratios will be computed: each must know its behaviour log-probs
  /// (`RolloutRecord.behaviour`), which a rollout sampled with a non-identity transform has only
  /// when it stored them.
  static func checkBehaviour(_ rollouts: [RolloutRecord], path: String) throws {
    for (i, r) in rollouts.enumerated() where r.behaviour == nil {
      do { _ = try r.requireBehaviour() } catch let problem as HindcastError {
        var located = error(path, record: i, problem.message)
        located.hint = problem.hint
        throw located
      }
    }
  }

  /// Feedback of one shard against its rollout shard: same count, one record per rollout, of
  /// `round`, a finite reward, and `first_error_token` inside the rollout's tokens.
  static func checkFeedback(
    _ feedback: [FeedbackRecord], rollouts: [String: RolloutRecord], round: Int, path: String
  ) throws {
    guard feedback.count == rollouts.count else {
      throw HindcastError(
        .corruptFile,
        "feedback shard has \(feedback.count) records but its rollout shard has \(rollouts.count)",
        location: path, hint: "the shard does not belong to this rollout shard; delete it and rerun feedback")
    }
    var seen: Set<String> = []
    for (i, f) in feedback.enumerated() {
      guard f.round == round else {
        throw error(path, record: i, "feedback \(f.id) is of round \(f.round), not \(round)")
      }
      guard let rollout = rollouts[f.rolloutId], rollout.taskId == f.taskId else {
        throw error(
          path, record: i, "feedback \(f.id) names rollout \(f.rolloutId), which is not in its rollout shard")
      }
      guard seen.insert(f.rolloutId).inserted else {
        throw error(path, record: i, "rollout \(f.rolloutId) has two feedback records")
      }
      guard f.reward.isFinite else { throw error(path, record: i, "feedback \(f.id) has reward \(f.reward)") }
      if let e = f.firstErrorToken, !(0..<rollout.tokens.count).contains(e) {
        throw error(
          path, record: i,
          "feedback \(f.id) has first_error_token \(e), outside its rollout's \(rollout.tokens.count) tokens")
      }
    }
  }

  /// Rewrites of one shard against its rollout shard: one per rollout, of `round`,
  /// teacher top-k ids and log-probabilities of matching shapes (one row per student token when
  /// present), ids in the vocabulary, finite numbers.
  static func checkRewrites(
    _ rewrites: [RewriteRecord], rollouts: [String: RolloutRecord], round: Int, path: String,
    vocabSize: Int = Tokenizer.vocabSize
  ) throws {
    guard rewrites.count == rollouts.count else {
      throw HindcastError(
        .corruptFile,
        "rewrite shard has \(rewrites.count) records but its rollout shard has \(rollouts.count)",
        location: path, hint: "the shard does not belong to this rollout shard; delete it and rerun rewrite")
    }
    var seen: Set<String> = []
    for (i, w) in rewrites.enumerated() {
      guard w.round == round else {
        throw error(path, record: i, "rewrite \(w.id) is of round \(w.round), not \(round)")
      }
      guard let rollout = rollouts[w.rolloutId] else {
        throw error(
          path, record: i, "rewrite \(w.id) names rollout \(w.rolloutId), which is not in its rollout shard")
      }
      guard seen.insert(w.rolloutId).inserted else {
        throw error(path, record: i, "rollout \(w.rolloutId) has two rewrite records")
      }
      let rows = w.teacherTopIds.count
      guard rows == w.teacherTopLogprobs.count, rows == 0 || rows == rollout.tokens.count,
        zip(w.teacherTopIds, w.teacherTopLogprobs).allSatisfy({ $0.count == $1.count && !$0.isEmpty })
      else {
        throw error(
          path, record: i,
          "rewrite \(w.id): teacher_top_ids and teacher_top_logprobs do not have one matching row per student token"
        )
      }
      let limit = w.policy == nil ? vocabSize : Int(Int32.max)
      if let bad = w.teacherTopIds.lazy.flatMap({ $0 }).first(where: { $0 < 0 || Int($0) >= limit }) {
        throw error(
          path, record: i, "rewrite \(w.id) holds teacher token id \(bad), outside 0..<\(limit)")
      }
      if let bad = w.teacherTopLogprobs.lazy.flatMap({ $0 }).first(where: { !$0.isFinite || $0 > 1e-3 }) {
        throw error(
          path, record: i, "rewrite \(w.id) holds teacher log-probability \(bad); must be finite and <= 0")
      }
      for sample in w.hindsight {
        if let bad = sample.tokens.first(where: { $0 < 0 || Int($0) >= limit }) {
          throw error(
            path, record: i, "rewrite \(w.id) has a hindsight token id \(bad), outside 0..<\(limit)")
        }
      }
    }
  }
}
