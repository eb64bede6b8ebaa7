import HindcastSupport
import Testing

@testable import HindcastMemory

@Suite struct RetrievalTests {
  /// Notes of family arith from several source tasks, one from a held-out task.
  private func state() -> (MemoryState, [String: Note]) {
    let notes: [String: Note] = [
      "carry": Fixtures.note(
        "When adding, write the carry above the next column.", features: ["carry"], task: "t1"),
      "borrow": Fixtures.note(
        "When subtracting, borrow from the next column.", features: ["borrow"], task: "t2"),
      "generic": Fixtures.note("Check every step before writing the answer.", features: [], task: "t3"),
      "heldOut": Fixtures.note(
        "When multiplying, shift partial products.", features: ["carry"], task: "h1", heldOut: true),
      "otherFamily": Fixtures.note(
        "Filter without sorting.", family: "listdsl", features: ["filter"], task: "l1"),
    ]
    var state = MemoryState()
    for key in notes.keys.sorted() { state.apply(.noteAdded(notes[key]!)) }
    return (state, notes)
  }

  @Test func sameTaskAndHeldOutSourcesAreNeverReturned() {
    let (state, notes) = state()
    let ids = { (hits: [RetrievedNote]) in Set(hits.map(\.note.id)) }
    let all = state.retrieve(
      family: "arith", features: ["carry", "borrow"], excludingTaskIds: [], tokenBudget: 10_000)
    #expect(ids(all) == [notes["carry"]!.id, notes["borrow"]!.id, notes["generic"]!.id])
    let withoutOwnTask = state.retrieve(
      family: "arith", features: ["carry", "borrow"], excludingTaskIds: ["t1"], tokenBudget: 10_000)
    #expect(!ids(withoutOwnTask).contains(notes["carry"]!.id))
    let includingHeldOut = state.retrieve(
      family: "arith", features: ["carry"], excludingTaskIds: [], excludeHeldOutSources: false,
      tokenBudget: 10_000)
    #expect(ids(includingHeldOut).contains(notes["heldOut"]!.id))
    // A note whose features do not overlap the task's is not relevant; family-wide notes are.
    let borrowOnly = state.retrieve(
      family: "arith", features: ["borrow"], excludingTaskIds: [], tokenBudget: 10_000)
    #expect(ids(borrowOnly) == [notes["borrow"]!.id, notes["generic"]!.id])
    #expect(state.retrieve(family: "exec", features: [], excludingTaskIds: [], tokenBudget: 10_000).isEmpty)
  }

  @Test func theTokenBudgetIsRespected() {
    let (state, notes) = state()
    let carry = notes["carry"]!
    let generic = notes["generic"]!
    #expect(carry.tokenCount == carry.text.utf8.count + 1)
    for budget in [
      0, 10, carry.tokenCount - 1, carry.tokenCount, carry.tokenCount + generic.tokenCount, 10_000,
    ] {
      let hits = state.retrieve(
        family: "arith", features: ["carry"], excludingTaskIds: [], tokenBudget: budget)
      #expect(hits.reduce(0) { $0 + $1.tokens } <= budget)
    }
    // The most relevant note does not fit; a smaller, less relevant one still does.
    let tight = state.retrieve(
      family: "arith", features: ["carry"], excludingTaskIds: [], tokenBudget: generic.tokenCount)
    #expect(tight.map(\.note.id) == [generic.id])
    let limited = state.retrieve(
      family: "arith", features: ["carry", "borrow"], excludingTaskIds: [], tokenBudget: 10_000,
      options: RetrievalOptions(maxNotes: 1))
    #expect(limited.count == 1)
  }

  @Test func theStoreCapsTheBudget() throws {
    let directory = TemporaryDirectory()
    var settings = MemorySettings()
    settings.maxNoteTokens = 64
    settings.maxRetrievalTokens = 64
    let store = try MemoryStore.open(at: directory.store, options: MemoryOpenOptions(settings: settings))
    let notes = (0..<5).map {
      Fixtures.note("Note number \($0) says to check column \($0).", features: [], task: "t\($0)")
    }
    try store.add(notes)
    let hits = store.retrieve(family: "arith", features: [], excludingTaskIds: [], tokenBudget: 100_000)
    #expect(!hits.isEmpty)
    #expect(hits.reduce(0) { $0 + $1.tokens } <= 64)
  }

  @Test func rankingIsRelevanceTimesOptimisticValue() {
    var state = MemoryState()
    let helpful = Fixtures.note("Helpful advice about carries.", features: ["carry"], task: "t1")
    let harmful = Fixtures.note("Harmful advice about carries.", features: ["carry"], task: "t2")
    let untried = Fixtures.note("Untried advice about carries.", features: ["carry"], task: "t3")
    state.apply([.noteAdded(helpful), .noteAdded(harmful), .noteAdded(untried)])
    for index in 0..<40 {
      state.apply(
        .observation(
          Fixtures.observation(
            helpful.id, included: index % 2 == 0, verified: index % 2 == 0, rewrite: "a\(index)")))
      state.apply(
        .observation(
          Fixtures.observation(
            harmful.id, included: index % 2 == 0, verified: index % 2 == 1, rewrite: "b\(index)")))
    }
    let hits = state.retrieve(family: "arith", features: ["carry"], excludingTaskIds: [], tokenBudget: 10_000)
    #expect(hits.first?.note.id == helpful.id)
    #expect(hits.last?.note.id == harmful.id)
    #expect(hits.map(\.note.id).contains(untried.id))
    for hit in hits {
      #expect(abs(hit.score - hit.relevance * (1 + hit.optimisticValue) / 2) < 1e-12)
    }
    // Without exploration the untried note (mean 0) ranks between the two.
    let greedy = state.retrieve(
      family: "arith", features: ["carry"], excludingTaskIds: [], tokenBudget: 10_000,
      options: RetrievalOptions(explorationWeight: 0))
    #expect(greedy.map(\.note.id) == [helpful.id, untried.id, harmful.id])
  }

  @Test func exposureAssignmentIsReproducibleFromTheSeed() {
    let (state, _) = state()
    let hits = state.retrieve(
      family: "arith", features: ["carry", "borrow"], excludingTaskIds: [], tokenBudget: 10_000)
    var first = SeededRandom(seed: 5)
    var second = SeededRandom(seed: 5)
    let a = NoteExposure.assign(hits, random: &first).map(\.included)
    let b = NoteExposure.assign(hits, random: &second).map(\.included)
    #expect(a == b)
    var always = SeededRandom(seed: 1)
    let assigned = NoteExposure.assign(hits, inclusionProbability: 1, random: &always)
    #expect(assigned.allSatisfy { $0.included })
  }
}
