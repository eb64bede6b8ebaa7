import Foundation
import HindcastMemory
import HindcastSupport
import HindcastTasks

/// Memory notes for the rewrite stage's teacher contexts: the store's retrieval (relevance times
/// value, under the token budget the store enforces), never notes from the same task or from
/// held-out tasks. Reads the snapshot pinned for the round (`MemoryPinning`), never the live
/// store, so maintenance (`memory retire`, `restore`, `compact`) after the pin changes nothing a
/// rerun, resume or repair of that round reads.
public struct MemoryNoteSource: NoteSource {
  /// The folded state of the pinned snapshot.
  let state: MemoryState
  /// The spec's budget, capped at the store's `maxRetrievalTokens` (as `MemoryStore.retrieve`).
  let budget: Int

  /// The notes pinned for `round`'s rewrite stage, pinning them first when the round has no pin
  /// yet; nil when the pin is "no memory" (no memory stage had written the store).
  public static func open(run: Run, round: Int) throws -> MemoryNoteSource? {
    let pin = try MemoryPinning.pin(run: run, round: round)
    guard let id = pin.snapshot, let hash = pin.hash else { return nil }
    let store = try MemoryStore.open(at: run.layout.memory, options: .readOnly())
    defer { store.close() }
    let (info, state) = try store.state(at: id)
    guard let info, info.contentHash == hash else {
      throw HindcastError(
        .corruptFile,
        "memory snapshot \(id) pinned for \(RunLayout.roundName(round)) has hash \(info?.contentHash ?? "none") "
          + "in the memory manifest, but the run manifest pinned \(hash)",
        location: run.layout.path(pin.path ?? "memory"),
        hint: "restore the run's memory directory from a backup; a pinned snapshot is never rewritten")
    }
    return MemoryNoteSource(
      state: state, budget: min(run.spec.rewrite.memoryBudgetTokens, store.settings.maxRetrievalTokens))
  }

  public func candidates(for task: TaskRecord, round: Int) throws -> [(id: String, text: String)] {
    state.retrieve(
      family: task.family, features: task.features, excludingTaskIds: [task.id], tokenBudget: budget
    )
    .map { (id: $0.note.id.description, text: $0.note.text) }
  }
}

/// Pins the memory a round's rewrite stage reads (`RunManifest.memoryPins`).
///
/// The first time a round's rewrite stage starts, the run's memory store (if it exists) is
/// compacted, which returns the base snapshot when nothing changed since the last memory stage
/// and otherwise writes a new snapshot that includes the maintenance done since (a note retired
/// before the round starts is not offered in it). The snapshot id, file and content hash are
/// recorded under the run's manifest lock, so concurrent workers agree on one pin. From then on
/// the round reads only that snapshot: snapshots are never deleted or rewritten, so a resumed,
/// repaired or rerun stage builds byte-identical teacher contexts whatever `memory retire`,
/// `restore` or `compact` did meanwhile. A store that does not exist yet pins "no memory".
///
/// A round after the first is pinned only once the memory stage of the round before is complete,
/// so that a rewrite started out of order cannot pin memory without that round's notes.
public enum MemoryPinning {
  /// The round's pin, recording it first when there is none.
  public static func pin(run: Run, round: Int) throws -> RunManifest.MemoryPin {
    let key = RunLayout.roundName(round)
    if let pin = try run.manifest().memoryPins[key] { return pin }
    return try run.withManifest { manifest in
      if let pin = manifest.memoryPins[key] { return pin }
      if round > 0 && manifest.units[RunManifest.stageKey(round: round - 1, stage: .memory)] == nil {
        throw HindcastError(
          .missingPrerequisite,
          "rewrite for round \(round) reads the memory that the memory stage of round \(round - 1) writes, "
            + "and that stage is not complete",
          location: run.layout.root,
          hint: "run `hindcast memory-update --run \(run.layout.root) --round \(round - 1)` first")
      }
      var pin = RunManifest.MemoryPin.none
      if FileManager.default.fileExists(atPath: run.layout.memory + "/manifest.json") {
        let store = try MemoryStore.open(at: run.layout.memory)
        defer { store.close() }
        let snapshot = try store.compact(label: key + " rewrite")
        pin = RunManifest.MemoryPin(
          snapshot: snapshot.id, path: "memory/" + snapshot.fileName, hash: snapshot.contentHash)
      }
      manifest.memoryPins[key] = pin
      return pin
    }
  }
}
