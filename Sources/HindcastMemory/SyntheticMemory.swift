import HindcastSupport

/// Realistic memory content without a pipeline: critiques in the style of the arith and listdsl
/// critics, the notes `RuleBasedNoteProposer` writes from them, and randomized-exposure
/// observations. Used by the benchmark, the compression measurement and tests. Every choice
/// comes from the `SeededRandom` passed in.
public enum SyntheticMemory {
  /// One critique template: features of the task, cause tag, critique and hint. `#` marks
  /// numbers drawn at random.
  struct Template {
    let family: String
    let features: [String]
    let cause: String
    let critique: String
    let hint: String
  }

  static let templates: [Template] = [
    Template(
      family: "arith", features: ["add", "carry", "3-digit"], cause: "dropped-carry",
      critique:
        "Step # is wrong: # + # was written as #, the correct value is #. The carry from the ones column was dropped.",
      hint: "Write the carry above the next column before adding it."),
    Template(
      family: "arith", features: ["sub", "borrow", "2-digit"], cause: "missed-borrow",
      critique:
        "Step # is wrong: # - # was written as #, the correct value is #. The tens column did not lend to the ones column.",
      hint: "Borrow from the tens column when the ones digit is smaller."),
    Template(
      family: "arith", features: ["mul", "mixed-ops"], cause: "precedence",
      critique:
        "Step # computes # + # first, but the multiplication # * # must come first. The answer # should be #.",
      hint: "Evaluate products before sums."),
    Template(
      family: "arith", features: ["sub", "negative"], cause: "lost-sign",
      critique: "Step # writes # but # - # is -#. The minus sign was lost and every later step inherits it.",
      hint: "Keep the sign of a negative intermediate result."),
    Template(
      family: "arith", features: ["add", "multi-step"], cause: "copied-wrong-operand",
      critique: "Step # uses # but the previous step produced #. An intermediate value was copied wrongly.",
      hint: "Copy each operand from the line that produced it."),
    Template(
      family: "arith", features: ["mul", "2-digit"], cause: "partial-product",
      critique:
        "Step # is wrong: # * # was written as #, the correct value is #. The second partial product was not shifted.",
      hint: "Shift each partial product one column left."),
    Template(
      family: "arith", features: ["format"], cause: "parse-error",
      critique:
        "Line # could not be parsed: expected 'a op b = c' but found '# # ='. Nothing after it was checked.",
      hint: "Write every step as 'a op b = c'."),
    Template(
      family: "listdsl", features: ["filter", "order"], cause: "unexpected-sort",
      critique:
        "Test # failed: input [#, #, #], expected [#, #], got [#, #]. The program sorted the list but the examples keep input order.",
      hint: "Filter without sorting."),
    Template(
      family: "listdsl", features: ["take", "prefix"], cause: "off-by-one",
      critique: "Test # failed: input [#, #], expected [#, #], got [#]. take(#) keeps one element too few.",
      hint: "Count how many elements the examples keep."),
    Template(
      family: "listdsl", features: ["map", "filter"], cause: "wrong-predicate",
      critique:
        "Test # failed: input [#, #, #, #], expected [#, #], got [#, #, #]. The filter keeps odd numbers, the examples keep numbers above #.",
      hint: "Derive the predicate from which elements every example drops."),
    Template(
      family: "listdsl", features: ["sum", "empty"], cause: "empty-input",
      critique:
        "Test # failed: input [], expected 0, got an error. sum of an empty list raised 'head of empty list' at position #.",
      hint: "Check the empty list before taking the head."),
    Template(
      family: "listdsl", features: ["map"], cause: "parse-error",
      critique: "Parse error at column #: unknown operation 'mpa'. The program stopped before any test ran.",
      hint: "Use only the operations of the language: map, filter, sort, reverse, take, drop, sum."),
    Template(
      family: "listdsl", features: ["reverse", "drop"], cause: "operation-order",
      critique:
        "Test # failed: input [#, #, #, #], expected [#, #], got [#, #]. drop(#) ran before reverse, the examples drop from the end.",
      hint: "Reverse first when the examples remove elements from the end."),
    Template(
      family: "listdsl", features: ["map", "loop"], cause: "step-limit",
      critique:
        "The program exceeded the step limit of # steps on test #. It applies map # times to the same list.",
      hint: "Apply each operation once."),
  ]

