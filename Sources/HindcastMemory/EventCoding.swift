import HindcastStorage

/// The JSON form of memory events, one object per event:
///
///     {"event":"noteAdded","id":"…","text":"…","scope":{"family":"arith","features":["carry"]},
///      "origin":"critique","provenance":{"run":"…","round":1,"rolloutIds":[…],"feedbackIds":[…],
///      "rewriteIds":[…],"sourceTaskId":"…","sourceHeldOut":false},"createdRound":1}
///     {"event":"observation","note":"…","included":true,"verified":false,"task":"…","round":1,
///      "rewrite":"…"}
///     {"event":"merged","from":"…","into":"…","similarity":0.82}
///     {"event":"retired","note":"…","reason":"…"}
///     {"event":"restored","note":"…","reason":"…"}
///
/// Keys are written in this order; readers ignore keys they do not know.
enum EventCoding {
  static func encode(_ event: MemoryEvent, into writer: inout JSONWriter) {
    writer.beginObject()
    writer.field("event", event.kind)
    switch event {
    case .noteAdded(let note):
      writeNoteFields(note, into: &writer)
    case .observation(let observation):
      writer.field("note", observation.noteId.description)
      writer.field("included", observation.included)
      writer.field("verified", observation.verified)
      writer.field("task", observation.taskId)
      writer.field("round", observation.round)
      writer.field("rewrite", observation.rewriteId)
    case .merged(let merge):
      writer.field("from", merge.from.description)
      writer.field("into", merge.into.description)
      writer.field("similarity", merge.similarity)
    case .retired(let retirement):
      writer.field("note", retirement.noteId.description)
      writer.field("reason", retirement.reason)
    case .restored(let restoration):
      writer.field("note", restoration.noteId.description)
      writer.field("reason", restoration.reason)
    }
    writer.endObject()
  }

  static func encode(_ event: MemoryEvent) -> [UInt8] {
    var writer = JSONWriter()
    encode(event, into: &writer)
    return writer.bytes
  }

  /// Writes the fields of a note (without braces), shared by events and snapshots.
  static func writeNoteFields(_ note: Note, into writer: inout JSONWriter) {
    writer.field("id", note.id.description)
    writer.field("text", note.text)
    writer.key("scope")
    writeScope(note.scope, into: &writer)
    writer.field("origin", note.origin.rawValue)
    writer.key("provenance")
    writeProvenance(note.provenance, into: &writer)
    writer.field("createdRound", note.createdRound)
  }

  static func writeScope(_ scope: NoteScope, into writer: inout JSONWriter) {
    writer.beginObject()
    writer.field("family", scope.family)
    writer.field("features", scope.features)
    writer.endObject()
  }

  static func writeProvenance(_ provenance: NoteProvenance, into writer: inout JSONWriter) {
    writer.beginObject()
    writer.field("run", provenance.run)
    writer.field("round", provenance.round)
    writer.field("rolloutIds", provenance.rolloutIds)
    writer.field("feedbackIds", provenance.feedbackIds)
    writer.field("rewriteIds", provenance.rewriteIds)
    writer.field("sourceTaskId", provenance.sourceTaskId)
    writer.field("sourceHeldOut", provenance.sourceIsHeldOut)
    writer.endObject()
  }

  static func decode(_ bytes: [UInt8]) throws -> MemoryEvent {
    try JSONScanner.scan(bytes) { try decodeEvent(&$0) }
  }

  /// Decodes one record; an observation written in the usual form (`event` first, ids without
  /// escapes) goes straight into `log` without building strings and nil is returned; any other
  /// record is returned as an event.
  static func decode(_ bytes: [UInt8], observationsInto log: inout ObservationLog) throws -> MemoryEvent? {
    let appended = try bytes.withUnsafeBufferPointer { buffer in
      try JSONScanner.scan(buffer: buffer) { scanner in
        try appendObservation(&scanner, to: &log)
      }
    }
    return appended ? nil : try decode(bytes)
  }

  /// The fast path of `decode(_:observationsInto:)`: false (and `log` unchanged) when the
  /// record is not a plain observation.
  private static func appendObservation(
    _ scanner: inout JSONScanner, to log: inout ObservationLog
  ) throws -> Bool {
    var cursor = try scanner.beginObject()
    guard let first = try scanner.nextRawKey(&cursor), first.matches("event"),
      let kind = try scanner.readPlainStringRange(), scanner.bytes(kind, equal: "observation")
    else { return false }
    guard let fields = try PlainObservationFields.read(&scanner, &cursor, allowsHolder: false) else {
      return false
    }
    try scanner.expectEnd()
    fields.append(to: &log, from: scanner)
    return true
  }

  static func decodeEvent(_ scanner: inout JSONScanner) throws -> MemoryEvent {
    var fields = EventFields()
    var cursor = try scanner.beginObject()
    while let key = try scanner.nextRawKey(&cursor) {
      try fields.read(key, from: &scanner)
    }
    return try fields.event(scanner)
  }

  static func readNoteId(_ scanner: inout JSONScanner) throws -> NoteId {
    NoteId(value: try scanner.readHex64())
  }

