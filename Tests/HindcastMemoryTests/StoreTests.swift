import Foundation
import HindcastStorage
import HindcastSupport
import Testing

@testable import HindcastMemory

@Suite struct StoreTests {
  /// One read-write opener at a time (storage's `DirectoryLock` on `LOCK`), even within one
  /// process; the refusal names the holder; read-only opens need no lock; closing releases it.
  @Test func aSecondWriterIsRefusedUntilTheFirstCloses() throws {
    let directory = TemporaryDirectory()
    let first = try MemoryStore.open(at: directory.store)
    try first.append(Fixtures.syntheticEvents(20))
    do {
      _ = try MemoryStore.open(at: directory.store)
      Issue.record("a second read-write open succeeded while the first holds the lock")
    } catch let error as HindcastError {
      #expect(error.description.contains("open for writing in another process (pid \(getpid())"))
      #expect(error.description.contains(directory.store))
    }
    let reader = try MemoryStore.open(at: directory.store, options: .readOnly())
    #expect(reader.state == first.state)
    first.close()
    let second = try MemoryStore.open(at: directory.store)
    #expect(second.state == MemoryState.fold(Fixtures.syntheticEvents(20)))
    second.close()
  }

  @Test func foldOfAllEventsEqualsIncrementalStateAfterEveryAppend() throws {
    let directory = TemporaryDirectory()
    let events = Fixtures.syntheticEvents(2500)
    let store = try MemoryStore.open(
      at: directory.store, options: MemoryOpenOptions(settings: Fixtures.smallSettings))
    var written = 0
    var batch = 1
    while written < events.count {
      let slice = Array(events[written..<min(events.count, written + batch)])
      let result = try store.append(slice)
      #expect(result.appended == slice.count)
      written += slice.count
      #expect(store.state == MemoryState.fold(events[0..<written]))
      batch = batch * 2 + 1
    }
    #expect(store.storageStatistics().segments.count > 1)
    #expect(!store.manifest.dictionaries.isEmpty)
    store.close()
    let reopened = try MemoryStore.open(at: directory.store, options: .readOnly(decodeThreads: 2))
    #expect(reopened.state == MemoryState.fold(events))
    #expect(reopened.openReport.droppedBytes == 0)
  }

  @Test func snapshotPlusReplayEqualsTheFold() throws {
    let directory = TemporaryDirectory()
    let events = Fixtures.syntheticEvents(1500, seed: 11)
    let store = try MemoryStore.open(
      at: directory.store, options: MemoryOpenOptions(settings: Fixtures.smallSettings))
    try store.append(Array(events[0..<700]))
    let first = try store.compact(label: "first")
    #expect(first.eventCount == 700)
    #expect(try store.compact() == first)  // nothing new: the same snapshot
    try store.append(Array(events[700..<1200]))
    let second = try store.compact(label: "second")
    try store.append(Array(events[1200...]))
    #expect(second.number == first.number + 1)
    #expect(store.manifest.segments.count == 1)
    store.close()
    let reopened = try MemoryStore.open(at: directory.store)
    #expect(reopened.openReport.snapshot == second)
    #expect(reopened.openReport.replayedEvents == 300)
    #expect(reopened.state == MemoryState.fold(events))
    #expect(try reopened.state(at: first.id).state == MemoryState.fold(events[0..<700]))
    #expect(try reopened.state(at: "2").state == MemoryState.fold(events[0..<1200]))
    // Only live files remain: covered segments were removed.
    let names = FileOps.listDirectory(directory.store).filter { $0.hasPrefix("seg-") }
    #expect(names == [MemoryManifest.segmentName(reopened.manifest.segments[0].number)])
  }

