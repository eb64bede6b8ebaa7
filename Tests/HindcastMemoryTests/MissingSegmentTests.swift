import Foundation
import HindcastStorage
import HindcastSupport
import Testing

@testable import HindcastMemory

/// A memory manifest that names a segment which does not exist while the segment holding the
/// committed events is unlisted: opening must fail and `verify` must report it, instead of the
/// events silently vanishing.
@Suite struct MissingSegmentTests {
  @Test func aManifestNamingAMissingSegmentIsAnErrorWhenRecordsWouldVanish() throws {
    let directory = TemporaryDirectory()
    let events = Fixtures.syntheticEvents(40, seed: 3)
    let store = try MemoryStore.open(
      at: directory.store,
      options: MemoryOpenOptions(settings: MemorySettings(dictionaryTrainingThreshold: 0)))
    try store.append(events)
    store.close()
    let manifestPath = directory.store + "/" + MemoryManifest.fileName
    let text = String(
      decoding: try #require(FileManager.default.contents(atPath: manifestPath)), as: UTF8.self)
    let renumbered = text.replacingOccurrences(of: "\"number\" : 1", with: "\"number\" : 99")
    try #require(renumbered != text, "the manifest format changed: \(text)")
    try renumbered.write(toFile: manifestPath, atomically: true, encoding: .utf8)
    #expect {
      _ = try MemoryStore.open(at: directory.store, options: .readOnly())
    } throws: { error in
      let e = error as? HindcastError
      return e?.location?.hasSuffix(MemoryManifest.segmentName(99)) == true
        && e?.message.contains(MemoryManifest.segmentName(1)) == true
    }
  }

  @Test func aNewestSegmentMissingAfterACrashIsStillFine() throws {
    let directory = TemporaryDirectory()
    let store = try MemoryStore.open(
      at: directory.store,
      options: MemoryOpenOptions(settings: MemorySettings(dictionaryTrainingThreshold: 0)))
    store.close()
    // A fresh store lists segment 1 before it has written a record; removing the empty file is
    // the state a crash right after the manifest write leaves.
    try? FileManager.default.removeItem(atPath: directory.store + "/" + MemoryManifest.segmentName(1))
    let reopened = try MemoryStore.open(at: directory.store, options: .readOnly())
    #expect(reopened.verify().errors == 0)
  }
}
