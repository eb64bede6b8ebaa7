import Foundation
import HindcastPipeline
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Curve arithmetic, the sweep rule, the computed conclusion and the SVG, on synthetic runs.
@Suite struct ExperimentAnalysisTests {
  /// An eval whose test greedy pass@1 is `pass` and whose validation greedy pass@1 is
  /// `validation` (default: `pass`).
  static func eval(_ round: Int, _ pass: Double, sampled: Double = 0.1, validation: Double? = nil) throws
    -> EvalSummary
  {
    let json = """
      {"round": \(round), "family": "arith", "split": "test", "tasks": 100, "greedy_pass1": \(pass),
       "sampled_pass1": \(sampled), "pass_at_k": 0.5, "samples": 4, "sampled_tasks": 100,
       "greedy_standard_error": 0.04,
       "validation": {"tasks": 50, "greedy_pass1": \(validation ?? pass), "greedy_standard_error": 0.05}}
      """
    return try JSONDecoder().decode(EvalSummary.self, from: Data(json.utf8))
  }

  /// A run whose round r costs `callsPerRound` environment calls and reaches `passes[r]`.
  static func run(_ arm: ExperimentArm, seed: UInt64, passes: [Double], callsPerRound: Int) throws
    -> RunRecord
  {
    var ledger = LedgerTotals()
    ledger.environmentCalls = callsPerRound
    ledger.generatedTokens = 10 * callsPerRound
    ledger.wallSeconds = 2
    return RunRecord(
      arm: arm, learningRate: 1e-4, seed: seed, directory: "x", rounds: passes.count - 1,
      evals: try passes.enumerated().map { try eval($0.offset, $0.element) },
      ledger: Array(repeating: ledger, count: passes.count - 1), distillMeanLoss: [0: 0.5, 1: 0.25])
  }

  @Test func meanAndStandardErrorMatchHandComputedValues() {
    let (mean, se) = meanAndStandardError([0.2, 0.4, 0.6])
    #expect(abs(mean - 0.4) < 1e-12)
    #expect(abs(se - 0.2 / 3.0.squareRoot()) < 1e-12)
    #expect(meanAndStandardError([0.3]).standardError == 0)
  }

  @Test func curvesAverageSeedsAndInterpolateCrossings() throws {
    let runs = [
      try Self.run(.sdpo, seed: 1, passes: [0.1, 0.3, 0.5], callsPerRound: 100),
      try Self.run(.sdpo, seed: 2, passes: [0.1, 0.5, 0.7], callsPerRound: 120),
    ]
    let curve = CurveMath.meanCurve(runs)
    #expect(curve.map(\.round) == [0, 1, 2])
    #expect(curve.map(\.calls) == [0, 110, 220])
    #expect(abs(curve[1].pass1 - 0.4) < 1e-12)
    #expect(abs(curve[1].standardError - 0.1) < 1e-12)
    #expect(curve[1].distillLoss == 0.5)
    // 0.5 lies halfway between 0.4 (110 calls) and 0.6 (220 calls).
    #expect(abs((CurveMath.callsToReach(0.5, on: curve) ?? -1) - 165) < 1e-9)
    #expect(CurveMath.callsToReach(0.1, on: curve) == 0)
    #expect(CurveMath.callsToReach(0.61, on: curve) == nil)
    #expect(abs((CurveMath.pass1(atCalls: 55, on: curve) ?? -1) - 0.25) < 1e-12)
    #expect(CurveMath.pass1(atCalls: 221, on: curve) == nil)
    // A single seed falls back to the eval's binomial standard error.
    #expect(CurveMath.meanCurve([runs[0]])[1].standardError == 0.04)
  }

  @Test func sweepPicksTheBestFinalThenTheBetterMeanAndWaitsForIncompleteRuns() throws {
    let a = try Self.run(.grpo, seed: 1, passes: [0.1, 0.2, 0.4], callsPerRound: 10)
    let b = try Self.run(.grpo, seed: 1, passes: [0.1, 0.35, 0.4], callsPerRound: 10)
    let c = try Self.run(.grpo, seed: 1, passes: [0.1, 0.5, 0.3], callsPerRound: 10)
    let choice = SweepChoice.choose(arm: .grpo, seed: 1, runs: [(1e-5, a), (1e-4, b), (1e-3, c)])
    #expect(choice.chosen == 1e-4)
    var incomplete = c
    incomplete.evals.removeLast()
    #expect(SweepChoice.choose(arm: .grpo, seed: 1, runs: [(1e-5, a), (1e-3, incomplete)]).chosen == nil)
    #expect(SweepChoice.choose(arm: .grpo, seed: 1, runs: [(1e-5, a), (1e-3, nil)]).chosen == nil)
  }

  /// The sweep looks at validation only: a run that is better on test but worse on validation
  /// loses.
  @Test func sweepChoosesOnValidationNotTest() throws {
    func run(test: Double, validation: Double) throws -> RunRecord {
      var record = try Self.run(.grpo, seed: 1000, passes: [0.1, 0.2], callsPerRound: 10)
      record.evals[1] = try Self.eval(1, test, validation: validation)
      return record
    }
    let testBetter = try run(test: 0.9, validation: 0.2)
    let validationBetter = try run(test: 0.3, validation: 0.4)
    let choice = SweepChoice.choose(
      arm: .grpo, seed: 1000, runs: [(1e-5, testBetter), (1e-4, validationBetter)])
    #expect(choice.chosen == 1e-4)
    #expect(choice.candidates.map(\.finalValidationPass1) == [0.2, 0.4])
  }

