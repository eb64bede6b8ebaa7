import Foundation

/// The measured answer of one family, computed from the numbers (never hand-written): does the
/// best feedback arm reach the best baseline's final accuracy with fewer environment calls, and
/// is it better at equal budget?
public struct FamilyConclusion: Sendable {
  /// How many times fewer calls a feedback arm must need to meet the issue's goal.
  public static let goalSpeedup = 4.0

  public enum Verdict: String, Sendable {
    case better = "better than", tied = "within noise of", worse = "worse than"
  }

  public var family: String
  public var baseline: ExperimentArm?
  public var target: Double?
  /// The feedback arm needing the fewest calls to reach the target, with its speed-up.
  public var fastest: (arm: ExperimentArm, calls: Double, speedup: Double?)?
  public var baselineCalls: Double?
  /// The feedback arm with the best pass@1 at the equal budget, and the comparison.
  public var bestAtEqualBudget: (arm: ExperimentArm, pass1: Double, error: Double)?
  public var baselineAtEqualBudget: (pass1: Double, error: Double)?
  public var equalBudgetCalls: Double?
  public var verdict: Verdict?
  public var collapsed: [ExperimentArm]
  public var sentences: [String]

  public var meetsSpeedupGoal: Bool { (fastest?.speedup ?? 0) >= Self.goalSpeedup }
  public var beatsAtEqualBudget: Bool { verdict == .better }

  static func percent(_ value: Double) -> String { String(format: "%.1f%%", 100 * value) }

