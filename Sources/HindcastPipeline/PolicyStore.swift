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

  public func exists(round: Int) throws -> Bool {
    try run.manifest().units[run.layout.policyName(round: round)] != nil
  }

  /// The policy that starts `round` (round 0 is the base policy).
  public func load(round: Int) throws -> Transformer {
    let name = run.layout.policyName(round: round)
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

  /// Writes the policy for `round` atomically and records it in the manifest.
  public func save(_ model: Transformer, round: Int, training: TrainingSnapshot? = nil) throws {
    let name = run.layout.policyName(round: round)
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
