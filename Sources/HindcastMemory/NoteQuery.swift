/// How `memory ls` and `memory grep` order notes.
public enum NoteSort: String, CaseIterable, Sendable {
  /// Highest mean value first.
  case value
  /// Widest interval (largest posterior standard deviation) first.
  case uncertainty
  /// Most rewrites with the note in context first.
  case uses
  /// Most recently touched by an event first.
  case recency
  /// By id.
  case id
}

/// A filter and order over the notes of a state.
public struct NoteQuery: Sendable {
  /// Only notes of this family.
  public var family: String?
  /// Only notes whose scope lists this feature.
  public var feature: String?
  public var origin: NoteOrigin?
  public var statuses: Set<NoteStatus>
  /// Only notes whose text contains this (case-insensitive unless `caseSensitive`).
  public var text: String?
  public var caseSensitive: Bool
  public var sort: NoteSort
  /// At most this many notes (after sorting).
  public var limit: Int?

  public init(
    family: String? = nil, feature: String? = nil, origin: NoteOrigin? = nil,
    statuses: Set<NoteStatus> = [.active, .retired], text: String? = nil, caseSensitive: Bool = false,
    sort: NoteSort = .value, limit: Int? = nil
  ) {
    self.family = family
    self.feature = feature
    self.origin = origin
    self.statuses = statuses
    self.text = text
    self.caseSensitive = caseSensitive
    self.sort = sort
    self.limit = limit
  }

  /// The matching records, sorted (ties by id).
  public func select(from state: MemoryState) -> [NoteRecord] {
    let needle = text.map { caseSensitive ? $0 : $0.lowercased() }
    var records = state.records.filter { record in
      guard statuses.contains(record.status) else { return false }
      if let family, record.note.scope.family != family { return false }
      if let feature, !record.note.scope.features.contains(feature) { return false }
      if let origin, record.note.origin != origin { return false }
      if let needle {
        let haystack = caseSensitive ? record.note.text : record.note.text.lowercased()
        if !haystack.contains(needle) { return false }
      }
      return true
    }
    func key(_ record: NoteRecord) -> Double {
      switch sort {
      case .value: return record.estimate.mean
      case .uncertainty: return record.estimate.standardDeviation
      case .uses: return Double(record.uses)
      case .recency: return Double(record.lastEventAt)
      case .id: return 0
      }
    }
    records.sort { lhs, rhs in
      let (left, right) = (key(lhs), key(rhs))
      return left != right ? left > right : lhs.id < rhs.id
    }
    if let limit, records.count > limit { records = Array(records.prefix(limit)) }
    return records
  }
}
