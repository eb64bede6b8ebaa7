/// What changed between two states of one memory (for example two snapshots).
public struct MemoryDiff: Hashable, Sendable {
  public struct ValueChange: Hashable, Sendable {
    public let id: NoteId
    public let before: ValueEvidence
    public let after: ValueEvidence
  }

  public struct Merge: Hashable, Sendable {
    public let from: NoteId
    public let into: NoteId
  }

  /// Notes in the newer state only.
  public var added: [NoteId] = []
  /// Notes in the older state only (only when comparing unrelated stores).
  public var missing: [NoteId] = []
  /// Notes retired in the newer state that were not retired in the older one.
  public var retired: [NoteId] = []
  /// Notes retired in the older state and active in the newer one.
  public var restored: [NoteId] = []
  /// Merges in the newer state that the older one lacks.
  public var merged: [Merge] = []
  /// Notes present in both whose evidence changed.
  public var valueChanges: [ValueChange] = []
  /// Events between the two states (negative if `older` is in fact newer).
  public var events = 0

  public var isEmpty: Bool {
    added.isEmpty && missing.isEmpty && retired.isEmpty && restored.isEmpty && merged.isEmpty
      && valueChanges.isEmpty
  }

  /// The changes from `older` to `newer`; every list is sorted by note id.
  public init(from older: MemoryState, to newer: MemoryState) {
    events = newer.eventCount - older.eventCount
    for record in newer.sortedRecords {
      let previous = older[record.id]
      if previous == nil { added.append(record.id) }
      if record.status == .retired && previous?.status != .retired { retired.append(record.id) }
      if record.status == .active && previous?.status == .retired { restored.append(record.id) }
      if let into = record.mergedInto, previous?.mergedInto == nil {
        merged.append(Merge(from: record.id, into: into))
      }
      if let previous, previous.evidence != record.evidence {
        valueChanges.append(ValueChange(id: record.id, before: previous.evidence, after: record.evidence))
      }
    }
    missing = older.sortedRecords.map(\.id).filter { newer[$0] == nil }
  }
}