  static func fill(_ template: String, random: inout SeededRandom) -> String {
    var result = ""
    for character in template {
      if character == "#" {
        result += String(random.nextInt(below: 98) + 2)
      } else {
        result.append(character)
      }
    }
    return result
  }

  /// Evidence for `count` failed attempts of `round`, spread over the templates.
  public static func evidence(count: Int, round: Int, run: String, random: inout SeededRandom)
    -> [NoteEvidence]
  {
    (0..<count).map { index in
      let template = templates[random.nextInt(below: templates.count)]
      let task = "\(template.family)-train-\(String(random.nextInt(below: 5000)))"
      let rollout = "r\(MemoryManifest.padded(round))-rollout-\(index)-\(random.nextInt(below: 8))"
      let provenance = NoteProvenance(
        run: run, round: round, rolloutIds: [rollout], feedbackIds: [rollout + "-feedback"],
        rewriteIds: [rollout + "-rewrite-0"], sourceTaskId: task, sourceIsHeldOut: false)
      // Half the critiques carry a cause the rule table does not know, like a new critic would.
      let cause =
        random.nextInt(below: 2) == 0 ? template.cause : template.cause + "-v\(random.nextInt(below: 3))"
      return NoteEvidence(
        family: template.family, features: template.features,
        critique: fill(template.critique, random: &random),
        causeTag: cause, hint: template.hint, verifiedRewrite: random.nextInt(below: 3) != 0,
        provenance: provenance)
    }
  }

  /// The notes `RuleBasedNoteProposer` writes for `count` pieces of evidence.
  public static func notes(count: Int, round: Int, run: String, random: inout SeededRandom) -> [Note] {
    let proposer = RuleBasedNoteProposer()
    return evidence(count: count, round: round, run: run, random: &random).flatMap {
      proposer.propose(from: $0)
    }
  }

  /// A log of `count` events shaped like a long run: about 2% note proposals (re-proposals
  /// included), 1 in 500 merges or retirements, the rest observations of existing notes with
  /// distinct rewrite ids. Every event applies to the state left by the ones before it.
  public static func events(count: Int, random: inout SeededRandom) -> [MemoryEvent] {
    var events: [MemoryEvent] = []
    events.reserveCapacity(count)
    var state = BatchOverlay(base: MemoryState())
    var active: [NoteId] = []
    var activeSet: Set<NoteId> = []
    var scopes: [NoteId: NoteScope] = [:]
    let proposer = RuleBasedNoteProposer()
    var round = 0
    while events.count < count {
      let index = events.count
      round = index / 50_000
      let roll = random.nextInt(below: 1000)
      var candidate: MemoryEvent
      if active.count < 8 || roll < 20 {
        let evidence = self.evidence(count: 1, round: round, run: "bench", random: &random)
        guard let note = evidence.first.flatMap({ proposer.propose(from: $0).first }) else { continue }
        candidate = .noteAdded(note)
      } else if roll < 21 {
        let from = active[random.nextInt(below: active.count)]
        let sameScope = active.filter { $0 != from && scopes[$0] == scopes[from] }
        guard let into = sameScope.first else { continue }
        candidate = .merged(
          NoteMerge(from: from, into: into, similarity: 0.5 + Double(random.nextInt(below: 50)) / 100))
      } else if roll < 22 {
        candidate = .retired(
          NoteRetirement(
            noteId: active[random.nextInt(below: active.count)], reason: "harmful: upper bound below zero"))
      } else {
        let note = active[random.nextInt(below: active.count)]
        let family = scopes[note]?.family ?? "arith"
        let task = "\(family)-train-\(random.nextInt(below: 5000))"
        candidate = .observation(
          ValueObservation(
            noteId: note, included: random.nextInt(below: 2) == 0, verified: random.nextInt(below: 5) < 2,
            taskId: task, round: round, rewriteId: "r\(MemoryManifest.padded(round))-rewrite-\(index)"))
      }
      guard state.check(candidate) == .applies else { continue }
      events.append(candidate)
      switch candidate {
      case .noteAdded(let note) where !activeSet.contains(note.id) && scopes[note.id] == nil:
        active.append(note.id)
        activeSet.insert(note.id)
        scopes[note.id] = note.scope
      case .merged(let merge):
        active.removeAll { $0 == merge.from }
        activeSet.remove(merge.from)
      case .retired(let retirement):
        active.removeAll { $0 == retirement.noteId }
        activeSet.remove(retirement.noteId)
      default:
        break
      }
    }
    return events
  }
}
