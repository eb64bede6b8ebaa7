/// What opening a store found and did.
public struct MemoryOpenReport: Hashable, Sendable {
  /// True if the directory held no store and an empty one was created.
  public var created = false
  /// The snapshot the state was loaded from, if any.
  public var snapshot: MemorySnapshotInfo?
  /// Events replayed from live segments after the snapshot.
  public var replayedEvents = 0
  /// Bytes of a torn record at the end of the log that were cut off (read-write) or skipped
  /// (read-only). Zero after a clean shutdown.
  public var droppedBytes = 0
  /// Frame starts found in the dropped bytes (≥ 1 whenever `droppedBytes` > 0).
  public var droppedFrames = 0
  /// The segment the dropped bytes were in, and why they were dropped.
  public var droppedFrom: String?
  public var droppedReason: String?
  /// True when the dropped bytes were cut off the file (read-write); false when they were only
  /// skipped (read-only: the file is left as it is).
  public var repaired = false
  /// Leftovers of interrupted writers that were removed (read-write only), with the reason.
  public var removedFiles: [String] = []

  /// One line per thing a person should know; empty after a clean open.
  public var messages: [String] {
    var lines: [String] = []
    if created { lines.append("created an empty memory store") }
    if droppedBytes > 0, let droppedFrom {
      let action = repaired ? "cut off" : "skipped (read-only; the next read-write open cuts it off)"
      lines.append(
        "\(droppedFrom): \(action) a torn tail of \(droppedBytes) bytes (\(droppedFrames) incomplete record"
          + "\(droppedFrames == 1 ? "" : "s")): \(droppedReason ?? "damaged")")
    }
    lines.append(contentsOf: removedFiles.map { "removed \($0)" })
    return lines
  }
}

/// One snapshot of the store: a fold of the first `eventCount` events. `id` is what a policy
/// checkpoint records.
public struct MemorySnapshotInfo: Hashable, Sendable {
  public let number: Int
  /// `snap-NNNNNN`, e.g. `snap-000003`.
  public let id: String
  /// The file name in the store directory, e.g. `snap-3.json.zst`.
  public let fileName: String
  public let eventCount: Int
  public let notes: Int
  /// FNV-1a 64 of the snapshot's uncompressed contents, 16 hex digits.
  public let contentHash: String
  /// Size of the file in bytes.
  public let bytes: Int
  public let label: String?

  init(_ entry: MemoryManifest.Snapshot) {
    number = entry.number
    id = "snap-" + MemoryManifest.padded(entry.number)
    fileName = MemoryManifest.snapshotName(entry.number)
    eventCount = entry.eventCount
    notes = entry.notes
    contentHash = entry.hash
    bytes = entry.bytes
    label = entry.label
  }
}

/// The result of one `append`.
public struct MemoryAppendResult: Hashable, Sendable {
  /// Events written and folded.
  public var appended = 0
  /// Events skipped because they repeated what the store already holds.
  public var duplicates = 0
  /// The index of the first appended event in the whole history.
  public var firstEventIndex = 0
}

/// What `MemoryStore.add` did with one proposed note.
public enum NoteAddition: Hashable, Sendable {
  /// A new note.
  case added(NoteId)
  /// The note already existed (same scope and text); its provenance was added to it, or it was
  /// already there.
  case reproposed(NoteId)
  /// A new near-duplicate of an active note: stored, then merged into it.
  case merged(NoteId, into: NoteId, similarity: Double)

  /// The note that carries the proposal's evidence now.
  public var effectiveId: NoteId {
    switch self {
    case .added(let id), .reproposed(let id): return id
    case .merged(_, let into, _): return into
    }
  }
}

/// Sizes of the store's files and how well its log compresses.
public struct MemoryStorageStatistics: Hashable, Sendable {
  public struct Segment: Hashable, Sendable {
    public let name: String
    public let records: Int
    /// File size in bytes.
    public let bytes: Int
    /// Uncompressed JSON of its records.
    public let jsonBytes: Int
    /// The dictionary its records use (0 = none).
    public let dictionary: Int
  }

  public var segments: [Segment] = []
  public struct File: Hashable, Sendable {
    public let name: String
    public let bytes: Int
  }

  public var dictionaries: [File] = []
  public var snapshots: [File] = []
  public var manifestBytes = 0

  public var bytesOnDisk: Int {
    segments.reduce(0) { $0 + $1.bytes } + dictionaries.reduce(0) { $0 + $1.bytes }
      + snapshots.reduce(0) { $0 + $1.bytes } + manifestBytes
  }

  /// Uncompressed JSON bytes of the live log divided by its size on disk (frame headers
  /// included); nil for an empty log.
  public var logCompressionRatio: Double? {
    let json = segments.reduce(0) { $0 + $1.jsonBytes }
    let disk = segments.reduce(0) { $0 + $1.bytes }
    return disk > 0 && json > 0 ? Double(json) / Double(disk) : nil
  }

}