  @Test func dictionaryAndPlainStoresReadBackIdentically() throws {
    let directory = TemporaryDirectory()
    let events = Fixtures.syntheticEvents(1200, seed: 3)
    var plainSettings = Fixtures.smallSettings
    plainSettings.dictionaryTrainingThreshold = 0
    let withDictionary = try MemoryStore.open(
      at: directory.path + "/dict", options: MemoryOpenOptions(settings: Fixtures.smallSettings))
    let plain = try MemoryStore.open(
      at: directory.path + "/plain", options: MemoryOpenOptions(settings: plainSettings))
    for start in stride(from: 0, to: events.count, by: 100) {
      let slice = Array(events[start..<min(events.count, start + 100)])
      try withDictionary.append(slice)
      try plain.append(slice)
    }
    let dictionaryBytes = withDictionary.storageStatistics().segments.reduce(0) { $0 + $1.bytes }
    let plainBytes = plain.storageStatistics().segments.reduce(0) { $0 + $1.bytes }
    #expect(withDictionary.manifest.dictionaries.count == 1)
    #expect(plain.manifest.dictionaries.isEmpty)
    #expect(dictionaryBytes < plainBytes)
    withDictionary.close()
    plain.close()
    let a = try MemoryStore.open(at: directory.path + "/dict", options: .readOnly())
    let b = try MemoryStore.open(at: directory.path + "/plain", options: .readOnly())
    #expect(a.state == b.state)
    #expect(a.state == MemoryState.fold(events))
  }

  @Test func invalidBatchWritesNothingAndDuplicatesAreSkipped() throws {
    let directory = TemporaryDirectory()
    let store = try MemoryStore.open(at: directory.store)
    let note = Fixtures.note("When adding, write the carry above the next column.")
    let good = MemoryEvent.noteAdded(note)
    let unknown = MemoryEvent.observation(
      Fixtures.observation(NoteId(value: 1), included: true, verified: true, rewrite: "rw"))
    #expect(throws: HindcastError.self) { try store.append([good, unknown]) }
    #expect(store.state.eventCount == 0)
    // A batch may depend on its own earlier events.
    let observe = MemoryEvent.observation(
      Fixtures.observation(note.id, included: true, verified: true, rewrite: "rw"))
    #expect(try store.append([good, observe]).appended == 2)
    let again = try store.append([good, observe])
    #expect(again.appended == 0 && again.duplicates == 2)
    let tooLong = Fixtures.note(String(repeating: "x", count: 300))
    #expect(throws: HindcastError.self) { try store.append([.noteAdded(tooLong)]) }
    store.close()
    let reopened = try MemoryStore.open(at: directory.store)
    #expect(reopened.state.eventCount == 2)
    #expect(reopened.state[note.id]?.evidence.included == ArmCounts(trials: 1, successes: 1))
  }

  @Test func nearDuplicateMergeKeepsEvidenceAndProvenance() throws {
    let directory = TemporaryDirectory()
    let store = try MemoryStore.open(at: directory.store)
    let original = Fixtures.note(
      "When adding two numbers, write the carry above the next column before adding it.", task: "arith-1",
      tag: "a")
    let nearCopy = Fixtures.note(
      "When adding two numbers, write the carry above the next column before summing it.", task: "arith-2",
      tag: "b")
    let otherScope = Fixtures.note(
      "When adding two numbers, write the carry above the next column before summing it.", features: ["add"],
      task: "arith-3")
    #expect(try store.add([original]) == [.added(original.id)])
    try store.record([
      Fixtures.observation(original.id, included: true, verified: true, rewrite: "r1"),
      Fixtures.observation(original.id, included: false, verified: false, rewrite: "r2"),
    ])
    let outcome = try store.add([nearCopy, otherScope])
    guard case .merged(let from, let into, let similarity) = outcome[0] else {
      Issue.record("expected a merge, got \(outcome)")
      return
    }
    #expect(from == nearCopy.id && into == original.id && similarity >= store.settings.mergeThreshold)
    #expect(outcome[1] == .added(otherScope.id))
    // Evidence logged against the merged note (e.g. retrieved before the merge) counts for the survivor.
    try store.record([Fixtures.observation(nearCopy.id, included: true, verified: false, rewrite: "r3")])
    let survivor = try #require(store.state[original.id])
    #expect(survivor.evidence.included == ArmCounts(trials: 2, successes: 1))
    #expect(survivor.evidence.withheld == ArmCounts(trials: 1, successes: 0))
    #expect(survivor.observations.count == 3)
    #expect(Set(survivor.provenance.map(\.sourceTaskId)) == ["arith-1", "arith-2"])
    #expect(survivor.mergedFrom == [nearCopy.id])
    #expect(store.state[nearCopy.id]?.status == .merged)
    #expect(store.state.root(of: nearCopy.id) == original.id)
    // Retrieval excludes the survivor for the absorbed note's task too.
    let hits = store.retrieve(
      family: "arith", features: ["carry"], excludingTaskIds: ["arith-2"], tokenBudget: 1000)
    #expect(!hits.contains { $0.note.id == original.id })
    // Proposing the same note again adds provenance, not a new note.
    let repeated = Fixtures.note(original.text, task: "arith-7", tag: "c")
    #expect(try store.add([repeated]) == [.reproposed(original.id)])
    #expect(store.state[original.id]?.provenance.count == 3)
  }

