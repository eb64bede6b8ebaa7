import HindcastSupport

/// Whether a note takes part in retrieval.
public enum NoteStatus: String, Hashable, Sendable, CaseIterable {
  /// Retrievable.
  case active
  /// Tombstoned by a `retired` event; `restore` makes it active again.
  case retired
  /// Folded into another note by a `merged` event; its evidence counts there.
  case merged
}

/// One line of a note's history, with the index of the event (0-based, over the whole log).
public struct NoteHistoryEntry: Hashable, Sendable {
  public enum Kind: Hashable, Sendable {
    case added(NoteProvenance)
    /// The same note (same id) was proposed again from other evidence.
    case reproposed(NoteProvenance)
    /// Another note was merged into this one.
    case absorbed(from: NoteId, similarity: Double)
    /// This note was merged into another.
    case mergedInto(NoteId, similarity: Double)
    case retired(reason: String)
    case restored(reason: String)
  }

  public let eventIndex: Int
  public let kind: Kind
}

/// The folded state of one note: the note itself plus everything events have said about it.
public struct NoteRecord: Hashable, Sendable {
  public let note: Note
  public internal(set) var status: NoteStatus
  /// Provenance of every proposal of this note and of every note merged into it, oldest first.
  public internal(set) var provenance: [NoteProvenance]
  /// Counts over `observations` (for a merged note: frozen at the merge).
  public internal(set) var evidence: ValueEvidence
  /// Every observation counted in `evidence`, including those of notes merged into this one and
  /// those logged against such notes after the merge. Empty for a merged note (moved to the
  /// survivor).
  public internal(set) var observations: ObservationLog
  /// Notes merged into this one, in merge order.
  public internal(set) var mergedFrom: [NoteId]
  /// The note this one was merged into, if any.
  public internal(set) var mergedInto: NoteId?
  public internal(set) var history: [NoteHistoryEntry]
  /// The index of the event that added the note.
  public let addedAt: Int
  /// The index of the latest event that concerned the note (for sorting by recency).
  public internal(set) var lastEventAt: Int

  public var id: NoteId { note.id }
  public var estimate: ValueEstimate { evidence.estimate }
  /// Rewrites in which the note was in the teacher's context.
  public var uses: Int { evidence.included.trials }
}

/// An event the fold could not apply (for example an observation of an unknown note). The store
/// never writes such events; they can only come from a damaged or hand-edited log, and
/// `verify` reports them.
public struct MemoryAnomaly: Hashable, Sendable {
  public let eventIndex: Int
  public let message: String
}

/// The memory as a pure fold of its events: `MemoryState()` followed by `apply` of every event
/// in log order. Applying the same log always gives an equal state; re-applying an event that
/// already took effect (the same note proposed with the same provenance, the same (note,
/// rewrite) observation, a second retirement) changes nothing but `duplicateEvents`, so a stage
/// that re-runs after a crash cannot double-count.
///
/// Records are kept in an array in the order notes were added, with an index by id, so that
/// folding an observation updates its note in place.
public struct MemoryState: Hashable, Sendable {
  /// Every note, in the order it was first added.
  public private(set) var records: [NoteRecord] = []
  private var positions = PositionIndex()
  /// Events folded so far (the index the next event gets).
  public private(set) var eventCount = 0
  /// Events that repeated something already recorded and were ignored.
  public private(set) var duplicateEvents = 0
  public private(set) var anomalies: [MemoryAnomaly] = []
  /// Hashes of (note id, rewrite id) of every counted observation.
  private var observationKeys = KeySet()
  /// `ProvenanceKey` of every (note, provenance) pair in the notes' provenance lists.
  private var provenanceKeys = KeySet()

  public init() {}

  /// What applying an event would do.
  public enum Outcome: Hashable, Sendable {
    case applies
    case duplicate
    case invalid(String)
  }

  public subscript(id: NoteId) -> NoteRecord? {
    positions[id].map { records[$0] }
  }

  /// The number of notes (of every status).
  public var noteCount: Int { records.count }

  func position(of id: NoteId) -> Int? { positions[id] }

  /// Follows merges from `id` to the position of the note that now holds its evidence.
  private func rootPosition(of id: NoteId) -> Int? {
    guard var position = positions[id] else { return nil }
    for _ in 0...records.count {
      guard let next = records[position].mergedInto else { return position }
      guard let nextPosition = positions[next] else { return nil }
      position = nextPosition
    }
    return nil
  }