  public init(_ result: FamilyResult) {
    family = result.family
    collapsed = result.arms.filter { $0.collapsed(margin: result.spec.collapseMargin) }.map(\.arm)
    sentences = []
    equalBudgetCalls = result.equalBudgetCalls
    let feedbackArms = result.arms.filter { !$0.arm.isBaseline && $0.final != nil }
    guard let baselineArm = result.bestBaseline, let target = result.target,
      let baselineFinal = baselineArm.final
    else {
      sentences.append(
        "\(family): no complete scalar-reward baseline (grpo or rft), so there is nothing to compare against."
      )
      return
    }
    baseline = baselineArm.arm
    self.target = target
    baselineCalls = result.callsToTarget(baselineArm)
    sentences.append(
      "\(family): the best scalar-reward baseline is \(baselineArm.arm.rawValue), final test greedy pass@1 "
        + "\(Self.percent(target)) ± \(Self.percent(baselineFinal.standardError)) after "
        + "\(Int(baselineFinal.calls.rounded())) environment calls (base policy \(result.basePass1.map(Self.percent) ?? "n/a"))."
    )
    guard !feedbackArms.isEmpty else {
      sentences.append("No feedback arm has a complete curve yet.")
      return
    }
    let degenerate = baselineArm.curve.first.map { target <= $0.pass1 } ?? false
    if degenerate, let start = baselineArm.curve.first {
      sentences.append(
        "The baseline did not improve on its starting accuracy (\(Self.percent(start.pass1))), so reaching its "
          + "final accuracy takes no calls and the calls ratio says nothing; only the equal-budget comparison "
          + "below is informative.")
    }
    let reached = feedbackArms.compactMap { arm in result.callsToTarget(arm).map { (arm, $0) } }
      .sorted { $0.1 < $1.1 }
    if degenerate {
      // Nothing to reach: see the sentence above.
    } else if let (arm, calls) = reached.first {
      let speedup = result.speedup(arm)
      fastest = (arm.arm, calls, speedup)
      let ratio: String
      if let speedup {
        ratio =
          speedup >= 1
          ? String(format: "%.2f× fewer calls", speedup) : String(format: "%.2f× more calls", 1 / speedup)
      } else {
        ratio = "the base policy was already there"
      }
      sentences.append(
        "The fastest feedback arm to reach it is \(arm.arm.rawValue): \(Int(calls.rounded())) calls against "
          + "\(Int((baselineCalls ?? baselineFinal.calls).rounded())) for \(baselineArm.arm.rawValue) (\(ratio)); "
          + (meetsSpeedupGoal
            ? "that meets the goal of \(Int(Self.goalSpeedup))× fewer calls."
            : "that is short of the goal of \(Int(Self.goalSpeedup))× fewer calls."))
    } else if let best = feedbackArms.max(by: { ($0.final?.pass1 ?? 0) < ($1.final?.pass1 ?? 0) }),
      let final = best.final
    {
      sentences.append(
        "No feedback arm reached \(Self.percent(target)) within the budget; the best, \(best.arm.rawValue), ended at "
          + "\(Self.percent(final.pass1)) ± \(Self.percent(final.standardError)).")
    }
    if let calls = equalBudgetCalls,
      let yB = CurveMath.pass1(atCalls: calls, on: baselineArm.curve),
      let eB = CurveMath.value(\.standardError, atCalls: calls, on: baselineArm.curve)
    {
      baselineAtEqualBudget = (yB, eB)
      let candidates = feedbackArms.compactMap { arm -> (ExperimentArm, Double, Double)? in
        guard let y = CurveMath.pass1(atCalls: calls, on: arm.curve),
          let e = CurveMath.value(\.standardError, atCalls: calls, on: arm.curve)
        else { return nil }
        return (arm.arm, y, e)
      }
      if let (arm, y, e) = candidates.max(by: { $0.1 < $1.1 }) {
        bestAtEqualBudget = (arm, y, e)
        let noise = 2 * (e * e + eB * eB).squareRoot()
        let difference = y - yB
        let verdict: Verdict = difference > noise ? .better : difference < -noise ? .worse : .tied
        self.verdict = verdict
        sentences.append(
          "At equal budget (\(Int(calls.rounded())) environment calls, the most every arm reached) the best feedback arm, "
            + "\(arm.rawValue), scores \(Self.percent(y)) ± \(Self.percent(e)) against \(Self.percent(yB)) ± "
            + "\(Self.percent(eB)) for \(baselineArm.arm.rawValue): \(verdict.rawValue) the baseline "
            + String(
              format: "(difference %+.1f points; 2 combined standard errors = %.1f).", 100 * difference,
              100 * noise))
      }
    }
    if !collapsed.isEmpty {
      sentences.append(
        "Collapse guard: \(collapsed.map(\.rawValue).joined(separator: ", ")) ended more than "
          + "\(Self.percent(result.spec.collapseMargin)) below its best round (see the guard table).")
    }
  }

  /// The overall verdict over several families, as one paragraph.
  public static func overall(_ conclusions: [FamilyConclusion]) -> String {
    let compared = conclusions.filter { $0.baseline != nil }
    guard !compared.isEmpty else { return "No family has a complete baseline to compare against." }
    let speedupFamilies = compared.filter(\.meetsSpeedupGoal).map(\.family)
    let betterFamilies = compared.filter(\.beatsAtEqualBudget).map(\.family)
    let met = !speedupFamilies.isEmpty && betterFamilies.count == compared.count
    var text =
      "Goal (a feedback arm reaches the best baseline's final accuracy with at least \(Int(goalSpeedup))× fewer "
      + "environment calls on at least one family, and beats it at equal budget on every family): "
      + (met ? "**met**." : "**not met**.")
    text +=
      " \(Int(goalSpeedup))× fewer calls on: "
      + (speedupFamilies.isEmpty ? "no family" : speedupFamilies.joined(separator: ", "))
      + "; better at equal budget (beyond 2 standard errors) on \(betterFamilies.count) of \(compared.count) "
      + "famil\(compared.count == 1 ? "y" : "ies")"
      + (betterFamilies.isEmpty ? "" : " (" + betterFamilies.joined(separator: ", ") + ")") + "."
    return text
  }
}
