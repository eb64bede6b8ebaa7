import HindcastStorage

extension MemoryInspection {
  /// Human-readable byte counts: `812 B`, `12.4 KB`, `3.1 MB` (powers of 1024).
  static func bytes(_ count: Int) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    return unit == 0 ? "\(count) B" : "\(formatFixed(value, decimals: 1)) \(units[unit])"
  }

  // MARK: stats

  /// `memory stats`: notes by status, scope and origin; events; files and compression.
  public static func stats(_ store: MemoryStore, json: Bool) -> [String] {
    let state = store.state
    let records = state.sortedRecords
    let files = store.storageStatistics()
    var byStatus: [NoteStatus: Int] = [:]
    var byScope: [String: (active: Int, retired: Int, merged: Int, observations: Int)] = [:]
    var byOrigin: [NoteOrigin: Int] = [:]
    var included = 0
    var withheld = 0
    for record in records {
      byStatus[record.status, default: 0] += 1
      byOrigin[record.note.origin, default: 0] += 1
      var row = byScope[record.note.scope.label] ?? (0, 0, 0, 0)
      switch record.status {
      case .active: row.active += 1
      case .retired: row.retired += 1
      case .merged: row.merged += 1
      }
      row.observations += record.observations.count
      byScope[record.note.scope.label] = row
      included += record.observations.filter(\.included).count
      withheld += record.observations.count - record.observations.filter(\.included).count
    }
    let logRecords = files.segments.reduce(0) { $0 + $1.records }
    let logBytes = files.segments.reduce(0) { $0 + $1.bytes }
    let logJSON = files.segments.reduce(0) { $0 + $1.jsonBytes }
    if json {
      var writer = JSONWriter(capacity: 2048)
      writer.beginObject()
      writer.field("notes", records.count)
      for status in NoteStatus.allCases { writer.field(status.rawValue, byStatus[status] ?? 0) }
      writer.field("events", state.eventCount)
      writer.field("duplicateEvents", state.duplicateEvents)
      writer.field("anomalies", state.anomalies.count)
      writer.field("observations", included + withheld)
      writer.field("includedObservations", included)
      writer.field("withheldObservations", withheld)
      writer.key("byScope")
      writer.beginArray()
      for (scope, row) in byScope.sorted(by: { $0.key < $1.key }) {
        writer.beginObject()
        writer.field("scope", scope)
        writer.field("active", row.active)
        writer.field("retired", row.retired)
        writer.field("merged", row.merged)
        writer.field("observations", row.observations)
        writer.endObject()
      }
      writer.endArray()
      writer.key("byOrigin")
      writer.beginObject()
      for origin in NoteOrigin.allCases { writer.field(origin.rawValue, byOrigin[origin] ?? 0) }
      writer.endObject()
      writer.field("segments", files.segments.count)
      writer.field("logRecords", logRecords)
      writer.field("logBytes", logBytes)
      writer.field("logJSONBytes", logJSON)
      writer.key("compressionRatio")
      if let ratio = files.logCompressionRatio { writer.double(rounded6(ratio)) } else { writer.null() }
      writer.field("dictionaries", files.dictionaries.map(\.name))
      writer.field("snapshots", files.snapshots.map(\.name))
      writer.key("baseSnapshot")
      if let base = store.baseSnapshot { writer.string(base.id) } else { writer.null() }
      writer.field("bytesOnDisk", files.bytesOnDisk)
      writer.endObject()
      return [String(decoding: writer.bytes, as: UTF8.self)]
    }
    var lines: [String] = []
    lines.append(
      "notes         \(records.count) (active \(byStatus[.active] ?? 0), retired \(byStatus[.retired] ?? 0), "
        + "merged \(byStatus[.merged] ?? 0))")
    lines.append(
      "events        \(state.eventCount) (duplicates skipped in the log \(state.duplicateEvents), anomalies "
        + "\(state.anomalies.count))")
    lines.append("observations  \(included + withheld) (included \(included), withheld \(withheld))")
    lines.append("")
    var scopes = TextTable([
      .init("SCOPE", maxWidth: 40), .init("ACTIVE", .right), .init("RETIRED", .right),
      .init("MERGED", .right),
      .init("OBSERVATIONS", .right),
    ])
    for (scope, row) in byScope.sorted(by: { $0.key < $1.key }) {
      scopes.add([
        scope, String(row.active), String(row.retired), String(row.merged), String(row.observations),
      ])
    }
    lines.append(contentsOf: scopes.render())
    lines.append("")
    var origins = TextTable([.init("ORIGIN"), .init("NOTES", .right)])
    for origin in NoteOrigin.allCases { origins.add([origin.rawValue, String(byOrigin[origin] ?? 0)]) }
    lines.append(contentsOf: origins.render())
    lines.append("")
    let ratio = files.logCompressionRatio.map { formatFixed($0, decimals: 2) + "x" } ?? "n/a"
    lines.append(
      "log           \(files.segments.count) segment\(files.segments.count == 1 ? "" : "s"), \(logRecords) records, "
        + "\(bytes(logBytes)) on disk, \(bytes(logJSON)) of JSON, compression \(ratio)")
    let dictionaryText = files.dictionaries.map { "\($0.name) (\(bytes($0.bytes)))" }.joined(separator: ", ")
    lines.append("dictionary    \(dictionaryText.isEmpty ? "none" : dictionaryText)")
    let snapshotBytes = files.snapshots.reduce(0) { $0 + $1.bytes }
    lines.append(
      "snapshots     \(files.snapshots.count) (\(bytes(snapshotBytes)))"
        + (store.baseSnapshot.map { ", log continues \($0.id)" } ?? ""))
    lines.append("on disk       \(bytes(files.bytesOnDisk))")
    return lines
  }

  // MARK: diff

  /// `memory diff A B`: added, retired, restored, merged notes and value changes.
  public static func diff(
    _ diff: MemoryDiff, newer: MemoryState, from older: String, to newerLabel: String, json: Bool
  )
    -> [String]
  {
    if json {
      var lines: [String] = []
      func line(_ change: String, _ id: NoteId, _ body: (inout JSONWriter) -> Void = { _ in }) {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("change", change)
        writer.field("id", id.description)
        body(&writer)
        writer.endObject()
        lines.append(String(decoding: writer.bytes, as: UTF8.self))
      }
      for id in diff.added { line("added", id) { $0.field("text", newer[id]?.note.text ?? "") } }
      for id in diff.missing { line("missing", id) }
      for id in diff.retired { line("retired", id) }
      for id in diff.restored { line("restored", id) }
      for merge in diff.merged { line("merged", merge.from) { $0.field("into", merge.into.description) } }
      for change in diff.valueChanges {
        line("value", change.id) { writer in
          let (before, after) = (change.before.estimate, change.after.estimate)
          writer.field("before", rounded6(before.mean))
          writer.field("after", rounded6(after.mean))
          writer.field("beforeTrials", change.before.trials)
          writer.field("afterTrials", change.after.trials)
          writer.field("afterLower90", rounded6(after.lower))
          writer.field("afterUpper90", rounded6(after.upper))
        }
      }
      return lines
    }
    var lines = ["\(older) -> \(newerLabel): \(diff.events) events"]
    if diff.isEmpty {
      lines.append("no changes")
      return lines
    }
    func text(_ id: NoteId) -> String { TextTable.truncate(newer[id]?.note.text ?? "", to: 70) }
    func section(_ title: String, _ ids: [NoteId]) {
      guard !ids.isEmpty else { return }
      lines.append("")
      lines.append("\(title) (\(ids.count))")
      var table = TextTable([.init("ID"), .init("TEXT")])
      for id in ids { table.add([String(id.description.prefix(12)), text(id)]) }
      lines.append(contentsOf: table.render().dropFirst().map { "  " + $0 })
    }
    section("added", diff.added)
    section("missing from the newer state", diff.missing)
    section("retired", diff.retired)
    section("restored", diff.restored)
    if !diff.merged.isEmpty {
      lines.append("")
      lines.append("merged (\(diff.merged.count))")
      for merge in diff.merged {
        lines.append(
          "  \(merge.from.description.prefix(12)) -> \(merge.into.description.prefix(12))  \(text(merge.from))"
        )
      }
    }
    if !diff.valueChanges.isEmpty {
      lines.append("")
      lines.append("value changes (\(diff.valueChanges.count))")
      var table = TextTable([
        .init("ID"), .init("BEFORE", .right), .init("AFTER", .right), .init("90% INTERVAL", .right),
        .init("TRIALS", .right), .init("TEXT", maxWidth: 50),
      ])
      for change in diff.valueChanges {
        let after = change.after.estimate
        table.add([
          String(change.id.description.prefix(12)), signed(change.before.estimate.mean), signed(after.mean),
          interval(after), "\(change.before.trials)->\(change.after.trials)",
          newer[change.id]?.note.text ?? "",
        ])
      }
      lines.append(contentsOf: table.render().map { "  " + $0 })
    }
    return lines
  }

  // MARK: verify

  /// `memory verify`: one line per finding and a summary line.
  public static func verification(_ report: MemoryVerification, json: Bool) -> [String] {
    if json {
      var lines = report.findings.map { finding -> String in
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("severity", finding.severity.rawValue)
        writer.field("subject", finding.subject)
        writer.field("message", finding.message)
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
      }
      var writer = JSONWriter()
      writer.beginObject()
      writer.field("summary", true)
      writer.field("errors", report.errors)
      writer.field("warnings", report.warnings)
      writer.field("records", report.checkedRecords)
      writer.field("segments", report.checkedSegments)
      writer.field("snapshots", report.checkedSnapshots)
      writer.field("notes", report.checkedNotes)
      writer.endObject()
      lines.append(String(decoding: writer.bytes, as: UTF8.self))
      return lines
    }
    var lines = report.findings.map { "\($0.severity.rawValue): \($0.subject): \($0.message)" }
    lines.append(
      "checked \(report.checkedRecords) records in \(report.checkedSegments) segments, \(report.checkedSnapshots) "
        + "snapshots, \(report.checkedNotes) notes: \(report.errors) errors, \(report.warnings) warnings")
    return lines
  }
}
