import Foundation

/// The measured answer of one family, computed from the numbers (never hand-written).
///
/// **Confirmatory**: the primary arm (named in the spec before anything ran) against the tuned
/// baseline (chosen on validation): the paired-by-seed difference of final test greedy pass@1
/// with its 95% interval, and the environment calls each needs to reach the baseline's final
/// accuracy. **Exploratory**: the best of all feedback arms (fastest to the target, best at equal
/// budget), picked after seeing test, so labelled as such and never part of the verdict.
public struct FamilyConclusion: Sendable {
  /// How many times fewer calls the primary arm must need to meet the issue's goal.
  public static let goalSpeedup = 4.0

  /// Where the primary arm's paired 95% interval lies relative to zero.
  public enum Verdict: String, Sendable {
    case above = "above zero", includesZero = "includes zero", below = "below zero"
  }

  /// Exploratory equal-budget verdict (best feedback arm vs the baseline, 2 combined SEs).
  public enum Noise: String, Sendable {
    case better = "better than", tied = "within noise of", worse = "worse than"
  }

  public var family: String
  public var primary: String
  public var baseline: ExperimentArm?
  public var target: Double?
  /// The primary arm's paired comparison with the tuned baseline.
  public var primaryComparison: BaselineComparison?
  /// nil when the interval is not available (fewer than 2 paired seeds).
  public var verdict: Verdict?
  /// Calls the primary arm needs to reach the target; the baseline's own; their ratio.
  public var primaryCalls: Double?
  public var baselineCalls: Double?
  public var primarySpeedup: Double?
  /// Paired comparisons made against the baseline (1 confirmatory + the exploratory ones).
  public var comparisonCount: Int
  public var collapsed: [String]
  /// The confirmatory sentences.
  public var sentences: [String]
  /// Best-of-arms sentences, each labelled exploratory.
  public var exploratory: [String]
  /// The exploratory equal-budget judgement of the best feedback arm.
  public var exploratoryNoise: Noise?

  public var meetsSpeedupGoal: Bool { (primarySpeedup ?? 0) >= Self.goalSpeedup }
  public var primaryAboveZero: Bool { verdict == .above }

  static func percent(_ value: Double) -> String { String(format: "%.1f%%", 100 * value) }
  static func points(_ value: Double) -> String { String(format: "%+.1f", 100 * value) }

  /// "x% [lo, hi]" (95% interval) or "x% (n/a: 1 seed)".
  static func withInterval(_ mean: Double, _ interval: ExperimentStatistics.Interval?) -> String {
    guard let interval else { return percent(mean) + " (95% interval n/a: fewer than 2 seeds)" }
    return percent(interval.mean) + " [" + percent(interval.lower) + ", " + percent(interval.upper) + "]"
  }

