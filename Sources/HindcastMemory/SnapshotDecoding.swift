import HindcastStorage
import HindcastSupport

extension SnapshotCoding {
  private enum Line {
    indirect case note(NoteRecord)
    case observation(holder: NoteId, ValueObservation)
    case anomaly(MemoryAnomaly)
  }

  /// The lines of one chunk: notes and anomalies as values, observations compactly with the
  /// note that holds each.
  private struct Chunk {
    var notes: [NoteRecord] = []
    var anomalies: [MemoryAnomaly] = []
    var observations = ObservationLog()
    var holders: [NoteId] = []
  }

  /// Rebuilds the state saved by `encode`. `location` names the file in errors (with the line).
  static func decode(_ bytes: [UInt8], location: String, threads: Int) throws -> (Header, MemoryState) {
    var lines: [Range<Int>] = []
    var start = 0
    for index in 0..<bytes.count where bytes[index] == 0x0A {
      if index > start { lines.append(start..<index) }
      start = index + 1
    }
    if start < bytes.count { lines.append(start..<bytes.count) }
    guard let first = lines.first else {
      throw HindcastError(.corruptFile, "snapshot is empty", location: location)
    }
    let header = try parse(bytes, first, line: 1, location: location) { try readHeader(&$0) }
    let body = Array(lines.dropFirst())
    let chunkSize = 16384
    let chunks = (body.count + chunkSize - 1) / chunkSize
    var records: [NoteRecord] = []
    var positions: [NoteId: Int] = [:]
    var anomalies: [MemoryAnomaly] = []
    var observationCount = 0
    try ParallelWork.pipeline(
      count: chunks, threads: threads,
      produce: { chunk -> Chunk in
        var parsed = Chunk()
        for index in (chunk * chunkSize)..<min(body.count, (chunk + 1) * chunkSize) {
          try parse(bytes, body[index], line: index + 2, location: location) { scanner in
            try readLine(&scanner, into: &parsed)
          }
        }
        return parsed
      },
      consume: { _, parsed in
        for record in parsed.notes {
          guard positions[record.id] == nil else {
            throw HindcastError(.corruptFile, "snapshot lists note \(record.id) twice", location: location)
          }
          positions[record.id] = records.count
          records.append(record)
        }
        for (index, holder) in parsed.holders.enumerated() {
          guard let position = positions[holder] else {
            throw HindcastError(
              .corruptFile, "snapshot observation held by unknown note \(holder)", location: location)
          }
          records[position].observations.append(parsed.observations, index)
        }
        observationCount += parsed.holders.count
        anomalies.append(contentsOf: parsed.anomalies)
      })
    guard records.count == header.notes, observationCount == header.observations else {
      throw HindcastError(
        .corruptFile,
        "snapshot holds \(records.count) notes and \(observationCount) observations, its header says "
          + "\(header.notes) and \(header.observations)", location: location)
    }
    let state = MemoryState(
      records: records, eventCount: header.eventCount, duplicateEvents: header.duplicateEvents,
      anomalies: anomalies)
    return (header, state)
  }

  /// Reads one body line into `chunk`: observation lines in their usual form take a fast path
  /// that builds no strings.
  private static func readLine(_ scanner: inout JSONScanner, into chunk: inout Chunk) throws {
    let start = scanner.offset
    if try readPlainObservation(&scanner, into: &chunk) { return }
    scanner.rewind(to: start)
    switch try readLine(&scanner) {
    case .note(let record): chunk.notes.append(record)
    case .anomaly(let anomaly): chunk.anomalies.append(anomaly)
    case .observation(let holder, let observation):
      chunk.observations.append(observation)
      chunk.holders.append(holder)
    }
  }

