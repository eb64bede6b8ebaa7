import Foundation

/// Paths inside a run directory (see docs/formats.md):
///
///     RUN/pipeline.toml   RUN/manifest.json   RUN/metrics.jsonl   RUN/.lock
///     RUN/policy/round-NNNN/                 policy checkpoints (round 0 = the base policy)
///     RUN/rNNNN/STAGE/shard-NNNNN.jsonl.zst  stage shards
///     RUN/rNNNN/eval.json                    eval summary of the policy that starts round N
///     RUN/memory/                            experiential memory store
public struct RunLayout: Sendable {
  public let root: String

  public init(root: String) {
    self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
  }

  public static func roundName(_ round: Int) -> String { String(format: "r%04d", round) }

  /// Whether `name` is a round directory's name (`r` and at least four digits, as `roundName`).
  public static func isRoundName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    return bytes.count >= 5 && bytes[0] == UInt8(ascii: "r")
      && bytes.dropFirst().allSatisfy { $0 >= 48 && $0 <= 57 }
  }

  public var spec: String { root + "/pipeline.toml" }
  public var manifest: String { root + "/manifest.json" }
  public var metrics: String { root + "/metrics.jsonl" }
  public var lock: String { root + "/.lock" }
  public var memory: String { root + "/memory" }
  public var claims: String { root + "/.claims" }

  public func policyName(round: Int) -> String { String(format: "policy/round-%04d", round) }
  public func policy(round: Int) -> String { root + "/" + policyName(round: round) }
  /// The EMA teacher's weights at the start of `round` (only with `distill.teacher = "ema"`).
  public func emaName(round: Int) -> String { String(format: "policy/ema-%04d", round) }

  public func shardName(round: Int, stage: StageName, shard: Int) -> String {
    "\(Self.roundName(round))/\(stage.rawValue)/shard-\(String(format: "%05d", shard)).jsonl.zst"
  }

  public func evalName(round: Int) -> String { "\(Self.roundName(round))/eval.json" }

  public func path(_ relative: String) -> String { root + "/" + relative }
}
