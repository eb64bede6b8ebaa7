import Foundation
import HindcastStorage
import HindcastSupport
import Testing

@testable import HindcastMemory

@Suite struct RecoveryTests {
  /// A store with `count` synthetic events in one segment (no dictionary, no rollover).
  private func makeStore(_ directory: TemporaryDirectory, count: Int = 300) throws -> [MemoryEvent] {
    let events = Fixtures.syntheticEvents(count, seed: 5)
    let store = try MemoryStore.open(
      at: directory.store,
      options: MemoryOpenOptions(settings: MemorySettings(dictionaryTrainingThreshold: 0)))
    for start in stride(from: 0, to: count, by: 50) {
      try store.append(Array(events[start..<min(count, start + 50)]))
    }
    store.close()
    return events
  }

  private func segmentPath(_ directory: TemporaryDirectory, _ number: Int = 1) -> String {
    directory.store + "/" + MemoryManifest.segmentName(number)
  }

  private func appendBytes(_ bytes: [UInt8], to path: String) throws {
    let handle = try #require(FileHandle(forWritingAtPath: path))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(bytes))
    try handle.close()
  }

  /// The frame a store would write for `event`.
  private func frame(_ event: MemoryEvent, commits: Bool = true) throws -> [UInt8] {
    var bytes: [UInt8] = []
    try LogFrame.append(
      json: EventCoding.encode(event), dictionaryId: 0, commits: commits,
      compressor: ZstdFrameCompressor(level: 3, dictionary: nil), to: &bytes)
    return bytes
  }

  @Test(arguments: [1, 9, 16, 20])
  func tornTailIsCutOffAndReported(keptBytes: Int) throws {
    let directory = TemporaryDirectory()
    let events = try makeStore(directory)
    let path = segmentPath(directory)
    let goodSize = FileOps.fileSize(path)
    let extra = try frame(
      .observation(Fixtures.observation(NoteId(value: 1), included: true, verified: true, rewrite: "torn")))
    try appendBytes(Array(extra.prefix(keptBytes)), to: path)
    // A reader skips the torn tail without touching the file.
    let reader = try MemoryStore.open(at: directory.store, options: .readOnly())
    #expect(reader.openReport.droppedBytes == keptBytes)
    #expect(FileOps.fileSize(path) == goodSize + keptBytes)
    #expect(reader.state == MemoryState.fold(events))
    // A writer cuts it off, reports it, and goes on appending.
    let store = try MemoryStore.open(at: directory.store)
    #expect(store.openReport.droppedBytes == keptBytes)
    #expect(store.openReport.droppedFrames == 1)
    #expect(store.openReport.droppedFrom == MemoryManifest.segmentName(1))
    #expect(store.openReport.messages.contains { $0.contains("torn tail of \(keptBytes) bytes") })
    #expect(FileOps.fileSize(path) == goodSize)
    #expect(store.state == MemoryState.fold(events))
    let note = Fixtures.note("When adding, write the carry.")
    try store.add([note])
    store.close()
    let reopened = try MemoryStore.open(at: directory.store)
    #expect(reopened.openReport.droppedBytes == 0)
    #expect(reopened.state == MemoryState.fold(events + [.noteAdded(note)]))
  }

  @Test func aCompleteFrameWithABadChecksumAtTheEndIsATornTail() throws {
    let directory = TemporaryDirectory()
    let events = try makeStore(directory)
    var extra = try frame(.retired(NoteRetirement(noteId: NoteId(value: 1), reason: "x")))
    extra[extra.count - 1] ^= 0xFF
    try appendBytes(extra, to: segmentPath(directory))
    let store = try MemoryStore.open(at: directory.store)
    #expect(store.openReport.droppedBytes == extra.count)
    #expect(store.openReport.droppedReason?.hasPrefix("checksum mismatch") == true)
    #expect(store.state == MemoryState.fold(events))
  }

  @Test func anAppendWithoutItsCommitIsDroppedWhole() throws {
    let directory = TemporaryDirectory()
    let events = try makeStore(directory)
    let note = Fixtures.note("When adding, write the carry.")
    let committed = try frame(.noteAdded(note))
    // Two complete records of an append whose last record never made it to the file.
    let first = try frame(
      .observation(Fixtures.observation(note.id, included: true, verified: true, rewrite: "x1")),
      commits: false)
    let second = try frame(
      .observation(Fixtures.observation(note.id, included: false, verified: true, rewrite: "x2")),
      commits: false)
    try appendBytes(committed + first + second, to: segmentPath(directory))
    let store = try MemoryStore.open(at: directory.store)
    #expect(store.openReport.droppedBytes == first.count + second.count)
    #expect(store.openReport.droppedFrames == 2)
    #expect(store.openReport.droppedReason == "an append that did not finish")
    #expect(store.state == MemoryState.fold(events + [.noteAdded(note)]))
    #expect(store.verify().warnings == 0)
  }

