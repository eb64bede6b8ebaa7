import Foundation
import HindcastMemory
import HindcastSupport
import HindcastTasks

/// Stage `memory`: proposes strategy notes from the round's critiques (of failed attempts, with
/// whether a hindsight rewrite was verified) and records the randomized-exposure outcomes of the
/// notes the rewrite stage offered, then compacts the store into a snapshot. The snapshot id is
/// recorded in the manifest; the next round's distilled policy is trained from it.
///
/// Resuming: the unit `rNNNN/memory` marks completion. A rerun after a crash skips notes already
/// stored with this round's provenance, and the store ignores observations already recorded for
/// a (note, rewrite) pair, so no evidence is counted twice.
public struct MemoryStage {
  public let run: Run
  public let tasks: TaskSource

  public func execute(round: Int) throws {
    let key = RunManifest.stageKey(round: round, stage: .memory)
    if try run.manifest().units[key] != nil { return }
    try run.requireComplete(round: round, stage: .rewrite, for: .memory)
    let started = Date()
    let train = try tasks.train(round: round)
    let byId = Dictionary(train.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let shards = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .feedback)] ?? 0
    var evidence: [NoteEvidence] = []
    var observations: [ValueObservation] = []
    for shard in 0..<shards {
      let feedback = try run.readShard(FeedbackRecord.self, round: round, stage: .feedback, shard: shard)
      let rewrites = try run.readShard(RewriteRecord.self, round: round, stage: .rewrite, shard: shard)
      let rollouts = try run.readShard(RolloutRecord.self, round: round, stage: .rollout, shard: shard)
      try DistillStage.checkInputs(
        run: run, round: round, shard: shard, tasks: Set(tasks.shardSlice(train, shard: shard).map(\.id)),
        rollouts: rollouts, feedback: feedback, rewrites: rewrites)
      let rewritePath = StageInputs.shardPath(run, round: round, stage: .rewrite, shard: shard)
      let rewriteByFeedback = Dictionary(
        rewrites.map { ($0.feedbackId, $0) }, uniquingKeysWith: { a, _ in a })
      for item in feedback where !item.passed && !item.result.kind.isInfrastructureFailure {
        let rewrite = rewriteByFeedback[item.id]
        let verified = rewrite?.hindsight.contains(where: \.verified) ?? false
        evidence.append(
          NoteEvidence(
            family: run.spec.tasks.family, features: byId[item.taskId]?.features ?? [],
            critique: item.critique.text,
            causeTag: item.critique.cause, hint: item.critique.hint, verifiedRewrite: verified,
            provenance: NoteProvenance(
              run: run.spec.name, round: round, rolloutIds: [item.rolloutId], feedbackIds: [item.id],
              rewriteIds: rewrite.map { [$0.id] } ?? [], sourceTaskId: item.taskId)))
      }
      for (index, rewrite) in rewrites.enumerated() where !rewrite.hindsight.isEmpty {
        let verified = rewrite.hindsight.contains(where: \.verified)
        for assignment in rewrite.notes {
          guard let id = NoteId(hex: assignment.noteId) else {
            throw StageInputs.error(
              rewritePath, record: index,
              "rewrite \(rewrite.id) names note '\(assignment.noteId)', not a note id")
          }
          observations.append(
            ValueObservation(
              noteId: id, included: assignment.included, verified: verified, taskId: rewrite.taskId,
              round: round,
              rewriteId: rewrite.id))
        }
      }
    }
    let store = try MemoryStore.open(at: run.layout.memory)
    defer { store.close() }
    // Notes must fit beside the teacher context: at most the spec's memory budget.
    let proposer = RuleBasedNoteProposer(maxTokens: max(16, run.spec.rewrite.memoryBudgetTokens))
    // Skip evidence already stored by an interrupted earlier attempt of this stage.
    let stored = Set(
      store.state.records.flatMap { record in
        record.provenance.filter { $0.round == round }.flatMap(\.feedbackIds)
      })
    let fresh = evidence.filter { !stored.contains($0.provenance.feedbackIds.first ?? "") }
    let additions = try store.propose(from: fresh, using: proposer)
    let recorded = try store.record(observations)
    let snapshot = try store.compact(label: RunLayout.roundName(round))
    try run.withManifest { manifest in
      manifest.units[key] = RunManifest.Unit(
        path: "memory/" + snapshot.fileName, sha256: snapshot.contentHash, records: snapshot.notes)
      manifest.memorySnapshots[run.layout.policyName(round: round + 1)] = snapshot.contentHash
    }
    var event = MetricsEvent(stage: StageName.memory.rawValue, round: round, worker: run.worker.index)
    event.records = evidence.count
    event.wallSeconds = Date().timeIntervalSince(started)
    event.values = [
      "notes_proposed": Double(additions.count), "observations": Double(recorded.appended),
      "notes": Double(snapshot.notes),
    ]
    try run.record(event)
  }
}
