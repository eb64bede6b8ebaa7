/// The stages of a round, in execution order. Raw values are the command names and the
/// directory names under `rNNNN/`.
public enum StageName: String, Codable, CaseIterable, Sendable, Comparable {
  case rollout, feedback, rewrite, memory, distill, eval

  /// The stage whose output this one reads, if any (within the same round).
  public var upstream: StageName? {
    switch self {
    case .rollout, .eval: return nil
    case .feedback: return .rollout
    case .rewrite: return .feedback
    case .memory: return .rewrite
    case .distill: return .rewrite
    }
  }

  /// A stable number for seed derivation (never reorder: seeds and results depend on it).
  public var seedLabel: UInt64 {
    switch self {
    case .rollout: return 1
    case .feedback: return 2
    case .rewrite: return 3
    case .memory: return 4
    case .distill: return 5
    case .eval: return 6
    }
  }

  public static func < (a: StageName, b: StageName) -> Bool { a.seedLabel < b.seedLabel }
}
