import HindcastModel
import HindcastSupport
import HindcastTasks

/// A source of memory notes for teacher contexts. The memory stage's store implements it; a run
/// without memory passes nil.
public protocol NoteSource {
  /// Notes to offer for `task`, best first, already within the token budget.
  func candidates(for task: TaskRecord, round: Int) throws -> [(id: String, text: String)]
}

/// Stage `rewrite`: the policy as its own teacher, with privileged context. For every student
/// attempt it (a) re-scores the attempt's tokens under the teacher context (per-token log-probs
/// and top-k), and (b) for failed attempts samples corrected hindsight trajectories, which are
/// executed again and kept with their verdict. Shard i reads feedback shard i and rollout shard i.
///
/// The teacher context holds the segments `TeacherSegments` switches on (feedback level,
/// critique, sibling, memory notes). Each arm pays only for what it uses: hindsight rewrites are
/// sampled and verified only when an objective trains on them (one whose `needs` declare
/// `verifiedRewrites`: sft, rewrite_advantage) or when memory is
/// on, because note values are measured on their verdicts; in the second case every
/// verification is charged to memory (`memory_verification_calls`). An sdpo-only arm without
/// memory therefore spends no environment call here.
public struct RewriteStage {
  public let run: Run
  public let tasks: TaskSource
  public let notes: NoteSource?

  /// Whether this run samples and verifies hindsight rewrites, and whether their calls are
  /// charged to memory (they are when no objective trains on them: the memory stage then uses
  /// their verdicts alone, as note values and as the evidence its proposer reads).
  public static func rewritePlan(spec: PipelineSpec) -> (sample: Bool, chargedToMemory: Bool) {
    let forObjectives = spec.distill.usesVerifiedRewrites
    let forMemory = spec.rewrite.memory
    return (forObjectives || forMemory, !forObjectives && forMemory)
  }