  static func readScope(_ scanner: inout JSONScanner) throws -> NoteScope {
    var family: String?
    var features: [String] = []
    var cursor = try scanner.beginObject()
    while let key = try scanner.nextKey(&cursor) {
      switch key {
      case "family": family = try scanner.readString()
      case "features": features = try scanner.readStringArray()
      default: try scanner.skipValue()
      }
    }
    guard let family else { throw scanner.failure("scope without 'family'") }
    return NoteScope(family: family, features: features)
  }

  static func readProvenance(_ scanner: inout JSONScanner) throws -> NoteProvenance {
    var provenance = NoteProvenance(run: "", round: 0, sourceTaskId: "")
    var cursor = try scanner.beginObject()
    var sawTask = false
    while let key = try scanner.nextKey(&cursor) {
      switch key {
      case "run": provenance.run = try scanner.readString()
      case "round": provenance.round = try scanner.readInt()
      case "rolloutIds": provenance.rolloutIds = try scanner.readStringArray()
      case "feedbackIds": provenance.feedbackIds = try scanner.readStringArray()
      case "rewriteIds": provenance.rewriteIds = try scanner.readStringArray()
      case "sourceTaskId":
        provenance.sourceTaskId = try scanner.readString()
        sawTask = true
      case "sourceHeldOut": provenance.sourceIsHeldOut = try scanner.readBool()
      default: try scanner.skipValue()
      }
    }
    guard sawTask else { throw scanner.failure("provenance without 'sourceTaskId'") }
    return provenance
  }
}

/// Fields of any event kind, collected while scanning one object.
struct EventFields {
  var kind: String?
  // noteAdded
  var id: NoteId?
  var text: String?
  var scope: NoteScope?
  var origin: NoteOrigin?
  var provenance: NoteProvenance?
  var createdRound: Int?
  // observation / retired / restored
  var note: NoteId?
  var included: Bool?
  var verified: Bool?
  var task: String?
  var round: Int?
  var rewrite: String?
  var reason: String?
  // merged
  var from: NoteId?
  var into: NoteId?
  var similarity: Double?

  mutating func read(_ key: JSONScanner.RawKey, from scanner: inout JSONScanner) throws {
    // Most frequent keys (those of observations) first.
    if key.matches("event") {
      kind = try scanner.readString()
    } else if key.matches("note") {
      note = try EventCoding.readNoteId(&scanner)
    } else if key.matches("included") {
      included = try scanner.readBool()
    } else if key.matches("verified") {
      verified = try scanner.readBool()
    } else if key.matches("task") {
      task = try scanner.readString()
    } else if key.matches("round") {
      round = try scanner.readInt()
    } else if key.matches("rewrite") {
      rewrite = try scanner.readString()
    } else if key.matches("id") {
      id = try EventCoding.readNoteId(&scanner)
    } else if key.matches("text") {
      text = try scanner.readString()
    } else if key.matches("scope") {
      scope = try EventCoding.readScope(&scanner)
    } else if key.matches("origin") {
      let raw = try scanner.readString()
      guard let value = NoteOrigin(rawValue: raw) else { throw scanner.failure("unknown origin '\(raw)'") }
      origin = value
    } else if key.matches("provenance") {
      provenance = try EventCoding.readProvenance(&scanner)
    } else if key.matches("createdRound") {
      createdRound = try scanner.readInt()
    } else if key.matches("reason") {
      reason = try scanner.readString()
    } else if key.matches("from") {
      from = try EventCoding.readNoteId(&scanner)
    } else if key.matches("into") {
      into = try EventCoding.readNoteId(&scanner)
    } else if key.matches("similarity") {
      similarity = try scanner.readDouble()
    } else {
      try scanner.skipValue()
    }
  }

  func event(_ scanner: JSONScanner) throws -> MemoryEvent {
    func missing(_ name: String) -> JSONScanError {
      scanner.failure("\(kind ?? "event") without '\(name)'")
    }
    switch kind {
    case "noteAdded":
      guard let id else { throw missing("id") }
      guard let text else { throw missing("text") }
      guard let scope else { throw missing("scope") }
      guard let origin else { throw missing("origin") }
      guard let provenance else { throw missing("provenance") }
      guard let createdRound else { throw missing("createdRound") }
      return .noteAdded(
        Note(
          storedId: id, text: text, scope: scope, origin: origin, provenance: provenance,
          createdRound: createdRound))
    case "observation":
      guard let note else { throw missing("note") }
      guard let included else { throw missing("included") }
      guard let verified else { throw missing("verified") }
      guard let task else { throw missing("task") }
      guard let round else { throw missing("round") }
      guard let rewrite else { throw missing("rewrite") }
      return .observation(
        ValueObservation(
          noteId: note, included: included, verified: verified, taskId: task, round: round,
          rewriteId: rewrite))
    case "merged":
      guard let from else { throw missing("from") }
      guard let into else { throw missing("into") }
      guard let similarity else { throw missing("similarity") }
      return .merged(NoteMerge(from: from, into: into, similarity: similarity))
    case "retired":
      guard let note else { throw missing("note") }
      return .retired(NoteRetirement(noteId: note, reason: reason ?? ""))
    case "restored":
      guard let note else { throw missing("note") }
      return .restored(NoteRestoration(noteId: note, reason: reason ?? ""))
    case nil:
      throw scanner.failure("record without 'event'")
    case let other?:
      throw scanner.failure("unknown event '\(other)'")
    }
  }
}
