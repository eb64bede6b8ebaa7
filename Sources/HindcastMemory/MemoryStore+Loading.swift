import HindcastStorage
import HindcastSupport

extension MemoryStore {
  /// Loads dictionaries, the base snapshot and every live segment, repairing a torn tail of the
  /// last segment when read-write.
  func load() throws {
    guard !manifest.segments.isEmpty else {
      throw HindcastError(
        .corruptFile, "the manifest lists no segments", location: path(MemoryManifest.fileName))
    }
    for entry in manifest.dictionaries {
      let name = MemoryManifest.dictionaryName(entry.id)
      let bytes = try AtomicFile.read(path(name))
      guard StableHash.hex(StableHash.fnv1a64(bytes: bytes)) == entry.hash, (1...65535).contains(entry.id)
      else {
        throw HindcastError(
          .corruptFile, "dictionary does not match the hash in the manifest", location: path(name),
          hint: "restore it from a backup; records compressed with it cannot be read without it")
      }
      dictionaries[entry.id] = bytes
    }
    if let number = manifest.baseSnapshot {
      guard let entry = manifest.snapshots.first(where: { $0.number == number }) else {
        throw HindcastError(
          .corruptFile, "the base snapshot \(number) is not listed", location: path(MemoryManifest.fileName))
      }
      state = try readSnapshot(entry)
      openReport.snapshot = MemorySnapshotInfo(entry)
    }
    let startEvents = state.eventCount
    for (position, segment) in manifest.segments.enumerated() {
      try replay(segment, isLast: position == manifest.segments.count - 1)
    }
    openReport.replayedEvents = state.eventCount - startEvents
  }

  /// Whether the newest listed segment may be missing, as a crash right after the manifest write
  /// leaves it: after a rollover (an older segment is listed too), or in a store with no events.
  var mayLackNewestSegment: Bool { manifest.segments.count > 1 || state.eventCount == 0 }

  /// Non-empty segment files (`seg-NNNNNN.log`) in the directory that the manifest does not list:
  /// records that no replay reads.
  func unlistedSegmentFiles() -> [String] {
    let listed = Set(manifest.segments.map { MemoryManifest.segmentName($0.number) })
    return FileOps.listDirectory(directory).filter {
      $0.hasPrefix("seg-") && $0.hasSuffix(".log") && !listed.contains($0) && FileOps.fileSize(path($0)) > 0
    }
  }

  /// Reads, checks and folds one snapshot file.
  func readSnapshot(_ entry: MemoryManifest.Snapshot) throws -> MemoryState {
    let location = path(MemoryManifest.snapshotName(entry.number))
    let compressed = try AtomicFile.read(location)
    let bytes = try Zstd.decompress(compressed, what: location)
    guard StableHash.hex(StableHash.fnv1a64(bytes: bytes)) == entry.hash else {
      throw HindcastError(
        .corruptFile, "snapshot does not match the hash in the manifest", location: location,
        hint: "restore it from a backup")
    }
    let (header, state) = try SnapshotCoding.decode(bytes, location: location, threads: decodeThreads)
    guard header.number == entry.number, header.eventCount == entry.eventCount else {
      throw HindcastError(
        .corruptFile,
        "snapshot header (number \(header.number), \(header.eventCount) events) does not match the "
          + "manifest (number \(entry.number), \(entry.eventCount) events)", location: location)
    }
    return state
  }

  private func replay(_ segment: MemoryManifest.Segment, isLast: Bool) throws {
    let name = MemoryManifest.segmentName(segment.number)
    let location = path(name)
    guard segment.firstEvent == state.eventCount else {
      throw HindcastError(
        .corruptFile,
        "\(name) should start at event \(segment.firstEvent) but the records before it end at \(state.eventCount)",
        location: path(MemoryManifest.fileName),
        hint: "a segment is missing or was replaced; restore from a backup")
    }
    guard segment.dictionary == 0 || dictionaries[segment.dictionary] != nil else {
      throw HindcastError(
        .corruptFile, "\(name) uses dictionary \(segment.dictionary), which the manifest does not list",
        location: path(MemoryManifest.fileName))
    }
    guard FileOps.exists(location) else {
      // Only the newest segment may be missing: the manifest listed it just before a crash
      // (a rollover, which lists the segment before it, or a fresh store with no events yet).
      // No segment file the manifest does not list may exist then: its events would vanish.
      let unlisted = unlistedSegmentFiles()
      if isLast && unlisted.isEmpty && mayLackNewestSegment { return }
      throw HindcastError(
        .missingFile,
        "log segment is missing"
          + (unlisted.isEmpty
            ? ""
            : "; the directory holds \(unlisted.joined(separator: ", ")), which the manifest does not list"),
        location: location,
        hint: "restore the memory directory from a backup; its committed events are not all readable")
    }
    let bytes = try AtomicFile.read(location)
    let scan = bytes.withUnsafeBytes { LogFrame.scan($0) }
    if let damage = scan.damage, !isLast || damage.nextGoodFrame != nil {
      let after = damage.nextGoodFrame.map { "; a good record follows at byte \($0)" } ?? ""
      throw HindcastError(
        .corruptFile,
        "corrupt record at byte \(damage.offset) (record \(scan.frames.count + 1)): \(damage.reason)\(after)",
        location: location,
        hint: "the log is damaged in the middle, not torn by a crash; restore this segment from a backup")
    }
    if !isLast && scan.uncommittedFrames > 0 {
      throw HindcastError(
        .corruptFile,
        "the segment ends inside an append (\(scan.uncommittedFrames) records without a commit)",
        location: location, hint: "a closed segment is always complete; restore it from a backup")
    }
    // The tail of the newest segment after its last commit is an append a crash interrupted.
    if scan.committedLength < bytes.count {
      openReport.droppedBytes = bytes.count - scan.committedLength
      openReport.droppedFrames = scan.uncommittedFrames + (scan.damage?.framesInTail ?? 0)
      openReport.droppedFrom = name
      openReport.droppedReason =
        scan.damage.map { "\($0.reason) at byte \($0.offset)" } ?? "an append that did not finish"
      if mode == .readWrite {
        try FileOps.truncate(location, to: scan.committedLength)
        openReport.repaired = true
      }
    }
    let committed = Array(scan.frames.prefix(scan.committedFrames))
    let jsonBytes = try replay(bytes, frames: committed, segment: segment, location: location)
    segmentRecords[segment.number] = committed.count
    segmentJSONBytes[segment.number] = jsonBytes
  }

