import HindcastPipeline
import Testing

@testable import HindcastCLI

/// The run table's final figure is the policy in force at the end, whichever policy the guard
/// restored.
@Suite struct EvalTableTests {
  /// Round `round`'s eval with validation greedy pass@1 `validation` and test greedy `test`.
  func summary(_ round: Int, validation: Double, test: Double) -> EvalSummary {
    EvalSummary(
      round: round, family: "arith", tasks: 1000, greedyPass1: test, sampledPass1: test, passAtK: test,
      samples: 4, sampledTasks: 200, greedyStandardError: 0.015,
      validation: EvalSummary.Validation(tasks: 200, greedyPass1: validation, greedyStandardError: 0.03))
  }

  /// Round 1 is the best on validation, round 3 is rolled back: with `previous` round 2's policy
  /// stays in force, with `best` round 1's is restored, and the final line says which.
  @Test func theFinalFigureFollowsTheGuardReference() {
    let evals = [
      summary(0, validation: 0.28, test: 0.367), summary(1, validation: 0.31, test: 0.380),
      summary(2, validation: 0.27, test: 0.350), summary(3, validation: 0.20, test: 0.300),
    ]
    let previous = GuardState.replay(evals, rolledBack: [3], reference: .previous)?.inForce
    #expect(previous?.round == 2)
    let best = GuardState.replay(evals, rolledBack: [3], reference: .best)?.inForce
    #expect(best?.round == 1)
    let text = EvalTable.render(evals, title: "t", rolledBack: [3], reference: .best)
    #expect(text.contains("base 36.7% -> final 38.0% (+1.3 points)"))
    #expect(text.contains("the policy of round 1, kept by the guard"))
    #expect(text.contains("rolled back (guard, on validation)"))
    // Nothing rolled back: the last round is final under either reference.
    #expect(GuardState.replay(evals, rolledBack: [], reference: .best)?.inForce.round == 3)
  }
}
