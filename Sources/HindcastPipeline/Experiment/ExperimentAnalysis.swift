import Foundation

/// One point of an arm's mean learning curve: the eval of `round`, averaged over seeds.
public struct CurvePoint: Sendable, Equatable {
  public var round: Int
  /// Mean training environment calls spent before this eval.
  public var calls: Double
  /// Mean training compute (model tokens, `MetricsEvent.modelTokens`) spent before this eval.
  public var modelTokens: Double = 0
  /// Mean test greedy pass@1 over seeds.
  public var pass1: Double
  /// Standard error of `pass1`: over seeds when there are at least two, else the eval's binomial
  /// standard error.
  public var standardError: Double
  /// Mean sampled pass@1 (at the eval temperature) over seeds.
  public var sampledPass1: Double
  /// Mean distill loss of the round that *ends* at this eval (nil for round 0).
  public var distillLoss: Double?
  /// Mean per-token entropy estimate of the policy that starts this round (nats; from its
  /// rollouts; nil for the final round, which has no rollouts).
  public var policyEntropy: Double? = nil
  public var seeds: Int
}

/// Mean and standard error of a sample (standard error 0 for fewer than two values).
public func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
  guard !values.isEmpty else { return (0, 0) }
  let n = Double(values.count)
  let mean = values.reduce(0, +) / n
  guard values.count > 1 else { return (mean, 0) }
  let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
  return (mean, (variance / n).squareRoot())
}

/// Curve arithmetic shared by the report and its tests.
public enum CurveMath {
  /// The mean curve of several runs of one arm over the rounds every run has reached.
  public static func meanCurve(_ runs: [RunRecord]) -> [CurvePoint] {
    guard let shortest = runs.map(\.evals.count).min(), shortest > 0 else { return [] }
    return (0..<shortest).map { round in
      let passes = runs.map { $0.evals[round].greedyPass1 }
      var (mean, se) = meanAndStandardError(passes)
      if runs.count == 1 { se = runs[0].evals[round].greedyStandardError }
      let losses = runs.compactMap { round > 0 ? $0.distillMeanLoss[round - 1] : nil }
      let entropies = runs.compactMap { $0.policyEntropy[round] }
      return CurvePoint(
        round: round,
        calls: runs.reduce(0) { $0 + Double($1.cumulativeCalls(beforeRound: round)) } / Double(runs.count),
        modelTokens: runs.reduce(0) { $0 + Double($1.cumulativeModelTokens(beforeRound: round)) }
          / Double(runs.count),
        pass1: mean, standardError: se,
        sampledPass1: runs.reduce(0) { $0 + $1.evals[round].sampledPass1 } / Double(runs.count),
        distillLoss: losses.isEmpty ? nil : losses.reduce(0, +) / Double(losses.count),
        policyEntropy: entropies.isEmpty ? nil : entropies.reduce(0, +) / Double(entropies.count),
        seeds: runs.count)
    }
  }

  /// Environment calls at which the curve first reaches `target`, interpolated linearly between
  /// the two evals around the crossing; 0 when the first point already reaches it; nil if never.
  public static func callsToReach(_ target: Double, on curve: [CurvePoint]) -> Double? {
    for (index, point) in curve.enumerated() where point.pass1 >= target {
      guard index > 0 else { return point.calls }
      let previous = curve[index - 1]
      let rise = point.pass1 - previous.pass1
      guard rise > 0 else { return point.calls }
      return previous.calls + (target - previous.pass1) / rise * (point.calls - previous.calls)
    }
    return nil
  }

  /// The curve's pass@1 at `calls`, interpolated linearly; nil beyond the curve's last point.
  public static func pass1(atCalls calls: Double, on curve: [CurvePoint]) -> Double? {
    value(\.pass1, atCalls: calls, on: curve)
  }