  /// Follows merges from `id` to the note that now holds its evidence; nil for an unknown id.
  public func root(of id: NoteId) -> NoteId? {
    rootPosition(of: id).map { records[$0].id }
  }

  /// Every record, sorted by id (a stable order for output).
  public var sortedRecords: [NoteRecord] {
    records.sorted { $0.id < $1.id }
  }

  /// The observation's de-duplication key (see `ObservationKey`).
  static func observationKey(_ observation: ValueObservation) -> UInt64 {
    ObservationKey.of(noteId: observation.noteId.value, rewrite: observation.rewriteId.utf8)
  }

  /// What applying `event` to this state would do.
  public func outcome(of event: MemoryEvent) -> Outcome {
    EventRules.outcome(of: event, in: self)
  }

  /// The outcome of each event of a batch, as if the earlier ones had been applied (without
  /// changing this state).
  public func outcomes(of events: [MemoryEvent]) -> [Outcome] {
    var overlay = BatchOverlay(base: self)
    return events.map { overlay.check($0) }
  }

  func contains(observationKey key: UInt64) -> Bool { observationKeys.contains(key) }

  func contains(provenanceKey key: UInt64) -> Bool { provenanceKeys.contains(key) }

  /// Adds `provenance` to note `position`'s list unless it is there already.
  private mutating func addProvenance(_ provenance: NoteProvenance, at position: Int) {
    guard provenanceKeys.insert(ProvenanceKey.of(records[position].id, provenance)) else { return }
    records[position].provenance.append(provenance)
  }

  /// Folds one event into the state. Never fails: duplicates and invalid events are counted
  /// (`duplicateEvents`, `anomalies`) and otherwise ignored.
  public mutating func apply(_ event: MemoryEvent) {
    let index = eventCount
    eventCount += 1
    // Observations are nearly every event: a direct path with one lookup and one set insert.
    if case .observation(let observation) = event {
      guard let root = rootPosition(of: observation.noteId) else {
        anomalies.append(
          MemoryAnomaly(eventIndex: index, message: "observation of unknown note \(observation.noteId)"))
        return
      }
      guard observationKeys.insert(Self.observationKey(observation)) else {
        duplicateEvents += 1
        return
      }
      records[root].evidence.record(included: observation.included, verified: observation.verified)
      records[root].observations.append(observation)
      records[root].lastEventAt = index
      return
    }
    switch outcome(of: event) {
    case .duplicate:
      duplicateEvents += 1
      return
    case .invalid(let message):
      anomalies.append(MemoryAnomaly(eventIndex: index, message: message))
      return
    case .applies:
      break
    }
    switch event {
    case .noteAdded(let note):
      if let position = positions[note.id] {
        addProvenance(note.provenance, at: position)
        records[position].history.append(
          NoteHistoryEntry(eventIndex: index, kind: .reproposed(note.provenance)))
        records[position].lastEventAt = index
        if let root = rootPosition(of: note.id), root != position {
          addProvenance(note.provenance, at: root)
        }
      } else {
        provenanceKeys.insert(ProvenanceKey.of(note.id, note.provenance))
        positions[note.id] = records.count
        records.append(
          NoteRecord(
            note: note, status: .active, provenance: [note.provenance], evidence: ValueEvidence(),
            observations: ObservationLog(),
            mergedFrom: [], mergedInto: nil,
            history: [NoteHistoryEntry(eventIndex: index, kind: .added(note.provenance))], addedAt: index,
            lastEventAt: index))
      }
    case .observation:
      break
    case .merged(let merge):
      guard let into = rootPosition(of: merge.into), let from = positions[merge.from] else { return }
      let intoId = records[into].id
      let moved = records[from].observations
      records[from].status = .merged
      records[from].mergedInto = intoId
      records[from].observations.removeAll()
      records[from].lastEventAt = index
      records[from].history.append(
        NoteHistoryEntry(eventIndex: index, kind: .mergedInto(intoId, similarity: merge.similarity)))
      records[into].evidence = records[into].evidence + records[from].evidence
      records[into].observations.append(contentsOf: moved)
      for provenance in records[from].provenance { addProvenance(provenance, at: into) }
      records[into].mergedFrom.append(merge.from)
      records[into].lastEventAt = index
      records[into].history.append(
        NoteHistoryEntry(eventIndex: index, kind: .absorbed(from: merge.from, similarity: merge.similarity)))
    case .retired(let retirement):
      guard let position = positions[retirement.noteId] else { return }
      records[position].status = .retired
      records[position].lastEventAt = index
      records[position].history.append(
        NoteHistoryEntry(eventIndex: index, kind: .retired(reason: retirement.reason)))
    case .restored(let restoration):
      guard let position = positions[restoration.noteId] else { return }
      records[position].status = .active
      records[position].lastEventAt = index
      records[position].history.append(
        NoteHistoryEntry(eventIndex: index, kind: .restored(reason: restoration.reason)))
    }
  }

