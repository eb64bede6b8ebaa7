/// Verified-rewrite outcomes in one arm of the randomized exposure (note included, or withheld).
public struct ArmCounts: Hashable, Sendable {
  public var trials: Int
  public var successes: Int

  public init(trials: Int = 0, successes: Int = 0) {
    self.trials = trials
    self.successes = successes
  }

  public static func + (lhs: ArmCounts, rhs: ArmCounts) -> ArmCounts {
    ArmCounts(trials: lhs.trials + rhs.trials, successes: lhs.successes + rhs.successes)
  }

  /// The Beta posterior of the success rate under a uniform Beta(1, 1) prior.
  public var posterior: BetaPosterior {
    BetaPosterior(alpha: Double(successes) + 1, beta: Double(trials - successes) + 1)
  }
}

/// A Beta(alpha, beta) distribution over a success rate.
public struct BetaPosterior: Hashable, Sendable {
  public var alpha: Double
  public var beta: Double

  public var mean: Double { alpha / (alpha + beta) }

  public var variance: Double {
    let total = alpha + beta
    return alpha * beta / (total * total * (total + 1))
  }
}

/// The evidence about one note: counts in both arms. The only way to change it is an
/// observation event (or a merge, which adds the absorbed note's counts).
public struct ValueEvidence: Hashable, Sendable {
  public var included: ArmCounts
  public var withheld: ArmCounts

  public init(included: ArmCounts = ArmCounts(), withheld: ArmCounts = ArmCounts()) {
    self.included = included
    self.withheld = withheld
  }

  public static func + (lhs: ValueEvidence, rhs: ValueEvidence) -> ValueEvidence {
    ValueEvidence(included: lhs.included + rhs.included, withheld: lhs.withheld + rhs.withheld)
  }

  mutating func record(included wasIncluded: Bool, verified: Bool) {
    if wasIncluded {
      included.trials += 1
      if verified { included.successes += 1 }
    } else {
      withheld.trials += 1
      if verified { withheld.successes += 1 }
    }
  }

  /// All trials in both arms.
  public var trials: Int { included.trials + withheld.trials }

  /// The estimated value (see `ValueEstimate`).
  public var estimate: ValueEstimate { ValueEstimate(self) }
}

/// A note's value: the difference in verified-rewrite success rate with the note in the teacher's
/// context minus without it.
///
/// Each arm's rate has a Beta(1 + successes, 1 + failures) posterior. The difference of the
/// posterior means is the point estimate; its standard deviation is the square root of the sum
/// of the two posterior variances, and the interval is the normal approximation
/// `mean ± z · sd` with z = 1.645 (90%), clipped to [-1, 1]. A note without evidence has mean 0
/// and sd ≈ 0.41, so its interval spans almost everything.
public struct ValueEstimate: Hashable, Sendable {
  /// z for a two-sided 90% normal interval.
  public static let z90 = 1.6448536269514722

  public let mean: Double
  public let standardDeviation: Double
  public let includedRate: Double
  public let withheldRate: Double

  public init(_ evidence: ValueEvidence) {
    let included = evidence.included.posterior
    let withheld = evidence.withheld.posterior
    includedRate = included.mean
    withheldRate = withheld.mean
    mean = included.mean - withheld.mean
    standardDeviation = (included.variance + withheld.variance).squareRoot()
  }

  /// The lower end of the 90% interval.
  public var lower: Double { max(-1, mean - Self.z90 * standardDeviation) }
  /// The upper end of the 90% interval.
  public var upper: Double { min(1, mean + Self.z90 * standardDeviation) }

  /// The optimistic value used for retrieval: `mean + weight · sd`, clipped to [-1, 1]. Untried
  /// notes score high, so they get tried; notes shown to hurt score low.
  public func optimistic(explorationWeight: Double) -> Double {
    min(1, max(-1, mean + explorationWeight * standardDeviation))
  }
}
