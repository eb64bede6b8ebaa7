import HindcastStorage
import HindcastSupport

extension MemoryStore {
  /// Every snapshot made, oldest first.
  public var snapshots: [MemorySnapshotInfo] { manifest.snapshots.map(MemorySnapshotInfo.init) }

  /// The snapshot the live log continues, if the store was ever compacted.
  public var baseSnapshot: MemorySnapshotInfo? {
    manifest.baseSnapshot.flatMap { number in manifest.snapshots.first { $0.number == number } }
      .map(MemorySnapshotInfo.init)
  }

  /// Folds the log into a new snapshot and switches the manifest to it atomically; segments the
  /// snapshot covers are removed afterwards, and dictionaries no live segment uses (except the
  /// current one). Returns the snapshot (the existing one if nothing happened since).
  ///
  /// Crash safety: the current segment is closed first (the manifest lists a fresh one), then the
  /// snapshot is written atomically, then the manifest is replaced atomically; only then are
  /// old files removed. A crash at any point leaves a store that opens to the same state: an
  /// unlisted snapshot or a covered segment left behind is removed by the next read-write open.
  ///
  /// - Parameter label: a free-form note kept with the snapshot, e.g. "round 3".
  @discardableResult
  public func compact(label: String? = nil) throws -> MemorySnapshotInfo {
    try requireWritable()
    if let base = manifest.baseSnapshot, let entry = manifest.snapshots.first(where: { $0.number == base }),
      entry.eventCount == state.eventCount
    {
      return MemorySnapshotInfo(entry)
    }
    if let writer, writer.size > 0 { try rollOver(dictionary: manifest.currentDictionary) }
    let number = (manifest.snapshots.map(\.number).max() ?? 0) + 1
    let contents = SnapshotCoding.encode(state, number: number, label: label)
    let compressed = try Zstd.compress(contents, level: Zstd.defaultLevel)
    let name = MemoryManifest.snapshotName(number)
    try AtomicFile.write(compressed, to: path(name))
    let entry = MemoryManifest.Snapshot(
      number: number, eventCount: state.eventCount, notes: state.records.count,
      hash: StableHash.hex(StableHash.fnv1a64(bytes: contents)), bytes: compressed.count, label: label)
    var next = manifest
    next.snapshots.append(entry)
    next.baseSnapshot = number
    next.segments = manifest.segments.filter { $0.firstEvent >= state.eventCount }
    if next.segments.isEmpty { next.segments = [lastSegment] }
    let used = Set(next.segments.map(\.dictionary)).union([next.currentDictionary])
    next.dictionaries = manifest.dictionaries.filter { used.contains($0.id) }
    try next.write(to: directory)
    let previous = manifest
    manifest = next
    let live = Set(next.segments.map(\.number))
    for segment in previous.segments where !live.contains(segment.number) {
      try FileOps.remove(path(MemoryManifest.segmentName(segment.number)))
      segmentRecords[segment.number] = nil
      segmentJSONBytes[segment.number] = nil
    }
    for dictionary in previous.dictionaries where !used.contains(dictionary.id) {
      try FileOps.remove(path(MemoryManifest.dictionaryName(dictionary.id)))
      dictionaries[dictionary.id] = nil
    }
    AtomicFile.syncDirectory(directory)
    return MemorySnapshotInfo(entry)
  }

  /// The state at a snapshot: `reference` is an id (`snap-000003`), a file name
  /// (`snap-3.json.zst`), a number (`3`), or `head` for the current state (no snapshot).
  public func state(at reference: String) throws -> (snapshot: MemorySnapshotInfo?, state: MemoryState) {
    let trimmed = reference.lowercased()
    if trimmed == "head" || trimmed == "current" { return (nil, state) }
    var digits = Substring(trimmed)
    if digits.hasPrefix("snap-") { digits = digits.dropFirst(5) }
    if digits.hasSuffix(".json.zst") { digits = digits.dropLast(9) }
    guard let number = Int(digits), let entry = manifest.snapshots.first(where: { $0.number == number })
    else {
      let known = manifest.snapshots.map { MemorySnapshotInfo($0).id }.joined(separator: ", ")
      throw HindcastError(
        .invalidInput, "no snapshot '\(reference)' in this store", location: directory,
        hint: known.isEmpty
          ? "the store has no snapshots yet; run 'hindcast memory compact'" : "snapshots: \(known), or head")
    }
    return (MemorySnapshotInfo(entry), try readSnapshot(entry))
  }

