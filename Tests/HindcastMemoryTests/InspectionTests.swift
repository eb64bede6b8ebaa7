import Foundation
import HindcastStorage
import HindcastSupport
import Testing

@testable import HindcastMemory

@Suite struct InspectionTests {
  @Test func tablesAlignAndTruncateWithAMarker() {
    var table = TextTable([.init("ID"), .init("VALUE", .right), .init("TEXT", maxWidth: 10)])
    table.add(["a", "+0.5", "short"])
    table.add(["bbbb", "-0.25", "a text that is far too long"])
    let lines = table.render()
    #expect(lines == ["ID    VALUE  TEXT", "a      +0.5  short", "bbbb  -0.25  a text th…"])
    #expect(TextTable.truncate("line\nbreak", to: 20) == "line break")
    #expect(TextTable.truncate("abc", to: 1) == "…")
  }

  /// A store with a merge, a retirement and observations, for the renderers.
  private func sampleStore(_ directory: TemporaryDirectory) throws -> (MemoryStore, Note, Note) {
    let store = try MemoryStore.open(at: directory.store)
    let note = Fixtures.note(
      "When adding two numbers, write the carry above the next column before adding it.", task: "arith-1")
    let copy = Fixtures.note(
      "When adding two numbers, write the carry above the next column before summing it.", task: "arith-2",
      tag: "b")
    try store.add([note])
    try store.record([
      Fixtures.observation(note.id, included: true, verified: true, rewrite: "rw-1"),
      Fixtures.observation(note.id, included: false, verified: false, rewrite: "rw-2"),
    ])
    try store.add([copy])
    return (store, note, copy)
  }

  @Test func listingJSONLinesAreStableAndParse() throws {
    let directory = TemporaryDirectory()
    let (store, note, _) = try sampleStore(directory)
    let lines = MemoryInspection.listing(NoteQuery().select(from: store.state), json: true)
    #expect(lines.count == 1)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
    #expect(object["id"] as? String == note.id.description)
    #expect((object["included"] as? [String: Any])?["trials"] as? Int == 1)
    #expect(lines[0].hasPrefix(#"{"id":""#))
    // Same state, same bytes.
    #expect(MemoryInspection.listing(NoteQuery().select(from: store.state), json: true) == lines)
    let text = MemoryInspection.listing(
      NoteQuery(statuses: Set(NoteStatus.allCases)).select(from: store.state), json: false)
    #expect(text.count == 3)
    #expect(text[0].hasPrefix("ID"))
    #expect(text.allSatisfy { $0.count <= 200 })
  }

  @Test func showTracesANoteBackToItsRollouts() throws {
    let directory = TemporaryDirectory()
    let (store, note, copy) = try sampleStore(directory)
    let record = try #require(store.state[note.id])
    let lines = MemoryInspection.show(record, in: store.state, json: false).joined(separator: "\n")
    #expect(lines.contains("rollouts rollout-arith-1-a"))
    #expect(lines.contains("rollouts rollout-arith-2-b"))
    #expect(lines.contains("absorbed"))
    #expect(lines.contains(String(copy.id.description)))
    #expect(lines.contains("rw-1") && lines.contains("rw-2"))
    #expect(lines.contains("90% interval"))
    let json = MemoryInspection.show(record, in: store.state, json: true)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json[0].utf8)) as? [String: Any])
    #expect((object["observations"] as? [Any])?.count == 2)
    #expect((object["provenance"] as? [Any])?.count == 2)
  }

  @Test func dumpHasOneParsableLinePerNote() throws {
    let directory = TemporaryDirectory()
    let (store, _, _) = try sampleStore(directory)
    let lines = MemoryInspection.dump(store.state)
    #expect(lines.count == 2)
    for line in lines { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
  }

  @Test func diffListsAddedRetiredMergedAndValueChanges() throws {
    let directory = TemporaryDirectory()
    let (store, note, copy) = try sampleStore(directory)
    let before = try store.compact()
    let other = Fixtures.note(
      "When subtracting, borrow from the next column.", features: ["borrow"], task: "arith-3")
    try store.add([other])
    try store.retire(note.id, reason: "test")
    try store.record([Fixtures.observation(note.id, included: true, verified: true, rewrite: "rw-3")])
    let after = try store.compact()
    let older = try store.state(at: before.id).state
    let newer = try store.state(at: after.id).state
    let diff = MemoryDiff(from: older, to: newer)
    #expect(diff.added == [other.id])
    #expect(diff.retired == [note.id])
    #expect(diff.merged.isEmpty)  // the merge happened before the first snapshot
    #expect(diff.valueChanges.map(\.id) == [note.id])
    #expect(diff.events == 3)
    let fromEmpty = MemoryDiff(from: MemoryState(), to: older)
    #expect(fromEmpty.merged == [MemoryDiff.Merge(from: copy.id, into: note.id)])
    let text = MemoryInspection.diff(diff, newer: newer, from: before.id, to: after.id, json: false)
    #expect(text.first == "\(before.id) -> \(after.id): 3 events")
    #expect(text.contains("retired (1)"))
    let json = MemoryInspection.diff(diff, newer: newer, from: before.id, to: after.id, json: true)
    #expect(json.count == 3)
    #expect(MemoryDiff(from: newer, to: newer).isEmpty)
  }

  @Test func verifyFindsDamageAndDanglingProvenance() throws {
    let directory = TemporaryDirectory()
    let (store, _, _) = try sampleStore(directory)
    let clean = store.verify()
    #expect(clean.errors == 0)
    #expect(clean.checkedRecords == store.state.eventCount)
    let known: Set<String> = ["rollout-arith-1-a", "feedback-arith-1-a", "rewrite-arith-1-a"]
    let dangling = store.verify(recordExists: { known.contains($0) })
    // The absorbed note and its survivor both list arith-2's rollout, feedback and rewrite ids.
    #expect(dangling.errors == 6)
    #expect(dangling.findings.allSatisfy { $0.message.contains("arith-2") })
    store.close()
    // Damage a byte of the first record under an open reader: verify names the segment and record.
    let reader = try MemoryStore.open(at: directory.store, options: .readOnly())
    let path = directory.store + "/" + MemoryManifest.segmentName(1)
    var bytes = try AtomicFile.read(path)
    bytes[LogFrame.headerSize + 2] ^= 0x01
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let damaged = reader.verify()
    #expect(damaged.errors >= 1)
    #expect(
      damaged.findings.contains {
        $0.subject == MemoryManifest.segmentName(1) + "#1" && $0.severity == .error
      })
    // Opening refuses a log damaged in the middle.
    #expect(throws: HindcastError.self) { try MemoryStore.open(at: directory.store, options: .readOnly()) }
  }

  @Test func statsCountNotesAndFiles() throws {
    let directory = TemporaryDirectory()
    let (store, _, _) = try sampleStore(directory)
    let text = MemoryInspection.stats(store, json: false)
    #expect(text[0] == "notes         2 (active 1, retired 0, merged 1)")
    let json = MemoryInspection.stats(store, json: true)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json[0].utf8)) as? [String: Any])
    #expect(object["events"] as? Int == store.state.eventCount)
    #expect(object["observations"] as? Int == 2)
  }
}
