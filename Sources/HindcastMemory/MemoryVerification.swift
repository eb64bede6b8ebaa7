import HindcastStorage
import HindcastSupport

/// The findings of `MemoryStore.verify`.
public struct MemoryVerification: Hashable, Sendable {
  public enum Severity: String, Hashable, Sendable, Comparable {
    /// Something is wrong: data is damaged or inconsistent.
    case error
    /// Worth a look, not damage (e.g. a note without record ids).
    case warning

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs == .error && rhs == .warning }
  }

  public struct Finding: Hashable, Sendable {
    public let severity: Severity
    /// The file (`seg-000002.log#17`), or `note ID`, the finding is about.
    public let subject: String
    public let message: String
  }

  public var findings: [Finding] = []
  /// Log records whose checksum, compression and JSON were checked.
  public var checkedRecords = 0
  public var checkedSegments = 0
  public var checkedSnapshots = 0
  public var checkedNotes = 0

  public var errors: Int { findings.filter { $0.severity == .error }.count }
  public var warnings: Int { findings.filter { $0.severity == .warning }.count }

  mutating func add(_ severity: Severity, _ subject: String, _ message: String) {
    findings.append(Finding(severity: severity, subject: subject, message: message))
  }
}

extension MemoryStore {
  /// Re-reads every file and checks the folded state:
  /// - checksums, compression and JSON of every live log record; hashes and contents of every
  ///   snapshot and dictionary;
  /// - note ids match their scope and text; each note's evidence equals the tally of its
  ///   observations; merge links point both ways; fold anomalies;
  /// - provenance: notes without any record id, run or task are flagged; when `recordExists` is
  ///   given, every rollout, feedback and rewrite id it does not know is an error (dangling);
  /// - budget: every active note fits `maxNoteTokens` and so can be retrieved.
  public func verify(recordExists: ((String) -> Bool)? = nil) -> MemoryVerification {
    var report = MemoryVerification()
    verifyFiles(into: &report)
    verifyState(state, recordExists: recordExists, into: &report)
    report.findings.sort { ($0.severity, $0.subject) < ($1.severity, $1.subject) }
    return report
  }

  private func verifyFiles(into report: inout MemoryVerification) {
    for segment in manifest.segments {
      let name = MemoryManifest.segmentName(segment.number)
      guard FileOps.exists(path(name)) else {
        let unlisted = unlistedSegmentFiles()
        if segment.number != lastSegment.number || !unlisted.isEmpty || !mayLackNewestSegment {
          report.add(
            .error, name,
            "listed in the manifest but missing"
              + (unlisted.isEmpty
                ? "" : "; \(unlisted.joined(separator: ", ")) holds records the manifest does not list"))
        }
        continue
      }
      report.checkedSegments += 1
      do {
        let bytes = try AtomicFile.read(path(name))
        let scan = bytes.withUnsafeBytes { LogFrame.scan($0) }
        if let damage = scan.damage {
          if damage.nextGoodFrame == nil && segment.number == lastSegment.number {
            report.add(
              .warning, name,
              "torn tail of \(bytes.count - damage.offset) bytes at byte \(damage.offset) (\(damage.reason)); "
                + "the next read-write open cuts it off")
          } else {
            report.add(
              .error, name + "#\(scan.frames.count + 1)",
              "corrupt record at byte \(damage.offset): \(damage.reason)")
          }
        } else if scan.uncommittedFrames > 0 {
          let severity: MemoryVerification.Severity = segment.number == lastSegment.number ? .warning : .error
          report.add(
            severity, name,
            "\(scan.uncommittedFrames) records of an unfinished append at the end; the next read-write open cuts them off"
          )
        }
        let decompressor = try ZstdFrameDecompressor()
        if segment.dictionary != 0, let dictionary = dictionaries[segment.dictionary] {
          try decompressor.addDictionary(id: UInt16(segment.dictionary), bytes: dictionary)
        }
        var json: [UInt8] = []
        bytes.withUnsafeBytes { raw in
          for (index, frame) in scan.frames.enumerated() {
            report.checkedRecords += 1
            let payload = UnsafeRawBufferPointer(
              rebasing: raw[frame.payloadOffset..<(frame.payloadOffset + frame.payloadLength)])
            do {
              try decompressor.decompress(payload, dictionaryId: frame.dictionaryId, into: &json)
              _ = try EventCoding.decode(json)
            } catch {
              report.add(
                .error, name + "#\(index + 1)",
                "record at byte \(frame.frameOffset) does not decode: \(error)")
            }
          }
        }
      } catch {
        report.add(.error, name, "\(error)")
      }
    }
    for entry in manifest.snapshots {
      report.checkedSnapshots += 1
      do {
        let snapshot = try readSnapshot(entry)
        if entry.number == manifest.baseSnapshot, snapshot.eventCount > state.eventCount {
          report.add(
            .error, MemoryManifest.snapshotName(entry.number), "covers more events than the store holds")
        }
      } catch {
        report.add(.error, MemoryManifest.snapshotName(entry.number), "\(error)")
      }
    }
    for entry in manifest.dictionaries {
      let name = MemoryManifest.dictionaryName(entry.id)
      guard let bytes = try? AtomicFile.read(path(name)) else {
        report.add(.error, name, "listed in the manifest but unreadable")
        continue
      }
      if StableHash.hex(StableHash.fnv1a64(bytes: bytes)) != entry.hash {
        report.add(.error, name, "does not match the hash in the manifest")
      }
    }
  }