  @Test func corruptionInsideTheLogIsDetectedAndNamed() throws {
    let directory = TemporaryDirectory()
    _ = try makeStore(directory)
    let path = segmentPath(directory)
    var bytes = try AtomicFile.read(path)
    let sizeBefore = bytes.count
    bytes[bytes.count / 2] ^= 0x40
    try AtomicFile.write(bytes, to: path)
    for options in [MemoryOpenOptions(), MemoryOpenOptions.readOnly()] {
      do {
        _ = try MemoryStore.open(at: directory.store, options: options)
        Issue.record("opening a corrupt store succeeded")
      } catch let error as HindcastError {
        #expect(error.code == .corruptFile)
        #expect(error.location == path)
        #expect(error.message.contains("a good record follows"))
      }
    }
    // Nothing was truncated: the damage is not a torn tail.
    #expect(FileOps.fileSize(path) == sizeBefore)
  }

  @Test func damageInAnOlderSegmentIsNeverTruncated() throws {
    let directory = TemporaryDirectory()
    let events = Fixtures.syntheticEvents(1500, seed: 2)
    let store = try MemoryStore.open(
      at: directory.store, options: MemoryOpenOptions(settings: Fixtures.smallSettings))
    try store.append(events)
    try store.append(Array(Fixtures.syntheticEvents(1, seed: 99)))  // rolls over: the first segment is full
    let first = store.manifest.segments[0].number
    #expect(store.manifest.segments.count > 1)
    store.close()
    let path = segmentPath(directory, first)
    let bytes = try AtomicFile.read(path)
    try AtomicFile.write(Array(bytes.dropLast(3)), to: path)
    #expect(throws: HindcastError.self) { try MemoryStore.open(at: directory.store) }
    #expect(FileOps.fileSize(path) == bytes.count - 3)
  }

  @Test func leftoversOfAnInterruptedCompactionAreRemoved() throws {
    let directory = TemporaryDirectory()
    let events = try makeStore(directory)
    let store = try MemoryStore.open(at: directory.store)
    let snapshot = try store.compact()
    store.close()
    // As if a later compaction died after writing its snapshot, and an earlier one before
    // deleting a covered segment.
    try AtomicFile.write([1, 2, 3], to: directory.store + "/snap-9.json.zst")
    try AtomicFile.write([], to: segmentPath(directory, 1))
    try AtomicFile.write([7], to: directory.store + "/.manifest.json.tmp-123")
    let reopened = try MemoryStore.open(at: directory.store)
    #expect(reopened.openReport.snapshot == snapshot)
    #expect(reopened.openReport.removedFiles.count == 2)
    #expect(reopened.state == MemoryState.fold(events))
    let names = Set(FileOps.listDirectory(directory.store))
    #expect(!names.contains("snap-9.json.zst") && !names.contains(MemoryManifest.segmentName(1)))
    #expect(!names.contains(".manifest.json.tmp-123"))
  }

  @Test func aListedButMissingNewestSegmentIsRecreated() throws {
    let directory = TemporaryDirectory()
    let events = try makeStore(directory)
    let store = try MemoryStore.open(at: directory.store)
    try store.rollOver(dictionary: 0)
    store.close()
    try FileOps.remove(segmentPath(directory, 2))
    let reopened = try MemoryStore.open(at: directory.store)
    #expect(reopened.state == MemoryState.fold(events))
    try reopened.add([Fixtures.note("When adding, write the carry.")])
    #expect(FileOps.fileSize(segmentPath(directory, 2)) > 0)
  }

  @Test func aDamagedSnapshotIsNamed() throws {
    let directory = TemporaryDirectory()
    _ = try makeStore(directory)
    let store = try MemoryStore.open(at: directory.store)
    let snapshot = try store.compact()
    store.close()
    let path = directory.store + "/" + snapshot.fileName
    var bytes = try AtomicFile.read(path)
    bytes[bytes.count / 2] ^= 0x01
    try AtomicFile.write(bytes, to: path)
    do {
      _ = try MemoryStore.open(at: directory.store, options: .readOnly())
      Issue.record("opening a store with a damaged snapshot succeeded")
    } catch let error as HindcastError {
      #expect(error.location == path)
    }
  }
}
