import HindcastStorage
import HindcastSupport

/// The contents of `snap-N.json.zst`: zstd-compressed JSON lines (`zstdcat snap-3.json.zst | jq`).
///
/// Line 1 is a header:
///
///     {"format":"hindcast-memory-snapshot","version":1,"number":3,"eventCount":1200,
///      "duplicateEvents":0,"notes":40,"observations":1100,"label":"round 2"}
///
/// Then one line per note, in the order the notes were added (`"kind":"note"`: the note's fields as in a `noteAdded`
/// event plus `status`, `mergedInto`, `mergedFrom`, `addedAt`, `lastEventAt`, `evidence`,
/// `provenanceList` and `history`), then one line per observation in fold order grouped by the
/// note that holds it (`"kind":"observation","holder":ID` plus the fields of an observation
/// event), then one line per anomaly. Loading it gives exactly the state that was saved.
enum SnapshotCoding {
  static let formatName = "hindcast-memory-snapshot"
  static let version = 1

  struct Header: Hashable {
    var number: Int
    var eventCount: Int
    var duplicateEvents: Int
    var notes: Int
    var observations: Int
    var label: String?
  }

  static func encode(_ state: MemoryState, number: Int, label: String?) -> [UInt8] {
    var output: [UInt8] = []
    var writer = JSONWriter(capacity: 4096)
    let records = state.records
    writer.beginObject()
    writer.field("format", formatName)
    writer.field("version", version)
    writer.field("number", number)
    writer.field("eventCount", state.eventCount)
    writer.field("duplicateEvents", state.duplicateEvents)
    writer.field("notes", records.count)
    writer.field("observations", records.reduce(0) { $0 + $1.observations.count })
    if let label { writer.field("label", label) }
    writer.endObject()
    output.append(contentsOf: writer.bytes)
    output.append(0x0A)
    for record in records {
      writer.reset()
      writeNote(record, into: &writer)
      output.append(contentsOf: writer.bytes)
      output.append(0x0A)
    }
    for record in records {
      let observations = record.observations
      let holder = record.id.description
      for index in observations.indices {
        writer.reset()
        writer.beginObject()
        writer.field("kind", "observation")
        writer.field("holder", holder)
        writer.field("note", observations.noteId(index).description)
        writer.field("included", observations.included(index))
        writer.field("verified", observations.verified(index))
        writer.key("task")
        writer.string(utf8: observations.taskBytes(index))
        writer.field("round", observations.round(index))
        writer.key("rewrite")
        writer.string(utf8: observations.rewriteBytes(index))
        writer.endObject()
        output.append(contentsOf: writer.bytes)
        output.append(0x0A)
      }
    }
    for anomaly in state.anomalies {
      writer.reset()
      writer.beginObject()
      writer.field("kind", "anomaly")
      writer.field("eventIndex", anomaly.eventIndex)
      writer.field("message", anomaly.message)
      writer.endObject()
      output.append(contentsOf: writer.bytes)
      output.append(0x0A)
    }
    return output
  }

  private static func writeNote(_ record: NoteRecord, into writer: inout JSONWriter) {
    writer.beginObject()
    writer.field("kind", "note")
    EventCoding.writeNoteFields(record.note, into: &writer)
    writer.field("status", record.status.rawValue)
    writer.key("mergedInto")
    if let into = record.mergedInto { writer.string(into.description) } else { writer.null() }
    writer.field("mergedFrom", record.mergedFrom.map(\.description))
    writer.field("addedAt", record.addedAt)
    writer.field("lastEventAt", record.lastEventAt)
    writer.key("evidence")
    writer.beginObject()
    writer.field("includedTrials", record.evidence.included.trials)
    writer.field("includedSuccesses", record.evidence.included.successes)
    writer.field("withheldTrials", record.evidence.withheld.trials)
    writer.field("withheldSuccesses", record.evidence.withheld.successes)
    writer.endObject()
    writer.key("provenanceList")
    writer.beginArray()
    for provenance in record.provenance { EventCoding.writeProvenance(provenance, into: &writer) }
    writer.endArray()
    writer.key("history")
    writer.beginArray()
    for entry in record.history { writeHistory(entry, into: &writer) }
    writer.endArray()
    writer.endObject()
  }

  private static func writeHistory(_ entry: NoteHistoryEntry, into writer: inout JSONWriter) {
    writer.beginObject()
    writer.field("at", entry.eventIndex)
    switch entry.kind {
    case .added(let provenance):
      writer.field("kind", "added")
      writer.key("provenance")
      EventCoding.writeProvenance(provenance, into: &writer)
    case .reproposed(let provenance):
      writer.field("kind", "reproposed")
      writer.key("provenance")
      EventCoding.writeProvenance(provenance, into: &writer)
    case .absorbed(let from, let similarity):
      writer.field("kind", "absorbed")
      writer.field("note", from.description)
      writer.field("similarity", similarity)
    case .mergedInto(let into, let similarity):
      writer.field("kind", "mergedInto")
      writer.field("note", into.description)
      writer.field("similarity", similarity)
    case .retired(let reason):
      writer.field("kind", "retired")
      writer.field("reason", reason)
    case .restored(let reason):
      writer.field("kind", "restored")
      writer.field("reason", reason)
    }
    writer.endObject()
  }
}
