import HindcastSupport

/// Restoring everything a rejected round changed, for the collapse guard.
///
/// The distill stage of round r-1 writes the policy that starts round r and, with an EMA teacher,
/// the EMA teacher of round r; the memory stage of round r-1 points the round's policy at the
/// memory snapshot it was distilled with (`RunManifest.memorySnapshots`). The optimizer (AdamW)
/// starts fresh in every distill stage and persists nothing, so there is no optimizer state to
/// restore. A rollback of round r puts back round r-1's value of each of these.
extension PipelineRunner {
  /// Replaces round `round`'s policy, EMA teacher (when the run has one for that round) and
  /// memory snapshot pointer with those of round `round - 1`, and records the rollback. Safe to
  /// repeat after a crash at any point: each step writes the same bytes again, and the rollback
  /// is recorded together with the pointer, after the checkpoints are durable.
  func restoreWholeRound(_ round: Int) throws {
    guard round >= 1 else {
      throw HindcastError(
        .invalidInput, "round 0 has no earlier round to roll back to", location: run.layout.root)
    }
    let store = self.store
    if try store.exists(round: round, kind: .ema) {
      // Round 0's EMA teacher is the base policy itself (PolicyStore.load).
      try store.save(try store.load(round: round - 1, kind: .ema), round: round, kind: .ema)
    }
    try store.save(try store.load(round: round - 1), round: round)
    let restored = run.layout.policyName(round: round)
    let previous = run.layout.policyName(round: round - 1)
    try run.withManifest { manifest in
      manifest.memorySnapshots[restored] = manifest.memorySnapshots[previous]
      if !manifest.rollbacks.contains(round) { manifest.rollbacks.append(round) }
    }
  }
}