  /// Sizes of every file and the log's compression ratio.
  public func storageStatistics() -> MemoryStorageStatistics {
    var statistics = MemoryStorageStatistics()
    for segment in manifest.segments {
      let name = MemoryManifest.segmentName(segment.number)
      statistics.segments.append(
        MemoryStorageStatistics.Segment(
          name: name, records: segmentRecords[segment.number] ?? 0, bytes: FileOps.fileSize(path(name)),
          jsonBytes: segmentJSONBytes[segment.number] ?? 0, dictionary: segment.dictionary))
    }
    statistics.dictionaries = manifest.dictionaries.map {
      let name = MemoryManifest.dictionaryName($0.id)
      return MemoryStorageStatistics.File(name: name, bytes: FileOps.fileSize(path(name)))
    }
    statistics.snapshots = manifest.snapshots.map {
      let name = MemoryManifest.snapshotName($0.number)
      return MemoryStorageStatistics.File(name: name, bytes: FileOps.fileSize(path(name)))
    }
    statistics.manifestBytes = FileOps.fileSize(path(MemoryManifest.fileName))
    return statistics
  }

  /// Trains the store's dictionary once it holds `dictionaryTrainingThreshold` events and has
  /// none, and starts a new segment that uses it. A failed training is not retried in this
  /// session (the store works the same without a dictionary, only larger).
  func trainDictionaryIfDue() throws {
    let threshold = settings.dictionaryTrainingThreshold
    guard mode == .readWrite, threshold > 0, manifest.currentDictionary == 0, !dictionaryTrainingAttempted,
      state.eventCount >= threshold
    else { return }
    let samples = trainingSamples(limit: max(threshold, 4000), byteLimit: 4 << 20)
    // Too few distinct records yet (many events may repeat a few notes): try again on a later
    // append rather than never in this process.
    guard samples.count >= 100 else { return }
    dictionaryTrainingAttempted = true
    let total = samples.reduce(0) { $0 + $1.count }
    let capacity = min(settings.dictionaryCapacity, max(1024, total / 10))
    guard let dictionary = try? Zstd.trainDictionary(samples: samples, capacity: capacity),
      !dictionary.isEmpty
    else { return }
    let id = (manifest.dictionaries.map(\.id).max() ?? 0) + 1
    guard id <= 65535 else { return }
    try AtomicFile.write(dictionary, to: path(MemoryManifest.dictionaryName(id)))
    dictionaries[id] = dictionary
    let entry = MemoryManifest.Dictionary(
      id: id, bytes: dictionary.count, trainedOn: samples.count,
      hash: StableHash.hex(StableHash.fnv1a64(bytes: dictionary)))
    try rollOver(dictionary: id, newDictionary: entry)
  }

  /// Records like the ones the store writes, re-encoded from the state: every note's
  /// `noteAdded` and observations spread over all notes, newest first, within the limits.
  func trainingSamples(limit: Int, byteLimit: Int) -> [[UInt8]] {
    var samples: [[UInt8]] = []
    var bytes = 0
    let records = state.records.sorted { ($0.lastEventAt, $0.id) > ($1.lastEventAt, $1.id) }
    for record in records where samples.count < limit / 2 && bytes < byteLimit / 2 {
      let sample = EventCoding.encode(.noteAdded(record.note))
      samples.append(sample)
      bytes += sample.count
    }
    var depth = 0
    var added = true
    while added && samples.count < limit && bytes < byteLimit {
      added = false
      for record in records where depth < record.observations.count {
        let observation = record.observations[record.observations.count - 1 - depth]
        let sample = EventCoding.encode(.observation(observation))
        samples.append(sample)
        bytes += sample.count
        added = true
        if samples.count >= limit || bytes >= byteLimit { break }
      }
      depth += 1
    }
    return samples
  }

  /// Removes what killed writers leave behind: temporary files, snapshots and dictionaries the
  /// manifest does not list, and segments a snapshot already covers. Each is reported.
  func removeLeftovers() throws {
    AtomicFile.removeStaleTemporaries(in: directory)
    let live = Set(manifest.segments.map(\.number))
    let firstLive = manifest.segments.map(\.number).min() ?? 1
    let snapshotNumbers = Set(manifest.snapshots.map(\.number))
    let dictionaryIds = Set(manifest.dictionaries.map(\.id))
    for name in FileOps.listDirectory(directory) {
      var reason: String?
      if let number = FileOps.number(in: name, prefix: "seg-", suffix: ".log"), !live.contains(number),
        number < firstLive, manifest.baseSnapshot != nil
      {
        reason = "covered by the base snapshot (interrupted compaction)"
      } else if let number = FileOps.number(in: name, prefix: "snap-", suffix: ".json.zst"),
        !snapshotNumbers.contains(number)
      {
        reason = "not in the manifest (interrupted compaction)"
      } else if let id = FileOps.number(in: name, prefix: "dict-", suffix: ".zdict"),
        !dictionaryIds.contains(id)
      {
        reason = "not in the manifest (unused or interrupted training)"
      }
      if let reason {
        try FileOps.remove(path(name))
        openReport.removedFiles.append("\(name): \(reason)")
      }
    }
  }
}
