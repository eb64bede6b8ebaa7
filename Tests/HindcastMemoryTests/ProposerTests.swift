import HindcastSupport
import Testing

@testable import HindcastMemory

@Suite struct ProposerTests {
  private func evidence(
    family: String = "arith", features: [String] = ["add", "carry", "3-digit"], cause: String?,
    critique: String =
      "Step 3 is wrong: 47 + 38 was written as 75, the correct value is 85. The carry was dropped.",
    hint: String? = "Write the carry above the next column.", verified: Bool = true
  ) -> NoteEvidence {
    NoteEvidence(
      family: family, features: features, critique: critique, causeTag: cause, hint: hint,
      verifiedRewrite: verified,
      provenance: Fixtures.provenance(task: "arith-7", round: 2))
  }

  @Test func knownCausesBecomeScopedStrategyNotes() throws {
    let notes = RuleBasedNoteProposer().propose(from: evidence(cause: "dropped_carry"))
    let note = try #require(notes.first)
    #expect(notes.count == 1)
    #expect(note.text.hasPrefix("When adding multi-digit numbers, "))
    #expect(note.text.contains(", because "))
    #expect(note.scope == NoteScope(family: "arith", features: ["add", "carry", "3-digit"]))
    #expect(note.origin == .verifiedRewrite)
    #expect(note.createdRound == 2)
    #expect(note.provenance.sourceTaskId == "arith-7")
    // The same cause from another task gives the same note (so the store counts it once).
    let again = RuleBasedNoteProposer().propose(from: evidence(cause: "dropped-carry", verified: false))
    #expect(again.first?.id == note.id)
    #expect(again.first?.origin == .critique)
  }

  @Test func unknownCausesUseTheHintAndTheCritique() throws {
    let note = try #require(RuleBasedNoteProposer().propose(from: evidence(cause: "swapped-digits")).first)
    #expect(
      note.text
        == "When an arith attempt fails with 'swapped-digits', write the carry above the next column, because step 3 is wrong: 47 + 38 was written as 75, the correct value is 85."
    )
    #expect(note.scope.features.isEmpty)
    let listdsl = try #require(
      RuleBasedNoteProposer().propose(
        from: evidence(
          family: "listdsl", features: ["sort"], cause: nil, critique: "Sorted, but the order matters.",
          hint: nil)
      ).first)
    #expect(
      listdsl.text
        == "When solving a listdsl task, check the step the critique points at, because sorted, but the order matters."
    )
    #expect(RuleBasedNoteProposer().propose(from: evidence(cause: nil, critique: " ", hint: nil)).isEmpty)
  }

  @Test func longNotesAreCutToTheTokenLimit() throws {
    let proposer = RuleBasedNoteProposer(maxTokens: 40)
    let note = try #require(
      proposer.propose(from: evidence(cause: "unknown", critique: String(repeating: "word ", count: 100)))
        .first)
    #expect(note.tokenCount <= 40)
    #expect(note.text.hasSuffix("…"))
  }

  @Test func syntheticNotesFromCritiquesAreDeterministic() {
    var a = SeededRandom(seed: 3)
    var b = SeededRandom(seed: 3)
    let first = SyntheticMemory.notes(count: 50, round: 1, run: "r", random: &a)
    #expect(first == SyntheticMemory.notes(count: 50, round: 1, run: "r", random: &b))
    #expect(first.count == 50)
    #expect(first.allSatisfy { $0.tokenCount <= RuleBasedNoteProposer().maxTokens })
  }
}
