import Foundation

/// The statistics of an experiment's comparisons. Arms share the base policy, the seeds and the
/// tasks, so two arms are compared paired by seed: the per-seed difference of their final test
/// greedy pass@1, its mean and a Student-t interval over seeds.
public enum ExperimentStatistics {
  /// A mean with its two-sided confidence interval over `count` values (a Student-t interval with
  /// `count - 1` degrees of freedom).
  public struct Interval: Sendable, Equatable {
    public var mean: Double
    public var lower: Double
    public var upper: Double
    public var count: Int
    /// Standard error of the mean (sample standard deviation / sqrt(count)).
    public var standardError: Double
    /// Two-sided p-value of "the true mean is 0" (one-sample t test).
    public var pValue: Double

    /// Whether the whole interval lies above zero (below zero: `upper < 0`).
    public var isAboveZero: Bool { lower > 0 }
    public var isBelowZero: Bool { upper < 0 }
  }

  /// P(|T| <= t) for Student's t distribution with `degreesOfFreedom` (>= 1), in closed form for
  /// integer degrees of freedom (Abramowitz & Stegun 26.7.3 and 26.7.4). NaN for `df` < 1.
  public static func centralProbability(t: Double, degreesOfFreedom df: Int) -> Double {
    guard df >= 1 else { return .nan }
    let x = abs(t)
    guard x.isFinite else { return x.isNaN ? .nan : 1 }
    let theta = atan(x / Double(df).squareRoot())
    let s = sin(theta)
    let c2 = cos(theta) * cos(theta)
    if df % 2 == 1 {
      guard df > 1 else { return 2 * theta / .pi }
      var term = cos(theta)
      var sum = term
      var k = 1
      while 2 * k + 1 <= df - 2 {
        term *= c2 * Double(2 * k) / Double(2 * k + 1)
        sum += term
        k += 1
      }
      return min(1, 2 / .pi * (theta + s * sum))
    }
    var term = 1.0
    var sum = term
    var k = 1
    while 2 * k <= df - 2 {
      term *= c2 * Double(2 * k - 1) / Double(2 * k)
      sum += term
      k += 1
    }
    return min(1, s * sum)
  }

  /// The t with P(|T| <= t) = `level` (for level 0.95: the 97.5% quantile), by bisection on
  /// `centralProbability` to a relative precision of about 1e-12. NaN unless 0 < level < 1 and
  /// `df` >= 1.
  public static func tQuantile(level: Double, degreesOfFreedom df: Int) -> Double {
    guard level > 0, level < 1, df >= 1 else { return .nan }
    var low = 0.0
    var high = 1.0
    while centralProbability(t: high, degreesOfFreedom: df) < level { high *= 2 }
    for _ in 0..<200 {
      let middle = (low + high) / 2
      if centralProbability(t: middle, degreesOfFreedom: df) < level { low = middle } else { high = middle }
      if high - low <= 1e-13 * high { break }
    }
    return (low + high) / 2
  }

  /// The mean of `values` with its `level` Student-t interval; nil for fewer than two values
  /// (no spread to estimate: report "n/a"). With zero spread the interval is the mean itself.
  public static func meanInterval(_ values: [Double], level: Double = 0.95) -> Interval? {
    guard values.count >= 2 else { return nil }
    let (mean, standardError) = meanAndStandardError(values)
    let df = values.count - 1
    let half = tQuantile(level: level, degreesOfFreedom: df) * standardError
    let pValue: Double
    if standardError > 0 {
      pValue = 1 - centralProbability(t: mean / standardError, degreesOfFreedom: df)
    } else {
      pValue = mean == 0 ? 1 : 0
    }
    return Interval(
      mean: mean, lower: mean - half, upper: mean + half, count: values.count, standardError: standardError,
      pValue: max(0, min(1, pValue)))
  }

  /// A paired comparison of arm A against arm B over the seeds both have a value for.
  public struct PairedDifference: Sendable, Equatable {
    /// Seeds present in both arms, ascending.
    public var seeds: [UInt64]
    /// A's value minus B's, per seed in `seeds` order.
    public var differences: [Double]
    /// Mean difference and its interval; nil with fewer than two paired seeds.
    public var interval: Interval?
    /// The mean difference (also with a single paired seed); nil with none.
    public var meanDifference: Double? {
      differences.isEmpty ? nil : differences.reduce(0, +) / Double(differences.count)
    }
  }

  /// `a[seed] - b[seed]` for every seed in both, with the `level` interval of the mean difference.
  public static func paired(_ a: [UInt64: Double], _ b: [UInt64: Double], level: Double = 0.95)
    -> PairedDifference
  {
    let seeds = Set(a.keys).intersection(b.keys).sorted()
    let differences = seeds.map { (a[$0] ?? 0) - (b[$0] ?? 0) }
    return PairedDifference(
      seeds: seeds, differences: differences, interval: meanInterval(differences, level: level))
  }

  /// Holm's step-down adjustment of `pValues` (family-wise error control over all of them), in
  /// the input order: the i-th smallest p is multiplied by (m - i + 1), made monotone, capped at 1.
  public static func holm(_ pValues: [Double]) -> [Double] {
    let m = pValues.count
    let order = pValues.indices.sorted { (pValues[$0], $0) < (pValues[$1], $1) }
    var adjusted = Array(repeating: 1.0, count: m)
    var running = 0.0
    for (rank, index) in order.enumerated() {
      running = max(running, min(1, Double(m - rank) * pValues[index]))
      adjusted[index] = running
    }
    return adjusted
  }
}
