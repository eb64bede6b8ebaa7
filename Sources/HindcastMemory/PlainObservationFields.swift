import HindcastStorage

/// The fields of an observation record whose ids need no unescaping, read straight from the
/// scanner: the fast path shared by log records (`EventCoding`) and snapshot lines
/// (`SnapshotDecoding`). A snapshot line also names its `holder` (the note that keeps it).
struct PlainObservationFields {
  var holder: UInt64?
  var note: UInt64?
  var included: Bool?
  var verified: Bool?
  var round: Int?
  var task: Range<Int>?
  var rewrite: Range<Int>?

  /// Reads the keys after the kind key. Nil when a key is unknown (or `holder` where it is not
  /// allowed), an id needs unescaping, or a field is missing: the caller then takes its full
  /// decoder.
  static func read(_ scanner: inout JSONScanner, _ cursor: inout JSONScanner.Cursor, allowsHolder: Bool)
    throws -> PlainObservationFields?
  {
    var fields = PlainObservationFields()
    while let key = try scanner.nextRawKey(&cursor) {
      if allowsHolder && key.matches("holder") {
        fields.holder = try scanner.readHex64()
      } else if key.matches("note") {
        fields.note = try scanner.readHex64()
      } else if key.matches("included") {
        fields.included = try scanner.readBool()
      } else if key.matches("verified") {
        fields.verified = try scanner.readBool()
      } else if key.matches("task") {
        guard let range = try scanner.readPlainStringRange() else { return nil }
        fields.task = range
      } else if key.matches("round") {
        fields.round = try scanner.readInt()
      } else if key.matches("rewrite") {
        guard let range = try scanner.readPlainStringRange() else { return nil }
        fields.rewrite = range
      } else {
        return nil
      }
    }
    guard fields.note != nil, fields.included != nil, fields.verified != nil, fields.round != nil,
      fields.task != nil, fields.rewrite != nil, !allowsHolder || fields.holder != nil
    else { return nil }
    return fields
  }

  /// Appends the observation to `log` (the fields are complete: `read` checked them).
  func append(to log: inout ObservationLog, from scanner: JSONScanner) {
    guard let note, let included, let verified, let round, let task, let rewrite else { return }
    log.append(
      noteId: note, included: included, verified: verified, round: round, task: task, rewrite: rewrite,
      in: scanner.input)
  }
}
