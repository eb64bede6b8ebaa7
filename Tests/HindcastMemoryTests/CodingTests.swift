import HindcastStorage
import HindcastSupport
import Testing

@testable import HindcastMemory

@Suite struct CodingTests {
  @Test func crc32cMatchesTheStandardCheckValue() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([]) == 0)
    // 32 zero bytes: a published CRC-32C test vector (RFC 3720, B.4).
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
  }

  @Test func eventsRoundTripThroughJSON() throws {
    let note = Fixtures.note("When \"quoting\", keep \\ and\ttabs — and ünïcode 🎉.", features: ["b", "a"])
    let events: [MemoryEvent] = [
      .noteAdded(note),
      .observation(Fixtures.observation(note.id, included: true, verified: false, rewrite: "rw-1")),
      .merged(NoteMerge(from: note.id, into: NoteId(value: 42), similarity: 0.8125)),
      .retired(NoteRetirement(noteId: note.id, reason: "line\nbreak")),
      .restored(NoteRestoration(noteId: note.id, reason: "")),
    ]
    for event in events {
      let bytes = EventCoding.encode(event)
      #expect(try EventCoding.decode(bytes) == event)
    }
  }

  @Test func scannerReadsEscapesAndSkipsUnknownKeys() throws {
    let text =
      #"{"event":"retired","extra":{"a":[1,2.5e3,null,true]},"note":"00000000000000ff","reason":"\u00e9\ud83c\udf89\/"}"#
    let event = try EventCoding.decode(Array(text.utf8))
    #expect(event == .retired(NoteRetirement(noteId: NoteId(value: 255), reason: "é🎉/")))
  }

  @Test func malformedRecordsAreRejected() {
    let bad = [
      #"{"event":"retired"}"#, #"{"event":"nope","note":"00000000000000ff"}"#,
      #"{"event":"retired","note":"xyz"}"#,
      #"{"event":"retired","note":"00000000000000ff""#, #"{"event":"retired","note":"00000000000000ff"} x"#,
      #"{"event":"observation","note":"00000000000000ff","included":1}"#,
    ]
    for text in bad {
      #expect(throws: JSONScanError.self) { try EventCoding.decode(Array(text.utf8)) }
    }
  }

  @Test func noteIdsDependOnScopeAndNormalizedTextOnly() {
    let a = Fixtures.note("When adding,  write the carry.", features: ["carry", "add"], task: "t1")
    let b = Fixtures.note("  when ADDING, write the carry. ", features: ["add", "carry"], task: "t2")
    let c = Fixtures.note("When adding, write the carry.", features: ["add"], task: "t1")
    #expect(a.id == b.id)
    #expect(a.id != c.id)
    #expect(a.text == "When adding, write the carry.")
    #expect(NoteId(hex: a.id.description) == a.id)
    // Pinned: ids are persisted, so they must never change across versions or machines.
    #expect(
      NoteId(scope: NoteScope(family: "arith", features: ["carry"]), text: "When adding, write the carry.")
        .description
        == "4d3dba5cdfda3de6")
  }

  @Test func similarityMeasureMatchesItsDocumentation() {
    let base = "when adding two numbers write the carry above the next column before adding"
    let oneWord = "when adding two numbers write the carry above the next column after adding"
    #expect(NoteSimilarity.similarity(base, base) == 1)
    // Numbers are normalized: only the example values differ.
    #expect(NoteSimilarity.similarity("step 3 is wrong by 10", "step 7 is wrong by 12") == 1)
    let near = NoteSimilarity.similarity(
      "a b c d e f g h i j k l", "a b c d e f x h i j k l")
    #expect(abs(near - 7.0 / 13.0) < 1e-12)
    let far = NoteSimilarity.similarity("a b c d e f g h i j k l", "a b c x e f g h y j k l")
    #expect(abs(far - 4.0 / 16.0) < 1e-12)
    #expect(NoteSimilarity.similarity(base, oneWord) >= NoteSimilarity.defaultThreshold)
    #expect(NoteSimilarity.similarity(base, "sort the list before taking the first three elements") == 0)
  }

  @Test func valueEstimateUsesBetaPosteriors() {
    let none = ValueEvidence().estimate
    #expect(abs(none.mean) < 1e-12)
    #expect(abs(none.standardDeviation - (2.0 / 12.0).squareRoot()) < 1e-12)
    let evidence = ValueEvidence(
      included: ArmCounts(trials: 18, successes: 12), withheld: ArmCounts(trials: 18, successes: 6))
    let estimate = evidence.estimate
    // Beta(13, 7) and Beta(7, 13): means 0.65 and 0.35.
    #expect(abs(estimate.mean - 0.3) < 1e-12)
    let variance = 2 * (13.0 * 7.0) / (20.0 * 20.0 * 21.0)
    #expect(abs(estimate.standardDeviation - variance.squareRoot()) < 1e-12)
    #expect(abs(estimate.lower - (0.3 - 1.6448536269514722 * variance.squareRoot())) < 1e-12)
    #expect(estimate.lower > 0)
    #expect(estimate.upper < 1)
  }
}