  public init(_ result: FamilyResult) {
    family = result.family
    primary = result.spec.primary
    collapsed = result.arms.filter { $0.collapsed(margin: result.spec.collapseMargin) }.map(\.arm.name)
    sentences = []
    exploratory = []
    let comparisons = result.comparisons
    comparisonCount = comparisons.count
    guard let baselineArm = result.tunedBaseline, let target = result.target,
      let baselineFinal = baselineArm.final
    else {
      sentences.append(
        "\(family): no complete scalar-reward baseline (an arm with baseline = true), so there is nothing to "
          + "compare the primary arm \(primary) against.")
      return
    }
    baseline = baselineArm.arm
    self.target = target
    baselineCalls = result.callsToTarget(baselineArm)
    let name = baselineArm.arm.name
    let candidates = result.arms.filter { $0.arm.isBaseline && $0.finalValidationPass1 != nil }
    let choice =
      candidates.count > 1
      ? "chosen on validation among "
        + candidates.map { "\($0.arm.name) \(Self.percent($0.finalValidationPass1 ?? 0))" }.joined(
          separator: ", ") + " (mean final validation greedy pass@1 over the reported seeds)"
      : "the only baseline arm"
    sentences.append(
      "\(family): tuned baseline \(name) (\(choice)): final test greedy pass@1 "
        + Self.withInterval(target, baselineArm.finalInterval) + " after "
        + "\(Int(baselineFinal.calls.rounded())) environment calls (base policy "
        + "\(result.basePass1.map(Self.percent) ?? "n/a")).")
    guard let primaryArm = result.primary, let primaryFinal = primaryArm.final,
      let comparison = comparisons.first(where: \.isPrimary)
    else {
      sentences.append("The primary arm \(primary) has no complete run yet.")
      return
    }
    primaryComparison = comparison
    let paired = comparison.difference
    var line =
      "Primary arm \(primary) (named before the runs): final test greedy pass@1 "
      + Self.withInterval(primaryFinal.pass1, primaryArm.finalInterval) + " after "
      + "\(Int(primaryFinal.calls.rounded())) environment calls. "
    if let interval = paired.interval {
      let verdict: Verdict = interval.isAboveZero ? .above : interval.isBelowZero ? .below : .includesZero
      self.verdict = verdict
      line +=
        "Paired by seed (\(paired.seeds.count) seeds), \(primary) − \(name) = \(Self.points(interval.mean)) points, "
        + "95% interval [\(Self.points(interval.lower)), \(Self.points(interval.upper))]: **\(verdict.rawValue)**."
    } else if let mean = paired.meanDifference {
      line +=
        "Paired by seed, \(primary) − \(name) = \(Self.points(mean)) points on \(paired.seeds.count) seed: "
        + "95% interval n/a (needs at least 2 paired seeds)."
    } else {
      line += "No seed has complete runs of both arms, so there is no paired difference yet."
    }
    sentences.append(line)
    sentences.append(callsSentence(result, primaryArm: primaryArm, baselineArm: baselineArm, target: target))
    sentences.append(
      "Comparisons made: \(comparisonCount) paired comparison\(comparisonCount == 1 ? "" : "s") against \(name) "
        + "(1 confirmatory: the primary arm; \(comparisonCount - 1) exploratory). Intervals are 95% t-intervals over "
        + "seeds, not corrected for multiplicity; the comparisons table adds Holm-adjusted p-values over all "
        + "\(comparisonCount).")
    exploratoryFindings(result, baselineArm: baselineArm, target: target)
    if !collapsed.isEmpty {
      sentences.append(
        "Collapse guard: \(collapsed.joined(separator: ", ")) ended more than "
          + "\(Self.percent(result.spec.collapseMargin)) below its best round (see the guard table).")
    }
  }

  /// The calls-to-reach comparison of the primary arm (confirmatory, descriptive: no interval).
  mutating func callsSentence(
    _ result: FamilyResult, primaryArm: ArmResult, baselineArm: ArmResult, target: Double
  ) -> String {
    let name = baselineArm.arm.name
    if let start = baselineArm.curve.first, target <= start.pass1 {
      return
        "\(name) did not improve on its starting accuracy (\(Self.percent(start.pass1))), so reaching its final "
        + "accuracy takes no calls and the calls ratio says nothing."
    }
    guard let calls = result.callsToTarget(primaryArm) else {
      return
        "\(primary) did not reach \(name)'s final accuracy \(Self.percent(target)) within the budget "
        + "(goal: \(Int(Self.goalSpeedup))× fewer calls): not met."
    }
    primaryCalls = calls
    primarySpeedup = result.speedup(primaryArm)
    let ratio: String
    if let speedup = primarySpeedup {
      ratio =
        speedup >= 1
        ? String(format: "%.2f× fewer calls", speedup) : String(format: "%.2f× more calls", 1 / speedup)
    } else {
      ratio = "the base policy was already there"
    }
    let theirs = Int((baselineCalls ?? baselineArm.final?.calls ?? 0).rounded())
    return
      "Calls to reach \(name)'s final accuracy \(Self.percent(target)) (mean curves): \(primary) "
      + "\(Int(calls.rounded())) against \(theirs) for \(name) (\(ratio)); the goal of "
      + "\(Int(Self.goalSpeedup))× fewer calls is " + (meetsSpeedupGoal ? "met." : "not met.")
  }