  /// `policy` samples the hindsight rewrites (the round's policy); `scorer` re-scores attempts
  /// (the frozen base or the round's policy, by the spec's teacher choice).
  public func execute(round: Int, policy: Policy, scorer: Policy) throws {
    try run.requireComplete(round: round, stage: .feedback, for: .rewrite)
    let spec = run.spec
    let train = try tasks.train(round: round)
    let byId = Dictionary(train.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let count = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .feedback)] ?? 0
    let plan = TeacherContextPlan(
      builder: ContextBuilder(policy: policy, reserve: spec.rollout.maxTokens),
      segments: TeacherSegments(spec: spec))
    let settings = SamplingSettings(
      temperature: Float(spec.rewrite.temperature), maxNewTokens: spec.rollout.maxTokens)
    let rewrites = Self.rewritePlan(spec: spec)
    try run.runShards(round: round, stage: .rewrite, shardCount: count) {
      shard, seed -> ShardOutput<RewriteRecord> in
      // A served policy is its own scorer (`PipelineRunner.stage`), so its count covers both.
      let retries = policy.retries
      let rollouts = try run.readShard(RolloutRecord.self, round: round, stage: .rollout, shard: shard)
      let feedback = try run.readShard(FeedbackRecord.self, round: round, stage: .feedback, shard: shard)
      let rolloutById = try StageInputs.checkRollouts(
        rollouts, round: round, path: StageInputs.shardPath(run, round: round, stage: .rollout, shard: shard),
        taskIds: Set(tasks.shardSlice(train, shard: shard).map(\.id)),
        samplesPerTask: spec.tasks.samplesPerTask)
      try StageInputs.checkFeedback(
        feedback, rollouts: rolloutById, round: round,
        path: StageInputs.shardPath(run, round: round, stage: .feedback, shard: shard))
      var rng = SeededRandom(seed: seed)
      var budget = Budget()
      var drafts: [(record: RewriteRecord, teacher: [Int32], task: TaskRecord, student: [Int32])] = []
      for item in feedback {
        guard let rollout = rolloutById[item.rolloutId], let task = byId[item.taskId] else {
          throw HindcastError(
            .corruptFile, "feedback \(item.id) has no matching rollout or task",
            location: run.layout.path(run.layout.shardName(round: round, stage: .feedback, shard: shard)))
        }
        // A passing sibling (never the sample itself).
        var sibling: RolloutRecord?
        if !item.passed,
          let passing = feedback.first(where: { $0.taskId == item.taskId && $0.passed && $0.id != item.id })
        {
          sibling = rolloutById[passing.rolloutId]
        }
        let parts = try plan.parts(
          task: task.prompt, attempt: rollout.text, result: item.result, critique: item.critique,
          sibling: sibling?.text)
        // Randomized exposure among the notes that fit (decided before the coin flip): each is
        // shown or withheld with probability 1/2, and both outcomes are recorded.
        var assignments: [NoteAssignment] = []
        var shown: [String] = []
        if let notes, plan.segments.memory {
          let eligible = try plan.fittingNotes(
            task: task.prompt, parts: parts, candidates: try notes.candidates(for: task, round: round),
            text: \.text)
          for (note, included) in TeacherContextPlan.expose(eligible, rng: &rng) {
            assignments.append(NoteAssignment(noteId: note.id, included: included))
            if included { shown.append(note.text) }
          }
        }
        let teacher = try plan.context(task: task.prompt, parts: parts, shown: shown)
        let expected = shown.count + (parts.sibling == nil ? 0 : 1)
        guard teacher.notesKept == expected else {
          throw HindcastError(
            .internalInvariant,
            "teacher context of \(item.id) kept \(teacher.notesKept) of \(expected) notes that were checked to fit",
            location: run.layout.root)
        }
        let record = RewriteRecord(
          id: item.rolloutId + "/rw", feedbackId: item.id, rolloutId: item.rolloutId, taskId: task.id,
          round: round,
          teacherContext: try plan.builder.contextText(teacher.tokens), teacherTokens: teacher.tokens,
          siblingRolloutId: parts.sibling == nil ? nil : sibling?.id, notes: assignments, hindsight: [],
          teacherLogprobs: [], teacherTopIds: [], teacherTopLogprobs: [], policy: policy.servedBy)
        drafts.append((record, teacher.tokens, task, rollout.tokens))
      }
      // (b) Re-score every student attempt under its teacher context.
      let scored = try scorer.score(
        prompts: drafts.map(\.teacher), continuations: drafts.map(\.student), topK: spec.rewrite.teacherTopK)
      for (index, score) in scored.enumerated() {
        drafts[index].record.teacherLogprobs = score.logprobs
        drafts[index].record.teacherTopIds = (score.topK ?? []).map { $0.map(\.token) }
        drafts[index].record.teacherTopLogprobs = (score.topK ?? []).map { $0.map(\.logprob) }
        budget.teacherScoredTokens += score.logprobs.count
        budget.modelTokens += drafts[index].teacher.count + drafts[index].student.count
      }
      // (a) Hindsight trajectories for failed attempts, verified by the executor, when used.
      let failed = rewrites.sample ? drafts.indices.filter { !feedback[$0].passed } : []
      var prompts: [[Int32]] = []
      var owners: [Int] = []
      for index in failed {
        for _ in 0..<spec.rewrite.samples {
          prompts.append(drafts[index].teacher)
          owners.append(index)
        }
      }
      let seeds = (0..<prompts.count).map { SeedDerivation.derive(seed, [1, UInt64($0)]) }
      let generations = try policy.generate(prompts: prompts, settings: settings, seeds: seeds)
      var verified = 0
      for (owner, generation) in zip(owners, generations) {
        let text = try plan.builder.answerText(generation.tokens)
        let result = tasks.family.execute(task: drafts[owner].task, attempt: text)
        budget.environmentCalls += 1
        budget.generatedTokens += generation.tokens.count
        budget.modelTokens += drafts[owner].teacher.count + generation.tokens.count
        if result.passed { verified += 1 }
        drafts[owner].record.hindsight.append(
          HindsightSample(
            text: text, tokens: generation.tokens, verified: result.passed, kind: result.kind.rawValue))
      }
      let rate = prompts.isEmpty ? 0 : Double(verified) / Double(prompts.count)
      return ShardOutput(
        records: drafts.map(\.record), budget: budget,
        values: policy.retryValues(since: retries)
          .merging([
            "verified_rate": rate,
            "memory_verification_calls": rewrites.chargedToMemory ? Double(prompts.count) : 0,
          ]) { $1 })
    }
  }
}