  @Test func retireWritesATombstoneAndRestoreUndoesIt() throws {
    let directory = TemporaryDirectory()
    let store = try MemoryStore.open(at: directory.store)
    let note = Fixtures.note("When subtracting, borrow from the next column.", features: [])
    try store.add([note])
    #expect(try store.retire(note.id, reason: "harmful"))
    #expect(try store.retire(note.id, reason: "again") == false)
    #expect(store.state[note.id]?.status == .retired)
    #expect(store.retrieve(family: "arith", features: [], excludingTaskIds: [], tokenBudget: 500).isEmpty)
    store.close()
    let reopened = try MemoryStore.open(at: directory.store)
    #expect(reopened.state[note.id]?.status == .retired)
    #expect(try reopened.restore(note.id, reason: "was fine"))
    #expect(reopened.state[note.id]?.status == .active)
    #expect(
      reopened.retrieve(family: "arith", features: [], excludingTaskIds: [], tokenBudget: 500).count == 1)
    let kinds = reopened.state[note.id]?.history.map(\.kind) ?? []
    #expect(kinds.count == 3)
    #expect(kinds.last == .restored(reason: "was fine"))
    // Merged notes cannot be retired directly.
    #expect(throws: HindcastError.self) { try reopened.restore(NoteId(value: 5), reason: "") }
  }

  @Test func aSecondWriterIsRefusedButReadersAreNot() throws {
    let directory = TemporaryDirectory()
    let store = try MemoryStore.open(at: directory.store)
    try store.add([Fixtures.note("When adding, write the carry.")])
    #expect(throws: HindcastError.self) { try MemoryStore.open(at: directory.store) }
    let reader = try MemoryStore.open(at: directory.store, options: .readOnly())
    #expect(reader.state == store.state)
    #expect(throws: HindcastError.self) { try reader.add([Fixtures.note("other")]) }
    store.close()
    _ = try MemoryStore.open(at: directory.store)
  }

  @Test func openingAMissingStoreReadOnlyFails() {
    let directory = TemporaryDirectory()
    #expect(throws: HindcastError.self) { try MemoryStore.open(at: directory.store, options: .readOnly()) }
  }

  @Test func idPrefixesResolve() throws {
    var state = MemoryState()
    let a = Fixtures.note("first note")
    let b = Fixtures.note("second note")
    state.apply([.noteAdded(a), .noteAdded(b)])
    #expect(try state.resolve(prefix: String(a.id.description.prefix(8))) == a.id)
    #expect(throws: HindcastError.self) { try state.resolve(prefix: "zz") }
    #expect(throws: HindcastError.self) { try state.resolve(prefix: "ffffffffffff") }
  }

  /// A store whose first `threshold` events repeat a few records cannot train a dictionary then;
  /// it must train one later in the same process, once there are enough distinct records.
  @Test func dictionaryIsTrainedOnceEnoughDistinctRecordsArrive() throws {
    let directory = TemporaryDirectory()
    let store = try MemoryStore.open(
      at: directory.store, options: MemoryOpenOptions(settings: Fixtures.smallSettings))
    defer { store.close() }
    // 300 events (over the threshold of 200), but they repeat 5 notes with new provenance each:
    // too few distinct records to train on...
    let repeated = (0..<300).map { index in
      MemoryEvent.noteAdded(
        Fixtures.note("When adding, write the carry of column \(index % 5).", tag: "t\(index)"))
    }
    try store.append(repeated)
    #expect(store.manifest.dictionaries.isEmpty)
    // ... then many distinct notes and observations.
    let events = Fixtures.syntheticEvents(600, seed: 11)
    for start in stride(from: 0, to: events.count, by: 100) {
      try store.append(Array(events[start..<min(events.count, start + 100)]))
    }
    #expect(store.manifest.dictionaries.count == 1)
  }
}
