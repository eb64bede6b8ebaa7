import HindcastStorage

/// Renders memory for people (aligned text) and scripts (JSON lines with a fixed key order).
/// Each function returns output lines without newlines; the CLI prints them.
public enum MemoryInspection {
  /// `+0.150`: a signed value with three decimals.
  static func signed(_ value: Double) -> String {
    let rounded = (value * 1000).rounded() / 1000
    let text = formatFixed(abs(rounded), decimals: 3)
    return (rounded < 0 ? "-" : "+") + text
  }

  static func formatFixed(_ value: Double, decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    let whole = scaled / Int(scale)
    let fraction = String(scaled % Int(scale))
    return decimals == 0
      ? String(whole) : "\(whole)." + String(repeating: "0", count: decimals - fraction.count) + fraction
  }

  /// A value rounded to 6 decimals, so JSON output is short and stable.
  static func rounded6(_ value: Double) -> Double { (value * 1_000_000).rounded() / 1_000_000 }

  static func interval(_ estimate: ValueEstimate) -> String {
    "[\(signed(estimate.lower)), \(signed(estimate.upper))]"
  }

  static func arm(_ counts: ArmCounts) -> String { "\(counts.successes)/\(counts.trials)" }

  // MARK: ls, grep

  /// The table of `memory ls` / `memory grep`, or one JSON object per note.
  public static func listing(_ records: [NoteRecord], json: Bool, textWidth: Int = 60) -> [String] {
    if json { return records.map { summaryJSON($0) } }
    var table = TextTable([
      .init("ID"), .init("STATUS"), .init("SCOPE", maxWidth: 28), .init("ORIGIN"), .init("VALUE", .right),
      .init("90% INTERVAL", .right), .init("WITH", .right), .init("WITHOUT", .right), .init("ROUND", .right),
      .init("TEXT", maxWidth: max(8, textWidth)),
    ])
    for record in records {
      let estimate = record.estimate
      table.add([
        String(record.id.description.prefix(12)), record.status.rawValue, record.note.scope.label,
        record.note.origin.rawValue, signed(estimate.mean), interval(estimate), arm(record.evidence.included),
        arm(record.evidence.withheld), String(record.note.createdRound), record.note.text,
      ])
    }
    return table.render()
  }

  /// One note as a JSON object: identity, value and counts (no observations).
  static func summaryJSON(_ record: NoteRecord) -> String {
    var writer = JSONWriter()
    writer.beginObject()
    writeSummaryFields(record, into: &writer)
    writer.endObject()
    return String(decoding: writer.bytes, as: UTF8.self)
  }

  static func writeSummaryFields(_ record: NoteRecord, into writer: inout JSONWriter) {
    let estimate = record.estimate
    writer.field("id", record.id.description)
    writer.field("status", record.status.rawValue)
    writer.field("family", record.note.scope.family)
    writer.field("features", record.note.scope.features)
    writer.field("origin", record.note.origin.rawValue)
    writer.field("text", record.note.text)
    writer.field("tokens", record.note.tokenCount)
    writer.field("createdRound", record.note.createdRound)
    writer.key("value")
    writer.beginObject()
    writer.field("mean", rounded6(estimate.mean))
    writer.field("sd", rounded6(estimate.standardDeviation))
    writer.field("lower90", rounded6(estimate.lower))
    writer.field("upper90", rounded6(estimate.upper))
    writer.endObject()
    writer.key("included")
    writeArm(record.evidence.included, into: &writer)
    writer.key("withheld")
    writeArm(record.evidence.withheld, into: &writer)
    writer.field("uses", record.uses)
    writer.field("sources", record.provenance.count)
    writer.key("mergedInto")
    if let into = record.mergedInto { writer.string(into.description) } else { writer.null() }
    writer.field("mergedFrom", record.mergedFrom.map(\.description))
    writer.field("lastEvent", record.lastEventAt)
  }

  static func writeArm(_ counts: ArmCounts, into writer: inout JSONWriter) {
    writer.beginObject()
    writer.field("trials", counts.trials)
    writer.field("successes", counts.successes)
    writer.endObject()
  }

  // MARK: dump

  /// `memory dump`: one JSON object per note with everything the state holds about it
  /// (summary fields, provenance, history, observations), sorted by id.
  public static func dump(_ state: MemoryState) -> [String] {
    state.sortedRecords.map { fullJSON($0) }
  }

  static func fullJSON(_ record: NoteRecord) -> String {
    var writer = JSONWriter(capacity: 1024)
    writer.beginObject()
    writeSummaryFields(record, into: &writer)
    writer.key("provenance")
    writer.beginArray()
    for provenance in record.provenance { EventCoding.writeProvenance(provenance, into: &writer) }
    writer.endArray()
    writer.key("history")
    writer.beginArray()
    for entry in record.history {
      writer.beginObject()
      writer.field("event", entry.eventIndex)
      let (kind, detail) = historyText(entry.kind)
      writer.field("kind", kind)
      writer.field("detail", detail)
      writer.endObject()
    }
    writer.endArray()
    writer.key("observations")
    writer.beginArray()
    for observation in record.observations {
      writer.beginObject()
      writer.field("note", observation.noteId.description)
      writer.field("included", observation.included)
      writer.field("verified", observation.verified)
      writer.field("task", observation.taskId)
      writer.field("round", observation.round)
      writer.field("rewrite", observation.rewriteId)
      writer.endObject()
    }
    writer.endArray()
    writer.endObject()
    return String(decoding: writer.bytes, as: UTF8.self)
  }