  /// `{"kind":"observation","holder":…,"note":…,"included":…,"verified":…,"task":…,"round":…,
  /// "rewrite":…}` with ids without escapes; false (chunk unchanged) for anything else.
  private static func readPlainObservation(_ scanner: inout JSONScanner, into chunk: inout Chunk) throws
    -> Bool
  {
    var cursor = try scanner.beginObject()
    guard let first = try scanner.nextRawKey(&cursor), first.matches("kind"),
      let kind = try scanner.readPlainStringRange(), scanner.bytes(kind, equal: "observation")
    else { return false }
    guard let fields = try PlainObservationFields.read(&scanner, &cursor, allowsHolder: true),
      let holder = fields.holder
    else { return false }
    fields.append(to: &chunk.observations, from: scanner)
    chunk.holders.append(NoteId(value: holder))
    return true
  }

  private static func parse<Result>(
    _ bytes: [UInt8], _ range: Range<Int>, line: Int, location: String,
    _ body: (inout JSONScanner) throws -> Result
  ) throws -> Result {
    do {
      return try JSONScanner.scan(bytes[range], body)
    } catch let error as JSONScanError {
      throw HindcastError(
        .corruptFile, "malformed snapshot line: \(error)", location: HindcastError.at(location, line: line))
    }
  }

  private static func readHeader(_ scanner: inout JSONScanner) throws -> Header {
    var header = Header(number: 0, eventCount: 0, duplicateEvents: 0, notes: 0, observations: 0, label: nil)
    var format: String?
    var version: Int?
    var cursor = try scanner.beginObject()
    while let key = try scanner.nextKey(&cursor) {
      switch key {
      case "format": format = try scanner.readString()
      case "version": version = try scanner.readInt()
      case "number": header.number = try scanner.readInt()
      case "eventCount": header.eventCount = try scanner.readInt()
      case "duplicateEvents": header.duplicateEvents = try scanner.readInt()
      case "notes": header.notes = try scanner.readInt()
      case "observations": header.observations = try scanner.readInt()
      case "label": header.label = try scanner.readNull() ? nil : try scanner.readString()
      default: try scanner.skipValue()
      }
    }
    guard format == formatName else { throw scanner.failure("not a memory snapshot header") }
    guard version == Self.version else {
      throw scanner.failure("snapshot version \(version ?? -1) is not \(Self.version)")
    }
    return header
  }

  private static func readLine(_ scanner: inout JSONScanner) throws -> Line {
    var fields = EventFields()
    var holder: NoteId?
    var status: NoteStatus?
    var mergedInto: NoteId?
    var mergedFrom: [NoteId] = []
    var addedAt: Int?
    var lastEventAt: Int?
    var evidence = ValueEvidence()
    var provenanceList: [NoteProvenance] = []
    var history: [NoteHistoryEntry] = []
    var eventIndex: Int?
    var message: String?
    var lineKind: String?
    var cursor = try scanner.beginObject()
    while let key = try scanner.nextRawKey(&cursor) {
      if key.matches("kind") {
        lineKind = try scanner.readString()
      } else if key.matches("holder") {
        holder = try EventCoding.readNoteId(&scanner)
      } else if key.matches("status") {
        let raw = try scanner.readString()
        guard let value = NoteStatus(rawValue: raw) else { throw scanner.failure("unknown status '\(raw)'") }
        status = value
      } else if key.matches("mergedInto") {
        mergedInto = try scanner.readNull() ? nil : try EventCoding.readNoteId(&scanner)
      } else if key.matches("mergedFrom") {
        var array = try scanner.beginArray()
        while try scanner.nextElement(&array) { mergedFrom.append(try EventCoding.readNoteId(&scanner)) }
      } else if key.matches("addedAt") {
        addedAt = try scanner.readInt()
      } else if key.matches("lastEventAt") {
        lastEventAt = try scanner.readInt()
      } else if key.matches("evidence") {
        evidence = try readEvidence(&scanner)
      } else if key.matches("provenanceList") {
        var array = try scanner.beginArray()
        while try scanner.nextElement(&array) {
          provenanceList.append(try EventCoding.readProvenance(&scanner))
        }
      } else if key.matches("history") {
        var array = try scanner.beginArray()
        while try scanner.nextElement(&array) { history.append(try readHistory(&scanner)) }
      } else if key.matches("eventIndex") {
        eventIndex = try scanner.readInt()
      } else if key.matches("message") {
        message = try scanner.readString()
      } else {
        try fields.read(key, from: &scanner)
      }
    }
    switch lineKind {
    case "observation":
      fields.kind = "observation"
      guard let holder else { throw scanner.failure("observation without 'holder'") }
      guard case .observation(let observation) = try fields.event(scanner) else {
        throw scanner.failure("malformed observation")
      }
      return .observation(holder: holder, observation)
    case "note":
      fields.kind = "noteAdded"
      guard case .noteAdded(let note) = try fields.event(scanner) else {
        throw scanner.failure("malformed note")
      }
      guard let status, let addedAt, let lastEventAt else {
        throw scanner.failure("note line without 'status', 'addedAt' or 'lastEventAt'")
      }
      return .note(
        NoteRecord(
          note: note, status: status, provenance: provenanceList, evidence: evidence,
          observations: ObservationLog(),
          mergedFrom: mergedFrom, mergedInto: mergedInto, history: history, addedAt: addedAt,
          lastEventAt: lastEventAt))
    case "anomaly":
      guard let eventIndex, let message else {
        throw scanner.failure("anomaly without 'eventIndex' or 'message'")
      }
      return .anomaly(MemoryAnomaly(eventIndex: eventIndex, message: message))
    default:
      throw scanner.failure("unknown snapshot line kind '\(lineKind ?? "")'")
    }
  }

