import Foundation
import HindcastSupport

@testable import HindcastMemory

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory {
  let path: String

  init(_ name: String = #function) {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    path = NSTemporaryDirectory() + "hindcast-memory-\(safe)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  var store: String { path + "/memory" }
}

enum Fixtures {
  static func provenance(task: String, round: Int = 1, heldOut: Bool = false, tag: String = "a")
    -> NoteProvenance
  {
    NoteProvenance(
      run: "test-run", round: round, rolloutIds: ["rollout-\(task)-\(tag)"],
      feedbackIds: ["feedback-\(task)-\(tag)"],
      rewriteIds: ["rewrite-\(task)-\(tag)"], sourceTaskId: task, sourceIsHeldOut: heldOut)
  }

  static func note(
    _ text: String, family: String = "arith", features: [String] = ["carry"], task: String = "arith-1",
    heldOut: Bool = false, tag: String = "a", origin: NoteOrigin = .critique
  ) -> Note {
    Note(
      text: text, scope: NoteScope(family: family, features: features), origin: origin,
      provenance: provenance(task: task, heldOut: heldOut, tag: tag), createdRound: 1)
  }

  static func observation(
    _ id: NoteId, included: Bool, verified: Bool, rewrite: String, task: String = "arith-9"
  )
    -> ValueObservation
  {
    ValueObservation(
      noteId: id, included: included, verified: verified, taskId: task, round: 1, rewriteId: rewrite)
  }

  /// A small store setting that trains a dictionary early and rolls segments often.
  static let smallSettings = MemorySettings(
    dictionaryTrainingThreshold: 200, dictionaryCapacity: 4096, segmentSizeLimit: 8192)

  static func syntheticEvents(_ count: Int, seed: UInt64 = 7) -> [MemoryEvent] {
    var random = SeededRandom(seed: seed)
    return SyntheticMemory.events(count: count, random: &random)
  }
}