  /// Folds observation `position` of a decoded log: the same as applying it as an event, without
  /// building strings.
  mutating func applyObservation(_ log: ObservationLog, _ position: Int) {
    let index = eventCount
    eventCount += 1
    guard let root = rootPosition(of: log.noteId(position)) else {
      anomalies.append(
        MemoryAnomaly(eventIndex: index, message: "observation of unknown note \(log.noteId(position))"))
      return
    }
    guard observationKeys.insert(log.key(position)) else {
      duplicateEvents += 1
      return
    }
    records[root].evidence.record(included: log.included(position), verified: log.verified(position))
    records[root].observations.append(log, position)
    records[root].lastEventAt = index
  }

  /// Folds events in order.
  public mutating func apply<Events: Sequence>(_ events: Events) where Events.Element == MemoryEvent {
    for event in events { apply(event) }
  }

  /// The state after folding `events` into an empty memory.
  public static func fold<Events: Sequence>(_ events: Events) -> MemoryState
  where Events.Element == MemoryEvent {
    var state = MemoryState()
    state.apply(events)
    return state
  }

  /// The note whose id starts with `prefix` (hex, at least 4 digits). Throws if none or several
  /// match, listing candidates.
  public func resolve(prefix: String) throws -> NoteId {
    let wanted = prefix.lowercased()
    guard wanted.utf8.count >= 4, wanted.allSatisfy({ $0.isHexDigit }) else {
      throw HindcastError(
        .invalidInput, "'\(prefix)' is not a note id",
        hint: "give at least 4 hex digits of an id from 'memory ls'")
    }
    let matches = records.map(\.id).filter { $0.description.hasPrefix(wanted) }.sorted()
    guard let first = matches.first else {
      throw HindcastError(
        .invalidInput, "no note id starts with '\(prefix)'", hint: "list ids with 'memory ls'")
    }
    guard matches.count == 1 else {
      let listed = matches.prefix(5).map(\.description).joined(separator: ", ")
      throw HindcastError(
        .invalidInput,
        "'\(prefix)' matches \(matches.count) notes (\(listed)\(matches.count > 5 ? ", …" : ""))",
        hint: "give more digits")
    }
    return first
  }

  /// Equal when they hold the same notes (in any order) and counters; the order of `records`
  /// is the order notes were added, which a snapshot preserves.
  public static func == (lhs: MemoryState, rhs: MemoryState) -> Bool {
    guard lhs.eventCount == rhs.eventCount, lhs.duplicateEvents == rhs.duplicateEvents,
      lhs.anomalies == rhs.anomalies, lhs.records.count == rhs.records.count,
      lhs.observationKeys == rhs.observationKeys, lhs.provenanceKeys == rhs.provenanceKeys
    else { return false }
    return lhs.records.allSatisfy { rhs[$0.id] == $0 }
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(eventCount)
    hasher.combine(records.count)
  }

  // Restores a state from a snapshot (see SnapshotCoding); `records` in the order they were added.
  init(records: [NoteRecord], eventCount: Int, duplicateEvents: Int, anomalies: [MemoryAnomaly]) {
    self.records = records
    self.eventCount = eventCount
    self.duplicateEvents = duplicateEvents
    self.anomalies = anomalies
    for (position, record) in records.enumerated() {
      positions[record.id] = position
      for index in record.observations.indices { observationKeys.insert(record.observations.key(index)) }
      for provenance in record.provenance { provenanceKeys.insert(ProvenanceKey.of(record.id, provenance)) }
    }
  }
}
