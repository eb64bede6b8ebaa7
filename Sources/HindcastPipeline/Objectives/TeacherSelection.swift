import Foundation
import HindcastModel

/// Which weights score the student's attempts in a round (`distill.teacher`): the rewrite stage
/// stores their top-k scores, and the distill stage re-scores with the same weights when an
/// objective needs the full vocabulary.
///
/// - `base`: the frozen base policy (round 0).
/// - `round-start`: the round's own policy.
/// - `ema`: the EMA teacher kept beside the round's policy.
/// - `best`: a stable snapshot refreshed only on improvement (CGTR, arXiv 2606.03532): the
///   policy of the round `k <= round` with the highest validation greedy pass@1 in its eval
///   record (never the test split), ties going to the earlier round, so the teacher changes only
///   when a round really improved. Rounds whose policy was rolled back, or that have no eval
///   record yet, never become the teacher.
public enum TeacherSelection {
  /// The round whose policy is the `best` teacher of `round`.
  public static func bestRound(run: Run, round: Int) throws -> Int {
    let rolledBack = Set(try run.manifest().rollbacks)
    var best = 0
    var bestScore = try EvalStage.summary(run: run, round: 0)?.validation.greedyPass1 ?? -1
    if round >= 1 {
      for k in 1...round where !rolledBack.contains(k) {
        if let score = try EvalStage.summary(run: run, round: k)?.validation.greedyPass1, score > bestScore {
          best = k
          bestScore = score
        }
      }
    }
    return best
  }

  /// The teacher's weights for `round`; `current` is the round's policy when already loaded.
  public static func teacher(run: Run, round: Int, current: Transformer? = nil) throws -> Transformer {
    let store = PolicyStore(run: run)
    switch run.spec.distill.teacher {
    case .base:
      if round == 0, let current { return current }
      return try store.load(round: 0)
    case .roundStart:
      if let current { return current }
      return try store.load(round: round)
    case .ema: return try store.load(round: round, kind: .ema)
    case .best:
      let k = try bestRound(run: run, round: round)
      if k == round, let current { return current }
      return try store.load(round: k)
    }
  }
}