  private static func readEvidence(_ scanner: inout JSONScanner) throws -> ValueEvidence {
    var evidence = ValueEvidence()
    var cursor = try scanner.beginObject()
    while let key = try scanner.nextKey(&cursor) {
      switch key {
      case "includedTrials": evidence.included.trials = try scanner.readInt()
      case "includedSuccesses": evidence.included.successes = try scanner.readInt()
      case "withheldTrials": evidence.withheld.trials = try scanner.readInt()
      case "withheldSuccesses": evidence.withheld.successes = try scanner.readInt()
      default: try scanner.skipValue()
      }
    }
    return evidence
  }

  private static func readHistory(_ scanner: inout JSONScanner) throws -> NoteHistoryEntry {
    var at: Int?
    var kind: String?
    var provenance: NoteProvenance?
    var note: NoteId?
    var similarity = 0.0
    var reason = ""
    var cursor = try scanner.beginObject()
    while let key = try scanner.nextKey(&cursor) {
      switch key {
      case "at": at = try scanner.readInt()
      case "kind": kind = try scanner.readString()
      case "provenance": provenance = try EventCoding.readProvenance(&scanner)
      case "note": note = try EventCoding.readNoteId(&scanner)
      case "similarity": similarity = try scanner.readDouble()
      case "reason": reason = try scanner.readString()
      default: try scanner.skipValue()
      }
    }
    guard let at else { throw scanner.failure("history entry without 'at'") }
    switch (kind, provenance, note) {
    case ("added", let provenance?, _): return NoteHistoryEntry(eventIndex: at, kind: .added(provenance))
    case ("reproposed", let provenance?, _):
      return NoteHistoryEntry(eventIndex: at, kind: .reproposed(provenance))
    case ("absorbed", _, let note?):
      return NoteHistoryEntry(eventIndex: at, kind: .absorbed(from: note, similarity: similarity))
    case ("mergedInto", _, let note?):
      return NoteHistoryEntry(eventIndex: at, kind: .mergedInto(note, similarity: similarity))
    case ("retired", _, _): return NoteHistoryEntry(eventIndex: at, kind: .retired(reason: reason))
    case ("restored", _, _): return NoteHistoryEntry(eventIndex: at, kind: .restored(reason: reason))
    default: throw scanner.failure("malformed history entry '\(kind ?? "")'")
    }
  }
}
