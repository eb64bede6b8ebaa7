import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTraining

/// Loads and saves the run's policy checkpoints (`policy/round-NNNN`). A checkpoint counts only
/// once the manifest lists it (with the hash of its `DONE` marker).
public struct PolicyStore {
  public let run: Run

  public init(run: Run) { self.run = run }

  /// Which checkpoint of a round: the policy itself, or the EMA teacher kept beside it.
  public enum Kind: Sendable { case policy, ema }

  func name(_ kind: Kind, round: Int) -> String {
    kind == .policy ? run.layout.policyName(round: round) : run.layout.emaName(round: round)
  }

  public func exists(round: Int, kind: Kind = .policy) throws -> Bool {
    try run.manifest().units[name(kind, round: round)] != nil
  }

  /// The policy that starts `round` (round 0 is the base policy), or its EMA teacher. The EMA
  /// teacher of round 0 is the base policy.
  public func load(round: Int, kind: Kind = .policy) throws -> Transformer {
    if kind == .ema, round == 0 { return try load(round: 0) }
    let name = name(kind, round: round)
    guard let unit = try run.manifest().units[name] else {
      let hint =
        round == 0
        ? "run `hindcast pretrain --run \(run.layout.root)` first"
        : "run `hindcast distill --run \(run.layout.root) --round \(round - 1)` first"
      throw HindcastError(
        .missingPrerequisite, "the run has no policy for round \(round)", location: run.layout.root,
        hint: hint)
    }
    let directory = run.layout.path(name)
    let marker = try AtomicFile.read(directory + "/" + CheckpointIO.FileName.done)
    guard SHA256.hex(marker) == unit.sha256 else {
      throw HindcastError(
        .corruptFile, "policy checkpoint does not match the manifest", location: directory,
        hint: "the checkpoint was replaced or damaged; rerun the stage that wrote it")
    }
    let weights = try CheckpointIO.readWeights(directory)
    return try Transformer(config: weights.config, parameters: weights.parameters)
  }

  /// Writes the policy (or EMA teacher) for `round` atomically and records it in the manifest.
  public func save(_ model: Transformer, round: Int, kind: Kind = .policy, training: TrainingSnapshot? = nil)
    throws
  {
    let name = name(kind, round: round)
    let directory = run.layout.path(name)
    try CheckpointIO.write(
      Checkpoint(
        weights: try ModelWeights(config: model.config, parameters: model.parameters), training: training),
      to: directory)
    let marker = try AtomicFile.read(directory + "/" + CheckpointIO.FileName.done)
    try run.withManifest { manifest in
      manifest.units[name] = RunManifest.Unit(path: name, sha256: SHA256.hex(marker), records: 0)
    }
  }
}
