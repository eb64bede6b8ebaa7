import HindcastSupport

/// Restoring everything a rejected round changed, for the collapse guard.
///
/// The distill stage of round r-1 writes the policy that starts round r and, with an EMA teacher,
/// the EMA teacher of round r; the memory stage of round r-1 points the round's policy at the
/// memory snapshot it was distilled with (`RunManifest.memorySnapshots`). AdamW's moments, kept
/// across rounds only with `distill.persist_moments`, are not restored: a restored policy's
/// checkpoint has none, so its next distill stage starts them fresh. A rollback of round r to
/// round s < r (the previous round, or the best one with `guard.reference = "best"`) puts back
/// round s's value of each of these.
extension PipelineRunner {
  /// Replaces round `round`'s policy, EMA teacher (when the run has one for that round) and
  /// memory snapshot pointer with those of round `source` (an earlier round, by default the
  /// previous one), and records the rollback. Safe to repeat after a crash at any point: each step
  /// writes the same bytes again, and the rollback is recorded together with the pointer, after
  /// the checkpoints are durable.
  func restoreWholeRound(_ round: Int, from source: Int? = nil) throws {
    let source = source ?? round - 1
    guard source >= 0 && source < round else {
      throw HindcastError(
        .invalidInput, "round \(round) cannot be rolled back to round \(source): only an earlier round can",
        location: run.layout.root)
    }
    let store = self.store
    if try store.exists(round: round, kind: .ema) {
      // Round 0's EMA teacher is the base policy itself (PolicyStore.load).
      try store.save(try store.load(round: source, kind: .ema), round: round, kind: .ema)
    }
    try store.save(try store.load(round: source), round: round)
    let restored = run.layout.policyName(round: round)
    let earlier = run.layout.policyName(round: source)
    try run.withManifest { manifest in
      manifest.memorySnapshots[restored] = manifest.memorySnapshots[earlier]
      if !manifest.rollbacks.contains(round) { manifest.rollbacks.append(round) }
    }
  }
}