  /// Any value of the curve at `calls`, interpolated linearly; nil beyond the curve's last point.
  public static func value(_ key: KeyPath<CurvePoint, Double>, atCalls calls: Double, on curve: [CurvePoint])
    -> Double?
  {
    guard let last = curve.last, calls <= last.calls + 1e-9 else { return nil }
    for index in curve.indices.dropFirst() where calls <= curve[index].calls + 1e-9 {
      let a = curve[index - 1]
      let b = curve[index]
      guard b.calls > a.calls else { return b[keyPath: key] }
      if calls <= a.calls { return a[keyPath: key] }
      return a[keyPath: key] + (calls - a.calls) / (b.calls - a.calls) * (b[keyPath: key] - a[keyPath: key])
    }
    return curve.first?[keyPath: key]
  }
}

/// Everything the report says about one arm.
public struct ArmResult: Sendable {
  public var arm: ExperimentArm
  /// The learning rate all seeds ran at (the sweep's choice).
  public var learningRate: Double
  /// Runs at that learning rate, one per seed that has started.
  public var runs: [RunRecord]
  public var curve: [CurvePoint]
  /// Number of runs that reached their final round.
  public var completeRuns: Int { runs.filter(\.isComplete).count }
  public var final: CurvePoint? { curve.last }
  /// The best point of the mean curve (what rolling back to the best round would keep).
  public var best: CurvePoint? { curve.max { $0.pass1 < $1.pass1 } }
  /// Mean training ledger over runs.
  public var meanTotals: LedgerTotals
  public var meanTotalsWall: Double { meanTotals.wallSeconds }

  /// Final test greedy pass@1 of each complete run, by seed (what paired comparisons use).
  public var finalTestBySeed: [UInt64: Double] {
    var values: [UInt64: Double] = [:]
    for run in runs where run.isComplete {
      if let last = run.evals.last { values[run.seed] = last.greedyPass1 }
    }
    return values
  }

  /// Mean final **validation** greedy pass@1 over complete runs: what the tuned baseline is
  /// chosen on (nil without a complete run).
  public var finalValidationPass1: Double? {
    let values = runs.filter(\.isComplete).compactMap { $0.evals.last?.validation.greedyPass1 }
    return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
  }

  /// Mean final test greedy pass@1 over complete runs with its 95% t-interval over seeds (nil
  /// with fewer than two complete runs).
  public var finalInterval: ExperimentStatistics.Interval? {
    ExperimentStatistics.meanInterval(finalTestBySeed.keys.sorted().compactMap { finalTestBySeed[$0] })
  }

  /// Whether the final mean accuracy is more than `margin` below the best round's.
  public func collapsed(margin: Double) -> Bool {
    guard let final, let best else { return false }
    return best.pass1 - final.pass1 > margin + 1e-12
  }

  public init(arm: ExperimentArm, learningRate: Double, runs: [RunRecord]) {
    self.arm = arm
    self.learningRate = learningRate
    self.runs = runs
    curve = CurveMath.meanCurve(runs)
    var sum = LedgerTotals()
    for run in runs { sum += run.totals }
    let n = max(1, runs.count)
    var mean = LedgerTotals()
    mean.environmentCalls = (sum.environmentCalls + n / 2) / n
    mean.rolloutCalls = (sum.rolloutCalls + n / 2) / n
    mean.rewriteCalls = (sum.rewriteCalls + n / 2) / n
    mean.memoryCalls = (sum.memoryCalls + n / 2) / n
    mean.evalCalls = (sum.evalCalls + n / 2) / n
    mean.modelTokens = (sum.modelTokens + n / 2) / n
    mean.generatedTokens = (sum.generatedTokens + n / 2) / n
    mean.teacherScoredTokens = (sum.teacherScoredTokens + n / 2) / n
    mean.trainingTokens = (sum.trainingTokens + n / 2) / n
    mean.wallSeconds = sum.wallSeconds / Double(n)
    meanTotals = mean
  }
}

/// One arm's paired comparison with the tuned baseline.
public struct BaselineComparison: Sendable {
  public var arm: ExperimentArm
  /// The arm's final test greedy pass@1 minus the baseline's, paired by seed.
  public var difference: ExperimentStatistics.PairedDifference
  /// Whether this is the primary arm's comparison (confirmatory); every other is exploratory.
  public var isPrimary: Bool
  /// Holm-adjusted p-value over all comparisons of the family (nil without an interval).
  public var holmPValue: Double?
}