  func family(_ arms: [ArmResult]) throws -> FamilyResult {
    let spec = try ExperimentSpec.parse(
      text: "base = \"b.toml\"\narms = [\"sdpo\", \"grpo\"]\n[guard]\ncollapse_margin = 0.1\n",
      source: "e.toml")
    return FamilyResult(
      name: "e", family: "arith", directory: "runs/e", spec: spec, arms: arms, sweeps: [], basePass1: 0.1,
      pretrainWallSeconds: 3, testTasks: 100, validationTasks: 50)
  }

  @Test func conclusionIsComputedFromTheNumbersEitherWay() throws {
    let seeds: [UInt64] = [1, 2, 3]
    // sdpo climbs fast on 200 calls per round; grpo slowly on 100.
    let sdpo = ArmResult(
      arm: .sdpo, learningRate: 1e-4,
      runs: try seeds.map {
        try Self.run(.sdpo, seed: $0, passes: [0.1, 0.6 + 0.01 * Double($0), 0.8], callsPerRound: 200)
      })
    let grpo = ArmResult(
      arm: .grpo, learningRate: 1e-4,
      runs: try seeds.map {
        try Self.run(
          .grpo, seed: $0, passes: [0.1, 0.15, 0.2 + 0.01 * Double($0), 0.3, 0.32], callsPerRound: 100)
      })
    let result = try family([sdpo, grpo])
    let conclusion = FamilyConclusion(result)
    #expect(conclusion.baseline == .grpo)
    #expect(abs((result.target ?? 0) - 0.32) < 1e-12)
    // grpo first reaches 0.32 at its last eval (400 calls); sdpo crosses 0.32 between 0 and 200.
    let sdpoCalls = try #require(result.callsToTarget(sdpo))
    #expect(abs(sdpoCalls - 200 * (0.32 - 0.1) / (0.62 - 0.1)) < 1e-6)
    #expect(abs((result.speedup(sdpo) ?? 0) - 400 / sdpoCalls) < 1e-9)
    #expect(conclusion.meetsSpeedupGoal)
    #expect(conclusion.verdict == .better)
    #expect(result.equalBudgetCalls == 400)
    #expect(FamilyConclusion.overall([conclusion]).contains("**met**"))

    // The same numbers with the roles swapped must say the opposite.
    let slow = ArmResult(
      arm: .sdpo, learningRate: 1e-4,
      runs: grpo.runs.map {
        var r = $0; r.arm = .sdpo; return r
      })
    let fast = ArmResult(
      arm: .grpo, learningRate: 1e-4,
      runs: sdpo.runs.map {
        var r = $0; r.arm = .grpo; return r
      })
    let swapped = FamilyConclusion(try family([slow, fast]))
    #expect(!swapped.meetsSpeedupGoal)
    #expect(swapped.verdict == .worse)
    #expect(FamilyConclusion.overall([swapped]).contains("**not met**"))
    #expect(swapped.sentences.joined().contains("No feedback arm reached"))
  }

  @Test func collapseIsFlaggedBeyondTheMargin() throws {
    let arm = ArmResult(
      arm: .sdpoAllRoundStart, learningRate: 1e-4,
      runs: [try Self.run(.sdpoAllRoundStart, seed: 1, passes: [0.2, 0.5, 0.35], callsPerRound: 10)])
    #expect(arm.collapsed(margin: 0.1))
    #expect(!arm.collapsed(margin: 0.2))
    let markdown = ExperimentReport.markdown(
      [try family([arm])], plotNames: ["p.svg"], command: "hindcast report x")
    #expect(markdown.contains("**collapse**"))
    #expect(markdown.contains("hindcast report x"))
  }

  @Test func plotIsWellFormedXMLWithOneLinePerArm() throws {
    let arms = try [ExperimentArm.sdpo, .grpo, .rft].map { arm in
      ArmResult(
        arm: arm, learningRate: 1e-4,
        runs: try [1, 2].map {
          try Self.run(arm, seed: $0, passes: [0.1, 0.2, 0.3 + 0.05 * Double($0)], callsPerRound: 64)
        })
    }
    let svg = ExperimentReport.plot(try family(arms)).render()
    let delegate = ElementCounter()
    let parser = XMLParser(data: Data(svg.utf8))
    parser.delegate = delegate
    #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
    #expect(delegate.counts["svg"] == 1)
    #expect(delegate.counts["polyline"] == 3)
    #expect(delegate.counts["polygon"] == 3)
    #expect(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""))
    #expect(svg.contains("grpo"))
  }
}

/// Counts XML elements by name.
final class ElementCounter: NSObject, XMLParserDelegate {
  var counts: [String: Int] = [:]

  func parser(
    _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
    attributes: [String: String] = [:]
  ) {
    counts[elementName, default: 0] += 1
  }
}
