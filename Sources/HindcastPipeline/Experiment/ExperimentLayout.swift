import Foundation

/// Paths inside an experiment directory (see docs/experiments.md):
///
///     OUT/experiment.toml                  the frozen experiment spec
///     OUT/arms.toml                        the frozen arms it runs (resolved [arms.NAME] tables)
///     OUT/base/                            the base run (rounds = 0): the shared base policy
///     OUT/specs/ARM_lr-LR_seed-S.toml      generated pipeline spec of each run
///     OUT/runs/ARM/lr-LR/seed-S/           an ordinary pipeline run directory
///     OUT/sweep.json                       learning-rate sweep results and choices
public struct ExperimentLayout: Sendable {
  public let root: String

  public init(root: String) {
    self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
  }

  public var spec: String { root + "/experiment.toml" }
  public var baseRun: String { root + "/base" }
  /// The shared base policy checkpoint (round 0 of the base run).
  public var basePolicy: String { RunLayout(root: baseRun).policy(round: 0) }
  public var sweep: String { root + "/sweep.json" }
  /// The arms as resolved when the experiment started (`ArmCatalog.render`).
  public var arms: String { root + "/arms.toml" }

  public func runName(arm: String, learningRate: Double, seed: UInt64) -> String {
    "runs/\(arm)/\(ExperimentSpec.label(learningRate: learningRate))/seed-\(seed)"
  }

  public func run(arm: String, learningRate: Double, seed: UInt64) -> String {
    root + "/" + runName(arm: arm, learningRate: learningRate, seed: seed)
  }

  public func runSpec(arm: String, learningRate: Double, seed: UInt64) -> String {
    root + "/specs/\(arm)_\(ExperimentSpec.label(learningRate: learningRate))_seed-\(seed).toml"
  }

  public var baseSpec: String { root + "/specs/base.toml" }
}