/// The comparison of one experiment (one family): arms, the tuned baseline chosen on validation,
/// the target it sets, the paired comparisons and the equal-budget point.
public struct FamilyResult: Sendable {
  public var name: String
  public var family: String
  public var directory: String
  public var spec: ExperimentSpec
  public var arms: [ArmResult]
  public var sweeps: [SweepChoice]
  /// Greedy pass@1 of the shared base policy (round 0 of the base run).
  public var basePass1: Double?
  public var pretrainWallSeconds: Double
  /// Tasks of the test split (reported) and of the validation split (choices).
  public var testTasks: Int
  public var validationTasks: Int
  /// FLOPs of one model token (a forward pass of one token), from the base spec's model.
  public var flopsPerModelToken: Double?

  public init(
    name: String, family: String, directory: String, spec: ExperimentSpec, arms: [ArmResult],
    sweeps: [SweepChoice], basePass1: Double?, pretrainWallSeconds: Double, testTasks: Int,
    validationTasks: Int
  ) {
    self.name = name
    self.family = family
    self.directory = directory
    self.spec = spec
    self.arms = arms
    self.sweeps = sweeps
    self.basePass1 = basePass1
    self.pretrainWallSeconds = pretrainWallSeconds
    self.testTasks = testTasks
    self.validationTasks = validationTasks
  }

  /// The tuned baseline: among the baseline arms (`baseline = true`) with a complete run, the one
  /// with the best mean final **validation** greedy pass@1 over the reported seeds (each at its
  /// learning rate chosen on validation); ties go to the earlier arm of the spec. Never chosen on
  /// test.
  public var tunedBaseline: ArmResult? {
    var best: ArmResult?
    for arm in arms where arm.arm.isBaseline && arm.final != nil {
      guard let value = arm.finalValidationPass1 else { continue }
      if let current = best?.finalValidationPass1, value <= current { continue }
      best = arm
    }
    return best
  }

  /// The primary arm's result (nil until its sweep is complete).
  public var primary: ArmResult? { arms.first { $0.arm.name == spec.primary } }

  /// Every other arm with a complete run against the tuned baseline, paired by seed on final test
  /// greedy pass@1, in the spec's order; the primary arm's comparison is confirmatory, the rest
  /// exploratory. Holm-adjusted p-values are over all of them.
  public var comparisons: [BaselineComparison] {
    guard let baseline = tunedBaseline else { return [] }
    var result = arms.filter { $0.arm.name != baseline.arm.name && $0.final != nil }.map { arm in
      BaselineComparison(
        arm: arm.arm, difference: ExperimentStatistics.paired(arm.finalTestBySeed, baseline.finalTestBySeed),
        isPrimary: arm.arm.name == spec.primary, holmPValue: nil)
    }
    let tested = result.indices.filter { result[$0].difference.interval != nil }
    let adjusted = ExperimentStatistics.holm(tested.compactMap { result[$0].difference.interval?.pValue })
    for (index, p) in zip(tested, adjusted) { result[index].holmPValue = p }
    return result
  }

  /// The accuracy every arm is asked to reach: the tuned baseline's final mean test pass@1.
  public var target: Double? { tunedBaseline?.final?.pass1 }

  public func callsToTarget(_ arm: ArmResult) -> Double? {
    guard let target else { return nil }
    return CurveMath.callsToReach(target, on: arm.curve)
  }

  /// How many times fewer calls `arm` needs than the tuned baseline to reach the target.
  public func speedup(_ arm: ArmResult) -> Double? {
    guard let baseline = tunedBaseline, let mine = callsToTarget(arm), let theirs = callsToTarget(baseline),
      mine > 0
    else { return nil }
    return theirs / mine
  }

  /// The largest budget every arm reached: the smallest final mean call count over arms.
  public var equalBudgetCalls: Double? {
    arms.compactMap { $0.final?.calls }.min()
  }

  public func pass1AtEqualBudget(_ arm: ArmResult) -> Double? {
    guard let calls = equalBudgetCalls else { return nil }
    return CurveMath.pass1(atCalls: calls, on: arm.curve)
  }
}
