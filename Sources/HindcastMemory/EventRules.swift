/// The part of a note that decides whether an event applies.
struct NoteView {
  var scope: NoteScope
  var text: String
  var status: NoteStatus
  var mergedInto: NoteId?
}

/// Read access to notes for `EventRules`: the state itself, or a batch overlay on top of it.
protocol NoteLookup {
  func view(_ id: NoteId) -> NoteView?
  func hasObservation(_ key: UInt64) -> Bool
  /// Whether note `id` lists provenance with this key (`ProvenanceKey`).
  func hasProvenance(_ key: UInt64) -> Bool
  var noteCount: Int { get }
}

extension MemoryState: NoteLookup {
  func view(_ id: NoteId) -> NoteView? {
    guard let position = position(of: id) else { return nil }
    let record = records[position]
    return NoteView(
      scope: record.note.scope, text: record.note.text, status: record.status,
      mergedInto: record.mergedInto)
  }

  func hasObservation(_ key: UInt64) -> Bool { contains(observationKey: key) }

  func hasProvenance(_ key: UInt64) -> Bool { contains(provenanceKey: key) }

}

/// The rules of the fold, shared by `MemoryState.apply` and batch validation before an append.
enum EventRules {
  static func root<Lookup: NoteLookup>(of id: NoteId, in lookup: Lookup) -> NoteId? {
    var current = id
    for _ in 0...lookup.noteCount {
      guard let view = lookup.view(current) else { return nil }
      guard let next = view.mergedInto else { return current }
      current = next
    }
    return nil
  }

  static func outcome<Lookup: NoteLookup>(of event: MemoryEvent, in lookup: Lookup) -> MemoryState.Outcome {
    switch event {
    case .noteAdded(let note):
      guard let view = lookup.view(note.id) else { return .applies }
      guard view.scope == note.scope, view.text == note.text else {
        return .invalid("note \(note.id) was added again with another scope or text")
      }
      return lookup.hasProvenance(ProvenanceKey.of(note.id, note.provenance)) ? .duplicate : .applies
    case .observation(let observation):
      guard root(of: observation.noteId, in: lookup) != nil else {
        return .invalid("observation of unknown note \(observation.noteId)")
      }
      let key = MemoryState.observationKey(observation)
      return lookup.hasObservation(key) ? .duplicate : .applies
    case .merged(let merge):
      guard let from = lookup.view(merge.from) else {
        return .invalid("merge from unknown note \(merge.from)")
      }
      guard let into = root(of: merge.into, in: lookup) else {
        return .invalid("merge into unknown note \(merge.into)")
      }
      if from.mergedInto != nil {
        return root(of: merge.from, in: lookup) == into
          ? .duplicate : .invalid("note \(merge.from) is already merged")
      }
      guard into != merge.from else { return .invalid("note \(merge.from) cannot be merged into itself") }
      guard from.scope == lookup.view(into)?.scope else {
        return .invalid("merge of \(merge.from) into \(merge.into) crosses scopes")
      }
      return .applies
    case .retired(let retirement):
      guard let view = lookup.view(retirement.noteId) else {
        return .invalid("retirement of unknown note \(retirement.noteId)")
      }
      switch view.status {
      case .active: return .applies
      case .retired: return .duplicate
      case .merged:
        let survivor = root(of: retirement.noteId, in: lookup)?.description ?? "its survivor"
        return .invalid("note \(retirement.noteId) is merged; retire \(survivor) instead")
      }
    case .restored(let restoration):
      guard let view = lookup.view(restoration.noteId) else {
        return .invalid("restoration of unknown note \(restoration.noteId)")
      }
      switch view.status {
      case .retired: return .applies
      case .active: return .duplicate
      case .merged: return .invalid("note \(restoration.noteId) is merged, not retired")
      }
    }
  }
}

/// A batch's effects on note views, layered over the state, so a batch can be validated event by
/// event before anything is written or folded.
struct BatchOverlay: NoteLookup {
  let base: MemoryState
  private var changed: [NoteId: NoteView] = [:]
  private var observations = KeySet()
  private var provenance = KeySet()

  init(base: MemoryState) { self.base = base }

  func view(_ id: NoteId) -> NoteView? { changed[id] ?? base.view(id) }

  func hasObservation(_ key: UInt64) -> Bool { observations.contains(key) || base.hasObservation(key) }

  func hasProvenance(_ key: UInt64) -> Bool { provenance.contains(key) || base.hasProvenance(key) }

  var noteCount: Int { base.noteCount + changed.count }

  /// The outcome of `event` after the batch so far; applies its effect when it applies.
  mutating func check(_ event: MemoryEvent) -> MemoryState.Outcome {
    let outcome = EventRules.outcome(of: event, in: self)
    guard outcome == .applies else { return outcome }
    switch event {
    case .noteAdded(let note):
      provenance.insert(ProvenanceKey.of(note.id, note.provenance))
      if view(note.id) == nil {
        changed[note.id] = NoteView(scope: note.scope, text: note.text, status: .active, mergedInto: nil)
      }
    case .observation(let observation):
      observations.insert(MemoryState.observationKey(observation))
    case .merged(let merge):
      if var from = view(merge.from) {
        from.status = .merged
        from.mergedInto = EventRules.root(of: merge.into, in: self)
        changed[merge.from] = from
      }
    case .retired(let retirement):
      if var note = view(retirement.noteId) {
        note.status = .retired
        changed[retirement.noteId] = note
      }
    case .restored(let restoration):
      if var note = view(restoration.noteId) {
        note.status = .active
        changed[restoration.noteId] = note
      }
    }
    return outcome
  }
}

/// Identifies one provenance entry of one note: FNV-1a 64 over the note id and every field of
/// the provenance (lengths included, so fields cannot run into each other).
enum ProvenanceKey {
  static func of(_ id: NoteId, _ provenance: NoteProvenance) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    func mix(_ value: UInt64) {
      var value = value
      for _ in 0..<8 {
        hash ^= value & 0xFF
        hash = hash &* 0x0000_0100_0000_01B3
        value >>= 8
      }
    }
    func mix(_ text: String) {
      mix(UInt64(text.utf8.count))
      for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
      }
    }
    func mix(_ list: [String]) {
      mix(UInt64(list.count))
      for text in list { mix(text) }
    }
    mix(id.value)
    mix(provenance.run)
    mix(UInt64(bitPattern: Int64(provenance.round)))
    mix(provenance.rolloutIds)
    mix(provenance.feedbackIds)
    mix(provenance.rewriteIds)
    mix(provenance.sourceTaskId)
    mix(provenance.sourceIsHeldOut ? 1 : 0)
    return hash
  }
}