  static func provenanceText(_ provenance: NoteProvenance) -> String {
    var parts = ["run \(provenance.run)", "round \(provenance.round)", "task \(provenance.sourceTaskId)"]
    if provenance.sourceIsHeldOut { parts.append("(held out)") }
    if !provenance.rolloutIds.isEmpty {
      parts.append("rollouts " + provenance.rolloutIds.joined(separator: ","))
    }
    if !provenance.feedbackIds.isEmpty {
      parts.append("feedback " + provenance.feedbackIds.joined(separator: ","))
    }
    if !provenance.rewriteIds.isEmpty {
      parts.append("rewrites " + provenance.rewriteIds.joined(separator: ","))
    }
    return parts.joined(separator: "  ")
  }

  /// The short form of a provenance for history lines: task and round.
  static func sourceText(_ provenance: NoteProvenance) -> String {
    "task \(provenance.sourceTaskId)\(provenance.sourceIsHeldOut ? " (held out)" : ""), round \(provenance.round)"
  }

  static func historyText(_ kind: NoteHistoryEntry.Kind) -> (String, String) {
    switch kind {
    case .added(let provenance): return ("added", sourceText(provenance))
    case .reproposed(let provenance): return ("reproposed", sourceText(provenance))
    case .absorbed(let from, let similarity):
      return ("absorbed", "\(from) (similarity \(formatFixed(similarity, decimals: 2)))")
    case .mergedInto(let into, let similarity):
      return ("mergedInto", "\(into) (similarity \(formatFixed(similarity, decimals: 2)))")
    case .retired(let reason): return ("retired", reason)
    case .restored(let reason): return ("restored", reason)
    }
  }

  // MARK: show

  /// `memory show ID`: text, value with interval, provenance back to the rollouts, history
  /// (merges, retirements) and every observation. With `json`, the `dump` line of the note.
  public static func show(_ record: NoteRecord, in state: MemoryState, json: Bool) -> [String] {
    if json { return [fullJSON(record)] }
    let estimate = record.estimate
    var lines: [String] = []
    lines.append("note \(record.id)  \(record.status.rawValue)")
    if let into = record.mergedInto {
      lines.append("merged into \(into) (its evidence and later observations count there)")
    }
    lines.append("")
    lines.append(contentsOf: wrap(record.note.text, width: 96).map { "  " + $0 })
    lines.append("")
    lines.append("scope       \(record.note.scope.label)")
    lines.append("origin      \(record.note.origin.rawValue), created in round \(record.note.createdRound)")
    lines.append("tokens      \(record.note.tokenCount)")
    lines.append(
      "value       \(signed(estimate.mean))  90% interval \(interval(estimate))  sd \(formatFixed(estimate.standardDeviation, decimals: 3))"
    )
    lines.append(
      "verified    included \(arm(record.evidence.included)) (rate \(formatFixed(estimate.includedRate, decimals: 3))), "
        + "withheld \(arm(record.evidence.withheld)) (rate \(formatFixed(estimate.withheldRate, decimals: 3)))"
    )
    lines.append("")
    lines.append("provenance (\(record.provenance.count))")
    for provenance in record.provenance { lines.append("  " + provenanceText(provenance)) }
    lines.append("")
    lines.append("history")
    var history = TextTable([.init("EVENT", .right), .init("WHAT"), .init("DETAIL")])
    for entry in record.history {
      let (kind, detail) = historyText(entry.kind)
      history.add(["#\(entry.eventIndex)", kind, detail])
    }
    lines.append(contentsOf: history.render().map { "  " + $0 })
    lines.append("")
    lines.append("observations (\(record.observations.count))")
    if !record.observations.isEmpty {
      var table = TextTable([
        .init("ROUND", .right), .init("TASK", maxWidth: 32), .init("REWRITE", maxWidth: 40), .init("ARM"),
        .init("VERIFIED"), .init("LOGGED AGAINST"),
      ])
      for observation in record.observations {
        table.add([
          String(observation.round), observation.taskId, observation.rewriteId,
          observation.included ? "included" : "withheld", observation.verified ? "yes" : "no",
          observation.noteId == record.id ? "" : String(observation.noteId.description.prefix(12)),
        ])
      }
      lines.append(contentsOf: table.render().map { "  " + $0 })
    }
    return lines
  }

  /// Splits text into lines of at most `width` characters at spaces.
  static func wrap(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    var current = ""
    for word in text.split(separator: " ") {
      if !current.isEmpty && current.count + 1 + word.count > width {
        lines.append(current)
        current = ""
      }
      current += current.isEmpty ? String(word) : " " + word
    }
    if !current.isEmpty { lines.append(current) }
    return lines
  }
}