  /// Best-of-arms findings, labelled exploratory: the fastest feedback arm and the best one at
  /// equal budget, both picked after seeing test.
  mutating func exploratoryFindings(_ result: FamilyResult, baselineArm: ArmResult, target: Double) {
    let feedbackArms = result.arms.filter { !$0.arm.isBaseline && $0.final != nil }
    let label =
      "Exploratory (best of \(feedbackArms.count) feedback arm\(feedbackArms.count == 1 ? "" : "s"), picked after "
      + "seeing test):"
    let degenerate = baselineArm.curve.first.map { target <= $0.pass1 } ?? false
    let reached = feedbackArms.compactMap { arm in result.callsToTarget(arm).map { (arm, $0) } }
      .sorted { $0.1 < $1.1 }
    if !degenerate, let (arm, calls) = reached.first {
      let speedup = result.speedup(arm).map { String(format: "%.2f×", $0) } ?? "base"
      exploratory.append(
        "\(label) the fastest to reach \(Self.percent(target)) is \(arm.arm.name), \(Int(calls.rounded())) calls "
          + "(\(speedup) relative to \(baselineArm.arm.name)).")
    }
    guard let calls = result.equalBudgetCalls,
      let yB = CurveMath.pass1(atCalls: calls, on: baselineArm.curve),
      let eB = CurveMath.value(\.standardError, atCalls: calls, on: baselineArm.curve)
    else { return }
    let candidates = feedbackArms.compactMap { arm -> (String, Double, Double)? in
      guard let y = CurveMath.pass1(atCalls: calls, on: arm.curve),
        let e = CurveMath.value(\.standardError, atCalls: calls, on: arm.curve)
      else { return nil }
      return (arm.arm.name, y, e)
    }
    guard let (arm, y, e) = candidates.max(by: { $0.1 < $1.1 }) else { return }
    let noise = 2 * (e * e + eB * eB).squareRoot()
    let difference = y - yB
    let judgement: Noise = difference > noise ? .better : difference < -noise ? .worse : .tied
    exploratoryNoise = judgement
    exploratory.append(
      "\(label) at equal budget (\(Int(calls.rounded())) environment calls, the most every arm reached) the best "
        + "is \(arm) at \(Self.percent(y)) ± \(Self.percent(e)) against \(Self.percent(yB)) ± \(Self.percent(eB)) "
        + "for \(baselineArm.arm.name): \(judgement.rawValue) the baseline "
        + String(
          format: "(difference %+.1f points; 2 combined standard errors = %.1f).", 100 * difference,
          100 * noise))
  }

  /// The overall verdict over several families, as one paragraph (primary arms only).
  public static func overall(_ conclusions: [FamilyConclusion]) -> String {
    let compared = conclusions.filter { $0.baseline != nil }
    guard !compared.isEmpty else { return "No family has a complete baseline to compare against." }
    let speedupFamilies = compared.filter(\.meetsSpeedupGoal).map(\.family)
    let aboveFamilies = compared.filter(\.primaryAboveZero).map(\.family)
    let met = !speedupFamilies.isEmpty && aboveFamilies.count == compared.count
    var text =
      "Goal (the primary arm reaches the tuned baseline's final accuracy with at least \(Int(goalSpeedup))× fewer "
      + "environment calls on at least one family, and its paired 95% interval of final test greedy pass@1 "
      + "against the baseline lies above zero on every family): " + (met ? "**met**." : "**not met**.")
    text +=
      " \(Int(goalSpeedup))× fewer calls on: "
      + (speedupFamilies.isEmpty ? "no family" : speedupFamilies.joined(separator: ", "))
      + "; paired interval above zero on \(aboveFamilies.count) of \(compared.count) "
      + "famil\(compared.count == 1 ? "y" : "ies")"
      + (aboveFamilies.isEmpty ? "" : " (" + aboveFamilies.joined(separator: ", ") + ")") + "."
    return text
  }
}
