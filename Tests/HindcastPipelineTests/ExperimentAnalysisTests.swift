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

  /// The arms these tests use, as an experiment spec defines them (inline tables).
  static let armsText = """
    [arms.sdpo]
    summary = "self-distillation"
    baseline = false
    distill.sdpo = 1.0
    [arms.sdpo-all-roundstart]
    summary = "textbook variant"
    baseline = false
    distill.sdpo = 1.0
    distill.teacher = "round-start"
    [arms.grpo]
    summary = "scalar reward"
    baseline = true
    distill.grpo = 1.0
    [arms.rft]
    summary = "own passing samples"
    baseline = true
    distill.rft = 1.0
    """

  static func spec(arms: [String] = ["sdpo", "grpo", "rft", "sdpo-all-roundstart"]) throws -> ExperimentSpec {
    try ExperimentSpec.parse(
      text: "base = \"b.toml\"\narms = [\(arms.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
        + "primary = \"sdpo\"\n[guard]\ncollapse_margin = 0.1\n" + armsText,
      source: "e.toml")
  }

  static func arm(_ name: String) throws -> ExperimentArm {
    try #require(try spec().arms.first { $0.name == name })
  }

  /// A run whose round r costs `callsPerRound` environment calls and reaches `passes[r]` on test
  /// and `validation[r]` on validation (default: the test value).
  static func run(
    _ arm: String, seed: UInt64, passes: [Double], callsPerRound: Int, validation: [Double]? = nil
  ) throws
    -> RunRecord
  {
    var ledger = LedgerTotals()
    ledger.environmentCalls = callsPerRound
    ledger.generatedTokens = 10 * callsPerRound
    ledger.wallSeconds = 2
    return RunRecord(
      arm: arm, learningRate: 1e-4, seed: seed, directory: "x", rounds: passes.count - 1,
      evals: try passes.enumerated().map {
        try eval($0.offset, $0.element, validation: validation?[$0.offset])
      },
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
      try Self.run("sdpo", seed: 1, passes: [0.1, 0.3, 0.5], callsPerRound: 100),
      try Self.run("sdpo", seed: 2, passes: [0.1, 0.5, 0.7], callsPerRound: 120),
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
    let a = try Self.run("grpo", seed: 1, passes: [0.1, 0.2, 0.4], callsPerRound: 10)
    let b = try Self.run("grpo", seed: 1, passes: [0.1, 0.35, 0.4], callsPerRound: 10)
    let c = try Self.run("grpo", seed: 1, passes: [0.1, 0.5, 0.3], callsPerRound: 10)
    let choice = SweepChoice.choose(arm: "grpo", seed: 1, runs: [(1e-5, a), (1e-4, b), (1e-3, c)])
    #expect(choice.chosen == 1e-4)
    var incomplete = c
    incomplete.evals.removeLast()
    #expect(SweepChoice.choose(arm: "grpo", seed: 1, runs: [(1e-5, a), (1e-3, incomplete)]).chosen == nil)
    #expect(SweepChoice.choose(arm: "grpo", seed: 1, runs: [(1e-5, a), (1e-3, nil)]).chosen == nil)
  }

  /// The sweep looks at validation only: a run that is better on test but worse on validation
  /// loses.
  @Test func sweepChoosesOnValidationNotTest() throws {
    func run(test: Double, validation: Double) throws -> RunRecord {
      var record = try Self.run("grpo", seed: 1000, passes: [0.1, 0.2], callsPerRound: 10)
      record.evals[1] = try Self.eval(1, test, validation: validation)
      return record
    }
    let testBetter = try run(test: 0.9, validation: 0.2)
    let validationBetter = try run(test: 0.3, validation: 0.4)
    let choice = SweepChoice.choose(
      arm: "grpo", seed: 1000, runs: [(1e-5, testBetter), (1e-4, validationBetter)])
    #expect(choice.chosen == 1e-4)
    #expect(choice.candidates.map(\.finalValidationPass1) == [0.2, 0.4])
  }

  func family(_ arms: [ArmResult]) throws -> FamilyResult {
    FamilyResult(
      name: "e", family: "arith", directory: "runs/e", spec: try Self.spec(), arms: arms, sweeps: [],
      basePass1: 0.1, pretrainWallSeconds: 3, testTasks: 100, validationTasks: 50)
  }

  // MARK: - Statistics

  /// Two-sided 95% Student-t quantiles from a printed table (to the table's 4 decimals), and the
  /// closed-form coverage they invert.
  @Test func tQuantilesMatchTheTable() {
    let table: [(Int, Double)] = [
      (1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (5, 2.5706), (9, 2.2622), (10, 2.2281),
      (29, 2.0452),
      (100, 1.9840),
    ]
    for (df, value) in table {
      #expect(
        abs(ExperimentStatistics.tQuantile(level: 0.95, degreesOfFreedom: df) - value) < 5e-5, "df \(df)")
    }
    #expect(abs(ExperimentStatistics.tQuantile(level: 0.99, degreesOfFreedom: 4) - 4.6041) < 5e-5)
    // df 1 is the Cauchy distribution: P(|T| <= 1) = 1/2; df 2: P(|T| <= t) = t / sqrt(2 + t^2).
    #expect(abs(ExperimentStatistics.centralProbability(t: 1, degreesOfFreedom: 1) - 0.5) < 1e-12)
    #expect(
      abs(ExperimentStatistics.centralProbability(t: 3, degreesOfFreedom: 2) - 3 / 11.0.squareRoot()) < 1e-12)
    #expect(ExperimentStatistics.centralProbability(t: 0, degreesOfFreedom: 7) == 0)
    #expect(ExperimentStatistics.centralProbability(t: 1, degreesOfFreedom: 0).isNaN)
  }

  /// Known differences give a known t-interval: mean 0.06, s = sqrt(0.001), n = 5, t(0.975, 4).
  @Test func pairedDifferencesGiveTheHandComputedInterval() throws {
    let arm: [UInt64: Double] = [1: 0.32, 2: 0.34, 3: 0.36, 4: 0.38, 5: 0.40, 9: 0.9]
    let baseline: [UInt64: Double] = [1: 0.30, 2: 0.30, 3: 0.30, 4: 0.30, 5: 0.30, 6: 0.1]
    let paired = ExperimentStatistics.paired(arm, baseline)
    #expect(paired.seeds == [1, 2, 3, 4, 5])
    let interval = try #require(paired.interval)
    let se = 0.001.squareRoot() / 5.0.squareRoot()
    let half = 2.776445105 * se
    #expect(abs(interval.mean - 0.06) < 1e-12)
    #expect(abs(interval.standardError - se) < 1e-12)
    #expect(abs(interval.lower - (0.06 - half)) < 1e-8)
    #expect(abs(interval.upper - (0.06 + half)) < 1e-8)
    #expect(interval.isAboveZero && !interval.isBelowZero)
    // t = 0.06 / se = 4.2426 on 4 df: two-sided p = 0.01324 (tables).
    #expect(abs(interval.pValue - 0.01324) < 5e-5)
    // One paired seed: a mean difference but no interval ("n/a").
    let one = ExperimentStatistics.paired([1: 0.5], [1: 0.25, 2: 0.3])
    #expect(one.meanDifference == 0.25)
    #expect(one.interval == nil)
    #expect(ExperimentStatistics.meanInterval([0.4]) == nil)
    // No spread: the interval is the mean itself.
    let flat = try #require(ExperimentStatistics.meanInterval([0.25, 0.25, 0.25]))
    #expect(flat.lower == flat.upper && flat.mean == 0.25 && flat.pValue == 0)
  }

  @Test func holmAdjustsInTheInputOrder() {
    let adjusted = ExperimentStatistics.holm([0.01, 0.04, 0.03])
    #expect(zip(adjusted, [0.03, 0.06, 0.06]).allSatisfy { abs($0 - $1) < 1e-12 })
    #expect(ExperimentStatistics.holm([0.6, 0.5]) == [1, 1])
    #expect(ExperimentStatistics.holm([]) == [])
  }

  // MARK: - Conclusion

  /// sdpo (primary) climbs fast on 200 calls per round; grpo slowly on 100; rft ends best on test
  /// but worst on validation, so the tuned baseline (chosen on validation) is grpo.
  func arms() throws -> (sdpo: ArmResult, grpo: ArmResult, rft: ArmResult) {
    let seeds: [UInt64] = [1, 2, 3]
    let sdpo = ArmResult(
      arm: try Self.arm("sdpo"), learningRate: 1e-4,
      runs: try seeds.map {
        try Self.run(
          "sdpo", seed: $0, passes: [0.1, 0.6 + 0.01 * Double($0), 0.82 + 0.01 * (Double($0) - 2)],
          callsPerRound: 200)
      })
    let grpo = ArmResult(
      arm: try Self.arm("grpo"), learningRate: 1e-4,
      runs: try seeds.map {
        try Self.run(
          "grpo", seed: $0, passes: [0.1, 0.15, 0.2 + 0.01 * Double($0), 0.3, 0.32], callsPerRound: 100)
      })
    let rft = ArmResult(
      arm: try Self.arm("rft"), learningRate: 1e-4,
      runs: try seeds.map {
        try Self.run(
          "rft", seed: $0, passes: [0.1, 0.2, 0.3, 0.4, 0.5], callsPerRound: 100,
          validation: [0.1, 0.1, 0.1, 0.1, 0.1])
      })
    return (sdpo, grpo, rft)
  }

  @Test func conclusionIsComputedForThePrimaryArmAgainstTheBaselineChosenOnValidation() throws {
    let (sdpo, grpo, rft) = try arms()
    let result = try family([sdpo, grpo, rft])
    #expect(result.tunedBaseline?.arm.name == "grpo")
    let conclusion = FamilyConclusion(result)
    #expect(conclusion.baseline?.name == "grpo")
    #expect(abs((result.target ?? 0) - 0.32) < 1e-12)
    // Paired by seed: sdpo − grpo = 0.49, 0.50, 0.51 → mean 0.50, s = 0.01, t(0.975, 2) = 4.302653.
    let primary = try #require(conclusion.primaryComparison)
    #expect(primary.isPrimary && primary.arm.name == "sdpo")
    let interval = try #require(primary.difference.interval)
    let half = 4.302652730 * 0.01 / 3.0.squareRoot()
    #expect(abs(interval.mean - 0.5) < 1e-12)
    #expect(abs(interval.lower - (0.5 - half)) < 1e-8 && abs(interval.upper - (0.5 + half)) < 1e-8)
    #expect(conclusion.verdict == .above)
    #expect(conclusion.comparisonCount == 2)
    // grpo first reaches 0.32 at its last eval (400 calls); sdpo crosses 0.32 between 0 and 200.
    let sdpoCalls = try #require(result.callsToTarget(sdpo))
    #expect(abs(sdpoCalls - 200 * (0.32 - 0.1) / (0.62 - 0.1)) < 1e-6)
    #expect(abs((conclusion.primarySpeedup ?? 0) - 400 / sdpoCalls) < 1e-9)
    #expect(conclusion.meetsSpeedupGoal)
    #expect(conclusion.exploratoryNoise == .better)
    #expect(conclusion.exploratory.allSatisfy { $0.hasPrefix("Exploratory (best of 1 feedback arm,") })
    #expect(result.equalBudgetCalls == 400)
    #expect(FamilyConclusion.overall([conclusion]).contains("**met**"))
    let text = conclusion.sentences.joined(separator: " ")
    #expect(text.contains("tuned baseline grpo (chosen on validation among grpo 32.0%, rft 10.0%"))
    #expect(text.contains("**above zero**"))
    #expect(text.contains("Comparisons made: 2 paired comparisons"))

    let markdown = ExperimentReport.markdown([result], plotNames: ["p.svg"], command: "hindcast report x")
    #expect(markdown.contains("| sdpo | primary | 3 | +50.0 | [+47.5, +52.5] |"), "\(markdown)")
    #expect(markdown.contains("| rft | exploratory | 3 |"))
    #expect(markdown.contains("| sdpo (primary) | 0.0001 | 3 | 82.0% [79.5%, 84.5%] |"))
    #expect(markdown.contains("**chosen on validation**"))
    #expect(markdown.contains("  - Exploratory (best of 1 feedback arm,"))
  }

  @Test func theSameNumbersWithTheRolesSwappedSayTheOpposite() throws {
    let (sdpo, grpo, _) = try arms()
    let slow = ArmResult(
      arm: try Self.arm("sdpo"), learningRate: 1e-4,
      runs: grpo.runs.map {
        var r = $0; r.arm = "sdpo"; return r
      })
    let fast = ArmResult(
      arm: try Self.arm("grpo"), learningRate: 1e-4,
      runs: sdpo.runs.map {
        var r = $0; r.arm = "grpo"; return r
      })
    let swapped = FamilyConclusion(try family([slow, fast]))
    #expect(!swapped.meetsSpeedupGoal)
    #expect(swapped.verdict == .below)
    #expect(swapped.exploratoryNoise == .worse)
    #expect(swapped.comparisonCount == 1)
    #expect(FamilyConclusion.overall([swapped]).contains("**not met**"))
    #expect(swapped.sentences.joined().contains("sdpo did not reach"))
    // One seed: a difference but no interval, and no verdict.
    let one = FamilyConclusion(
      try family([
        ArmResult(arm: sdpo.arm, learningRate: 1e-4, runs: [sdpo.runs[0]]),
        ArmResult(arm: grpo.arm, learningRate: 1e-4, runs: [grpo.runs[0]]),
      ]))
    #expect(one.verdict == nil)
    #expect(one.sentences.joined().contains("95% interval n/a"))
  }

  @Test func collapseIsFlaggedBeyondTheMargin() throws {
    let arm = ArmResult(
      arm: try Self.arm("sdpo-all-roundstart"), learningRate: 1e-4,
      runs: [try Self.run("sdpo-all-roundstart", seed: 1, passes: [0.2, 0.5, 0.35], callsPerRound: 10)])
    #expect(arm.collapsed(margin: 0.1))
    #expect(!arm.collapsed(margin: 0.2))
    let markdown = ExperimentReport.markdown(
      [try family([arm])], plotNames: ["p.svg"], command: "hindcast report x")
    #expect(markdown.contains("**collapse**"))
    #expect(markdown.contains("hindcast report x"))
  }

  @Test func plotIsWellFormedXMLWithOneLinePerArm() throws {
    let arms = try ["sdpo", "grpo", "rft"].map { name in
      ArmResult(
        arm: try Self.arm(name), learningRate: 1e-4,
        runs: try [1, 2].map {
          try Self.run(name, seed: $0, passes: [0.1, 0.2, 0.3 + 0.05 * Double($0)], callsPerRound: 64)
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
