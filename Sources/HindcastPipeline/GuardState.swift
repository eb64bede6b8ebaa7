/// What the collapse guard knows after a round: the eval of the policy in force and of the best
/// policy in force so far (validation greedy pass@1, ties to the earlier round), with the round
/// whose checkpoint holds the best one. One transition (`after`) serves the guard while a run
/// goes (`PipelineRunner.guardRound`) and any report that replays its recorded rollbacks
/// (`replay`), so both agree on which policy is in force.
public struct GuardState: Sendable, Equatable {
  public var inForce: EvalSummary
  public var best: EvalSummary
  public var bestRound: Int

  private init(inForce: EvalSummary, best: EvalSummary, bestRound: Int) {
    self.inForce = inForce
    self.best = best
    self.bestRound = bestRound
  }

  /// The state before any comparison: `round`'s policy is both in force and the best.
  public init(first: EvalSummary, round: Int) { self.init(inForce: first, best: first, bestRound: round) }

  /// What a new policy at `round` is compared with, and the round a rollback restores: the
  /// policy in force and the previous round's checkpoint (which holds it) for `previous`, the
  /// best policy so far and its round for `best`.
  public func reference(
    at round: Int, _ reference: PipelineSpec.GuardReference
  ) -> (eval: EvalSummary, source: Int) {
    reference == .best ? (best, bestRound) : (inForce, round - 1)
  }

  /// The state after `round`'s eval `current`: with a rollback the reference policy is in force
  /// again; otherwise `current` is, and it becomes the best when it beats the best so far.
  public func after(
    round: Int, current: EvalSummary, rolledBack: Bool, reference: PipelineSpec.GuardReference
  ) -> GuardState {
    if rolledBack {
      return GuardState(inForce: self.reference(at: round, reference).eval, best: best, bestRound: bestRound)
    }
    let improved = current.validation.greedyPass1 > best.validation.greedyPass1
    return GuardState(
      inForce: current, best: improved ? current : best, bestRound: improved ? round : bestRound)
  }

  /// The state after the last of `summaries` (in round order), given the rounds the guard rolled
  /// back; nil without summaries.
  public static func replay(
    _ summaries: [EvalSummary], rolledBack: Set<Int>, reference: PipelineSpec.GuardReference
  ) -> GuardState? {
    var state: GuardState?
    for summary in summaries {
      guard let previous = state else {
        state = GuardState(first: summary, round: summary.round)
        continue
      }
      state = previous.after(
        round: summary.round, current: summary, rolledBack: rolledBack.contains(summary.round),
        reference: reference)
    }
    return state
  }
}
