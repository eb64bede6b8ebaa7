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
public struct RewriteStage {
  public let run: Run
  public let tasks: TaskSource
  public let notes: NoteSource?

  /// `policy` samples the hindsight rewrites (the round's policy); `scorer` re-scores attempts
  /// (the frozen base or the round's policy, by the spec's teacher choice).
  public func execute(round: Int, policy: Policy, scorer: Policy) throws {
    try run.requireComplete(round: round, stage: .feedback, for: .rewrite)
    let spec = run.spec
    let byId = Dictionary(try tasks.train(round: round).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let count = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .feedback)] ?? 0
    let builder = ContextBuilder(policy: policy, reserve: spec.rollout.maxTokens)
    let settings = SamplingSettings(
      temperature: Float(spec.rewrite.temperature), maxNewTokens: spec.rollout.maxTokens)
    let level = FeedbackLevel(rawValue: spec.rewrite.feedback.rawValue) ?? .full
    try run.runShards(round: round, stage: .rewrite, shardCount: count) {
      shard, seed -> ShardOutput<RewriteRecord> in
      let rollouts = try run.readShard(RolloutRecord.self, round: round, stage: .rollout, shard: shard)
      let feedback = try run.readShard(FeedbackRecord.self, round: round, stage: .feedback, shard: shard)
      let rolloutById = Dictionary(rollouts.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
      var rng = SeededRandom(seed: seed)
      var budget = Budget()
      var drafts: [(record: RewriteRecord, teacher: [Int32], task: TaskRecord, student: [Int32])] = []
      for item in feedback {
        guard let rollout = rolloutById[item.rolloutId], let task = byId[item.taskId] else {
          throw HindcastError(
            .corruptFile, "feedback \(item.id) has no matching rollout or task",
            location: run.layout.path(run.layout.shardName(round: round, stage: .feedback, shard: shard)))
        }
        // A passing sibling (never the sample itself), shown as a note.
        var offered: [(id: String, text: String)] = []
        var siblingId: String?
        if spec.rewrite.useSibling, !item.passed,
          let sibling = feedback.first(where: { $0.taskId == item.taskId && $0.passed && $0.id != item.id }),
          let siblingRollout = rolloutById[sibling.rolloutId]
        {
          siblingId = siblingRollout.id
          offered.append((id: "sibling", text: "a passing attempt: " + siblingRollout.text))
        }
        var assignments: [NoteAssignment] = []
        if spec.rewrite.memory, let notes {
          for note in try notes.candidates(for: task, round: round) {
            // Randomized exposure: each note is shown or withheld with probability 1/2.
            let included = rng.next() & 1 == 1
            assignments.append(NoteAssignment(noteId: note.id, included: included))
            if included { offered.append(note) }
          }
        }
        let hindsight = ContextBuilder.Hindsight(
          attempt: rollout.text, feedback: item.result.feedbackText(level: level),
          critique: level == .full ? item.critique.rendered : nil, notes: offered.map(\.text))
        let teacher = builder.teacher(task: task.prompt, hindsight: hindsight)
        // A note drawn for inclusion that did not fit in the context was not shown: its outcome
        // says nothing about the note, so no observation is recorded for it.
        let shown = Set(offered.prefix(teacher.notesKept).map(\.id))
        assignments.removeAll { $0.included && !shown.contains($0.noteId) }
        let record = RewriteRecord(
          id: item.rolloutId + "/rw", feedbackId: item.id, rolloutId: item.rolloutId, taskId: task.id,
          round: round,
          teacherContext: Tokenizer.decode(teacher.tokens), teacherTokens: teacher.tokens,
          siblingRolloutId: siblingId, notes: assignments, hindsight: [], teacherLogprobs: [],
          teacherTopIds: [],
          teacherTopLogprobs: [])
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
      }
      // (a) Hindsight trajectories for failed attempts, verified by the executor.
      let failed = drafts.indices.filter { !feedback[$0].passed }
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
        let text = Tokenizer.decodeText(generation.tokens)
        let result = tasks.family.execute(task: drafts[owner].task, attempt: text)
        budget.environmentCalls += 1
        budget.generatedTokens += generation.tokens.count
        if result.passed { verified += 1 }
        drafts[owner].record.hindsight.append(
          HindsightSample(
            text: text, tokens: generation.tokens, verified: result.passed, kind: result.kind.rawValue))
      }
      let rate = prompts.isEmpty ? 0 : Double(verified) / Double(prompts.count)
      return ShardOutput(records: drafts.map(\.record), budget: budget, values: ["verified_rate": rate])
    }
  }
}
