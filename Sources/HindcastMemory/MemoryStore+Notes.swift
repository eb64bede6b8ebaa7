import HindcastSupport

extension MemoryStore {
  /// Stores proposed notes in one batch. A note whose id exists already gets its provenance
  /// added (`.reproposed`). A new note that is a near-duplicate of an active note of the same
  /// scope (similarity ≥ `settings.mergeThreshold`, see `ShingleSet`) is stored and merged into
  /// the most similar one, which keeps both provenances and all evidence (`.merged`). Otherwise
  /// it is `.added`. Notes earlier in the batch count as existing for later ones.
  @discardableResult
  public func add(_ notes: [Note]) throws -> [NoteAddition] {
    try requireWritable()
    var events: [MemoryEvent] = []
    var outcomes: [NoteAddition] = []
    // Active notes added earlier in this batch, by scope.
    var batchNotes: [NoteScope: [(id: NoteId, shingles: ShingleSet)]] = [:]
    var batchIds: Set<NoteId> = []
    let activeByScope = activeNotesByScope()
    for note in notes {
      events.append(.noteAdded(note))
      if state[note.id] != nil || batchIds.contains(note.id) {
        outcomes.append(.reproposed(note.id))
        continue
      }
      batchIds.insert(note.id)
      let shingles = ShingleSet(note.text)
      var best: (id: NoteId, similarity: Double)?
      let candidates =
        (activeByScope[note.scope] ?? []).map { ($0, shingleSet(of: $0)) } + (batchNotes[note.scope] ?? [])
      for (candidate, candidateShingles) in candidates {
        let similarity = shingles.jaccard(candidateShingles)
        guard similarity >= settings.mergeThreshold else { continue }
        if let current = best,
          similarity < current.similarity || (similarity == current.similarity && candidate > current.id)
        {
          continue
        }
        best = (candidate, similarity)
      }
      if let best {
        events.append(.merged(NoteMerge(from: note.id, into: best.id, similarity: best.similarity)))
        outcomes.append(.merged(note.id, into: best.id, similarity: best.similarity))
      } else {
        batchNotes[note.scope, default: []].append((note.id, shingles))
        shingleCache[note.id] = shingles
        outcomes.append(.added(note.id))
      }
    }
    try append(events)
    return outcomes
  }

  private func activeNotesByScope() -> [NoteScope: [NoteId]] {
    var result: [NoteScope: [NoteId]] = [:]
    for record in state.records where record.status == .active {
      result[record.note.scope, default: []].append(record.id)
    }
    return result
  }

  private func shingleSet(of id: NoteId) -> ShingleSet {
    if let cached = shingleCache[id] { return cached }
    let shingles = ShingleSet(state[id]?.note.text ?? "")
    shingleCache[id] = shingles
    return shingles
  }

  /// Records randomized-exposure outcomes (one batch, one fsync). Observations of a merged note
  /// count for the note it was merged into; a (note, rewrite) pair already recorded is skipped.
  @discardableResult
  public func record(_ observations: [ValueObservation]) throws -> MemoryAppendResult {
    try append(observations.map { .observation($0) })
  }

  /// Retires a note (a tombstone event; the note and its evidence stay). Returns false if it was
  /// already retired.
  @discardableResult
  public func retire(_ id: NoteId, reason: String) throws -> Bool {
    try append([.retired(NoteRetirement(noteId: id, reason: reason))]).appended == 1
  }

  /// Makes a retired note active again. Returns false if it was already active.
  @discardableResult
  public func restore(_ id: NoteId, reason: String) throws -> Bool {
    try append([.restored(NoteRestoration(noteId: id, reason: reason))]).appended == 1
  }

  /// Notes for a task (see `MemoryState.retrieve`), with the budget capped at the store's
  /// `maxRetrievalTokens` whatever the caller asks for.
  public func retrieve(
    family: String, features: [String], excludingTaskIds: Set<String>, excludeHeldOutSources: Bool = true,
    tokenBudget: Int, options: RetrievalOptions = RetrievalOptions()
  ) -> [RetrievedNote] {
    state.retrieve(
      family: family, features: features, excludingTaskIds: excludingTaskIds,
      excludeHeldOutSources: excludeHeldOutSources,
      tokenBudget: min(tokenBudget, settings.maxRetrievalTokens),
      options: options)
  }

  /// Proposes notes from evidence with `proposer` and stores them (`add`).
  @discardableResult
  public func propose(from evidence: [NoteEvidence], using proposer: NoteProposer) throws -> [NoteAddition] {
    try add(evidence.flatMap { proposer.propose(from: $0) })
  }
}
