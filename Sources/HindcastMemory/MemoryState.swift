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
  public internal(set) var observations: [ValueObservation]
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
public struct MemoryState: Hashable, Sendable {
  public private(set) var records: [NoteId: NoteRecord] = [:]
  /// Events folded so far (the index the next event gets).
  public private(set) var eventCount = 0
  /// Events that repeated something already recorded and were ignored.
  public private(set) var duplicateEvents = 0
  public private(set) var anomalies: [MemoryAnomaly] = []
  /// Hashes of (note id, rewrite id) of every counted observation.
  private var observationKeys: Set<UInt64> = []

  public init() {}

  /// What applying an event would do.
  public enum Outcome: Hashable, Sendable {
    case applies
    case duplicate
    case invalid(String)
  }

  /// Follows merges from `id` to the note that now holds its evidence; nil for an unknown id.
  public func root(of id: NoteId) -> NoteId? {
    EventRules.root(of: id, in: self)
  }

  public subscript(id: NoteId) -> NoteRecord? { records[id] }

  /// Every record, sorted by id (a stable order for output).
  public var sortedRecords: [NoteRecord] {
    records.values.sorted { $0.id < $1.id }
  }

  /// The observation's de-duplication key: FNV-1a over the note id and rewrite id.
  static func observationKey(_ observation: ValueObservation) -> UInt64 {
    var hash = StableHash.fnv1a64(
      bytes: withUnsafeBytes(of: observation.noteId.value.littleEndian) { Array($0) })
    for byte in observation.rewriteId.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
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

  /// Folds one event into the state. Never fails: duplicates and invalid events are counted
  /// (`duplicateEvents`, `anomalies`) and otherwise ignored.
  public mutating func apply(_ event: MemoryEvent) {
    let index = eventCount
    eventCount += 1
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
      if records[note.id] != nil {
        records[note.id]?.provenance.append(note.provenance)
        records[note.id]?.history.append(
          NoteHistoryEntry(eventIndex: index, kind: .reproposed(note.provenance)))
        records[note.id]?.lastEventAt = index
        if let root = root(of: note.id), root != note.id,
          records[root]?.provenance.contains(note.provenance) == false
        {
          records[root]?.provenance.append(note.provenance)
        }
      } else {
        records[note.id] = NoteRecord(
          note: note, status: .active, provenance: [note.provenance], evidence: ValueEvidence(),
          observations: [],
          mergedFrom: [], mergedInto: nil,
          history: [NoteHistoryEntry(eventIndex: index, kind: .added(note.provenance))], addedAt: index,
          lastEventAt: index)
      }
    case .observation(let observation):
      guard let root = root(of: observation.noteId) else { return }
      observationKeys.insert(Self.observationKey(observation))
      records[root]?.evidence.record(included: observation.included, verified: observation.verified)
      records[root]?.observations.append(observation)
      records[root]?.lastEventAt = index
    case .merged(let merge):
      guard let into = root(of: merge.into), let from = records[merge.from] else { return }
      records[merge.from]?.status = .merged
      records[merge.from]?.mergedInto = into
      records[merge.from]?.observations = []
      records[merge.from]?.lastEventAt = index
      records[merge.from]?.history.append(
        NoteHistoryEntry(eventIndex: index, kind: .mergedInto(into, similarity: merge.similarity)))
      // Take the survivor out of the dictionary so its arrays are uniquely owned while growing.
      guard var survivor = records.removeValue(forKey: into) else { return }
      survivor.evidence = survivor.evidence + from.evidence
      survivor.observations.append(contentsOf: from.observations)
      for provenance in from.provenance where !survivor.provenance.contains(provenance) {
        survivor.provenance.append(provenance)
      }
      survivor.mergedFrom.append(merge.from)
      survivor.lastEventAt = index
      survivor.history.append(
        NoteHistoryEntry(eventIndex: index, kind: .absorbed(from: merge.from, similarity: merge.similarity)))
      records[into] = survivor
    case .retired(let retirement):
      records[retirement.noteId]?.status = .retired
      records[retirement.noteId]?.lastEventAt = index
      records[retirement.noteId]?.history.append(
        NoteHistoryEntry(eventIndex: index, kind: .retired(reason: retirement.reason)))
    case .restored(let restoration):
      records[restoration.noteId]?.status = .active
      records[restoration.noteId]?.lastEventAt = index
      records[restoration.noteId]?.history.append(
        NoteHistoryEntry(eventIndex: index, kind: .restored(reason: restoration.reason)))
    }
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
    let matches = records.keys.filter { $0.description.hasPrefix(wanted) }.sorted()
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

  // Restores a state from a snapshot (see MemorySnapshot).
  init(records: [NoteId: NoteRecord], eventCount: Int, duplicateEvents: Int, anomalies: [MemoryAnomaly]) {
    self.records = records
    self.eventCount = eventCount
    self.duplicateEvents = duplicateEvents
    self.anomalies = anomalies
    for record in records.values {
      for observation in record.observations { observationKeys.insert(Self.observationKey(observation)) }
    }
  }
}