  private func verifyState(
    _ state: MemoryState, recordExists: ((String) -> Bool)?, into report: inout MemoryVerification
  ) {
    for anomaly in state.anomalies {
      report.add(.error, "event \(anomaly.eventIndex)", "not applied: \(anomaly.message)")
    }
    if settings.maxRetrievalTokens < settings.maxNoteTokens {
      report.add(.error, MemoryManifest.fileName, "maxRetrievalTokens is below maxNoteTokens")
    }
    for record in state.sortedRecords {
      report.checkedNotes += 1
      let subject = "note \(record.id)"
      if NoteId(scope: record.note.scope, text: record.note.text) != record.id {
        report.add(.error, subject, "id does not match the note's scope and text")
      }
      if record.status != .merged {
        var tally = ValueEvidence()
        for observation in record.observations {
          tally.record(included: observation.included, verified: observation.verified)
        }
        if tally != record.evidence {
          report.add(
            .error, subject,
            "evidence does not equal the tally of its \(record.observations.count) observations")
        }
        if record.status == .active && record.note.tokenCount > settings.maxNoteTokens {
          report.add(
            .error, subject,
            "costs \(record.note.tokenCount) tokens, over the store's limit of \(settings.maxNoteTokens): it is never retrieved"
          )
        }
      }
      if let into = record.mergedInto, state[into]?.mergedFrom.contains(record.id) != true {
        report.add(.error, subject, "merged into \(into), which does not list it")
      }
      for from in record.mergedFrom where state[from]?.mergedInto != record.id {
        report.add(.error, subject, "lists \(from) as merged into it, which does not point back")
      }
      for provenance in record.provenance {
        let ids = provenance.rolloutIds + provenance.feedbackIds + provenance.rewriteIds
        if ids.isEmpty {
          report.add(
            .warning, subject,
            "provenance from task '\(provenance.sourceTaskId)' names no rollout, feedback or rewrite")
        }
        if provenance.run.isEmpty || provenance.sourceTaskId.isEmpty {
          report.add(.warning, subject, "provenance without a run or a source task")
        }
        if let recordExists {
          for id in ids where !recordExists(id) {
            report.add(.error, subject, "dangling provenance: record '\(id)' is not in the run")
          }
        }
      }
    }
  }
}