  /// Decompresses, parses and folds frames: chunks are decoded on `decodeThreads - 1`
  /// background threads while this thread folds the chunks before them, in order. Returns the
  /// JSON bytes decoded.
  private func replay(
    _ bytes: [UInt8], frames: [LogFrame.Location], segment: MemoryManifest.Segment, location: String
  ) throws -> Int {
    let chunkSize = 8192
    let chunks = (frames.count + chunkSize - 1) / chunkSize
    let dictionary = segment.dictionary == 0 ? nil : dictionaries[segment.dictionary]
    var jsonBytes = 0
    try ParallelWork.pipeline(
      count: chunks, threads: decodeThreads,
      produce: { chunk in
        try Self.decodeChunk(
          bytes, frames: frames[(chunk * chunkSize)..<min(frames.count, (chunk + 1) * chunkSize)],
          segment: segment, dictionary: dictionary, location: location)
      },
      consume: { _, decoded in
        decoded.fold(into: &state)
        jsonBytes += decoded.jsonBytes
      })
    return jsonBytes
  }

  /// Decompresses and parses a run of frames; errors name the record (`segment#N`) and offset.
  private static func decodeChunk(
    _ bytes: [UInt8], frames: ArraySlice<LogFrame.Location>, segment: MemoryManifest.Segment,
    dictionary: [UInt8]?, location: String
  ) throws -> DecodedRecords {
    let decompressor = try ZstdFrameDecompressor()
    if let dictionary { try decompressor.addDictionary(id: UInt16(segment.dictionary), bytes: dictionary) }
    var json: [UInt8] = []
    json.reserveCapacity(1024)
    var decoded = DecodedRecords()
    try bytes.withUnsafeBytes { raw in
      for index in frames.indices {
        let frame = frames[index]
        func failure(_ code: HindcastError.Code, _ message: String) -> HindcastError {
          HindcastError(
            code, "record at byte \(frame.frameOffset): \(message)", location: location + "#\(index + 1)")
        }
        guard frame.dictionaryId == 0 || Int(frame.dictionaryId) == segment.dictionary else {
          throw failure(
            .corruptFile, "uses dictionary \(frame.dictionaryId), its segment uses \(segment.dictionary)")
        }
        let payload = UnsafeRawBufferPointer(
          rebasing: raw[frame.payloadOffset..<(frame.payloadOffset + frame.payloadLength)])
        do {
          try decompressor.decompress(payload, dictionaryId: frame.dictionaryId, into: &json)
        } catch let error as HindcastError {
          throw failure(error.code, error.message)
        }
        decoded.jsonBytes += json.count
        do {
          if let event = try EventCoding.decode(json, observationsInto: &decoded.observations) {
            decoded.others.append((decoded.count, event))
          }
          decoded.count += 1
        } catch let error as JSONScanError {
          throw failure(.corruptFile, "not a valid event: \(error)")
        }
      }
    }
    return decoded
  }
}

/// Decoded log records in order: observations kept compactly, other events as values, each
/// with its position among all records.
struct DecodedRecords {
  var observations = ObservationLog()
  var others: [(position: Int, event: MemoryEvent)] = []
  var count = 0
  var jsonBytes = 0

  func fold(into state: inout MemoryState) {
    var nextObservation = 0
    var nextOther = 0
    for position in 0..<count {
      if nextOther < others.count && others[nextOther].position == position {
        state.apply(others[nextOther].event)
        nextOther += 1
      } else {
        state.applyObservation(observations, nextObservation)
        nextObservation += 1
      }
    }
  }
}
