import Foundation
import HindcastStorage
import HindcastSupport

/// The experiential memory of a run: an append-only log of `MemoryEvent`s in checksummed zstd
/// frames, folded into a `MemoryState`, with snapshots, a trained dictionary and a manifest.
/// See `docs/memory.md` for the format and the guarantees.
///
/// One process at a time may open a store read-write (an advisory lock enforces it); any number
/// may open it read-only. Not thread-safe: one owner calls it at a time.
///
/// Durability: with `MemoryDurability.fsyncEachAppend` (the default), once `append` (or
/// `add`, `record`, `retire`, `restore`) returns, its events are on disk and survive any crash.
/// An append is atomic: after a crash during an `append` that did not return, opening finds
/// either all of its events (if the kernel got every byte) or none of them.
public final class MemoryStore {
  /// The store directory (for a run: `RUN/memory`).
  public let directory: String
  public let mode: MemoryOpenOptions.Mode
  /// Everything the events say, folded.
  public internal(set) var state: MemoryState
  /// What opening found and did.
  public internal(set) var openReport = MemoryOpenReport()

  var manifest: MemoryManifest
  let durability: MemoryDurability
  let decodeThreads: Int
  let maximumWriteSize: Int?
  var lock: DirectoryLock?
  var writer: AppendFile?
  var compressor: ZstdFrameCompressor?
  /// Loaded dictionaries by id.
  var dictionaries: [Int: [UInt8]] = [:]
  /// Records and JSON bytes per live segment number (for statistics).
  var segmentRecords: [Int: Int] = [:]
  var segmentJSONBytes: [Int: Int] = [:]
  var dictionaryTrainingAttempted = false
  /// Shingle sets of notes, computed when first needed for near-duplicate search.
  var shingleCache: [NoteId: ShingleSet] = [:]
  /// Set when a failed write could not be undone; appends are refused until reopened.
  var brokenReason: String?

  public var settings: MemorySettings { manifest.settings }

  /// Opens (or creates) the store in `directory`. Read-write opening repairs a torn tail left by
  /// a crash and reports it in `openReport`; corruption anywhere else throws `corruptFile`
  /// naming the file and offset.
  public static func open(at directory: String, options: MemoryOpenOptions = MemoryOpenOptions()) throws
    -> MemoryStore
  {
    try MemoryStore(directory: directory, options: options)
  }

  /// The memory directory of a run directory.
  public static func directory(ofRun run: String) -> String {
    (run.hasSuffix("/") ? String(run.dropLast()) : run) + "/memory"
  }

  private init(directory: String, options: MemoryOpenOptions) throws {
    self.directory =
      directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
    self.mode = options.mode
    self.durability = options.durability
    self.decodeThreads = max(1, options.decodeThreads)
    self.maximumWriteSize = options.maximumWriteSize
    self.state = MemoryState()
    let manifestPath = self.directory + "/" + MemoryManifest.fileName
    var created = false
    if !FileOps.exists(manifestPath) {
      guard options.mode == .readWrite, options.createIfMissing else {
        throw HindcastError(
          .missingFile, "no memory store here (manifest.json is missing)", location: self.directory,
          hint: "check the --run or --store path; a run has its memory in RUN/memory")
      }
      let leftovers = FileOps.listDirectory(self.directory).filter {
        FileOps.number(in: $0, prefix: "seg-", suffix: ".log") != nil
          || FileOps.number(in: $0, prefix: "snap-", suffix: ".json.zst") != nil
      }
      guard leftovers.isEmpty else {
        throw HindcastError(
          .corruptFile, "memory segments or snapshots exist but manifest.json is missing",
          location: self.directory,
          hint: "restore manifest.json from a backup; the store is not recreated over existing data")
      }
      try options.settings.validate()
      try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
      created = true
    }
    if options.mode == .readWrite { lock = try Self.lock(directory: self.directory) }
    if created {
      manifest = MemoryManifest(
        settings: options.settings,
        segments: [MemoryManifest.Segment(number: 1, dictionary: 0, firstEvent: 0)])
      try manifest.write(to: self.directory)
    } else {
      manifest = try MemoryManifest.read(from: self.directory)
    }
    openReport.created = created
    if options.mode == .readOnly {
      try loadConcurrently()
    } else {
      try load()
    }
    if options.mode == .readWrite {
      try removeLeftovers()
      try openWriter()
      try trainDictionaryIfDue()
    }
  }

  /// Loads without the lock: a writer may compact meanwhile and remove files this reader's
  /// manifest still lists. Then the manifest has changed, and loading starts over from it.
  private func loadConcurrently() throws {
    for attempt in 1...5 {
      do {
        try load()
        return
      } catch let error as HindcastError where error.code == .missingFile && attempt < 5 {
        let current = try MemoryManifest.read(from: directory)
        guard current != manifest else { throw error }
        manifest = current
        state = MemoryState()
        openReport = MemoryOpenReport()
        dictionaries = [:]
        segmentRecords = [:]
        segmentJSONBytes = [:]
      }
    }
  }

  /// Releases the lock and the segment file. The store must not be used afterwards; dropping the
  /// last reference does the same.
  public func close() {
    writer = nil
    compressor = nil
    lock = nil
  }

  func path(_ name: String) -> String { directory + "/" + name }

  /// The one read-write opener's lock (`flock` on `LOCK`, released when the process ends, even
  /// by SIGKILL); throws at once, naming the holder, when another opener has it.
  static func lock(directory: String) throws -> DirectoryLock {
    let path = directory + "/" + MemoryManifest.lockName
    guard let lock = try DirectoryLock.acquire(path: path, wait: false) else {
      let holder = DirectoryLock.holderDescription(path: path).map { " (\($0))" } ?? ""
      throw HindcastError(
        .ioFailure, "the memory store is open for writing in another process\(holder)", location: directory,
        hint:
          "wait for the other hindcast process to finish; read-only commands (ls, show, stats) work meanwhile"
      )
    }
    return lock
  }

  var lastSegment: MemoryManifest.Segment {
    // A manifest always lists at least one segment (checked when loading).
    manifest.segments[manifest.segments.count - 1]
  }

  func openWriter() throws {
    let segment = lastSegment
    writer = try AppendFile(path: path(MemoryManifest.segmentName(segment.number)))
    AtomicFile.syncDirectory(directory)
    compressor = try ZstdFrameCompressor(
      level: Int32(settings.compressionLevel),
      dictionary: segment.dictionary == 0 ? nil : dictionaries[segment.dictionary])
  }

  func requireWritable() throws {
    guard mode == .readWrite, writer != nil else {
      throw HindcastError(
        .invalidInput, "the memory store is open read-only", location: directory,
        hint: "open it read-write to change it")
    }
    if let brokenReason {
      throw HindcastError(
        .ioFailure, "appends are disabled: \(brokenReason)", location: directory,
        hint: "reopen the store")
    }
  }

  /// Appends events as one batch: each is checked against the state as left by the ones before
  /// it; if any is invalid nothing is written and the error names it. Events that repeat what is
  /// already stored are skipped (counted in `duplicates`). The batch is written with one `write`
  /// and, with `fsyncEachAppend`, one `fsync`; then it is folded into `state`.
  @discardableResult
  public func append(_ events: [MemoryEvent]) throws -> MemoryAppendResult {
    try requireWritable()
    let outcomes = state.outcomes(of: events)
    var accepted: [MemoryEvent] = []
    accepted.reserveCapacity(events.count)
    for (index, (event, outcome)) in zip(events, outcomes).enumerated() {
      switch outcome {
      case .invalid(let message):
        throw HindcastError(
          .invalidInput, "memory event \(index + 1) of \(events.count) (\(event.kind)): \(message)")
      case .duplicate:
        continue
      case .applies:
        try checkContent(event, index: index, count: events.count)
        accepted.append(event)
      }
    }
    var result = MemoryAppendResult(
      appended: accepted.count, duplicates: events.count - accepted.count, firstEventIndex: state.eventCount)
    guard !accepted.isEmpty else { return result }
    try rollOverIfFull()
    guard let writer, let compressor else { return result }
    let dictionaryId = UInt16(lastSegment.dictionary)
    var batch: [UInt8] = []
    batch.reserveCapacity(accepted.count * 128)
    var json = JSONWriter(capacity: 512)
    var jsonBytes = 0
    for (index, event) in accepted.enumerated() {
      json.reset()
      EventCoding.encode(event, into: &json)
      jsonBytes += json.bytes.count
      try LogFrame.append(
        json: json.bytes, dictionaryId: dictionaryId, commits: index == accepted.count - 1,
        compressor: compressor,
        to: &batch)
    }
    do {
      try writer.append(batch, sync: durability == .fsyncEachAppend, maximumWriteSize: maximumWriteSize)
    } catch {
      if let failure = writer.unrepairedFailure { brokenReason = failure }
      throw error
    }
    let segment = lastSegment.number
    segmentRecords[segment, default: 0] += accepted.count
    segmentJSONBytes[segment, default: 0] += jsonBytes
    state.apply(accepted)
    result.firstEventIndex = state.eventCount - accepted.count
    try trainDictionaryIfDue()
    return result
  }

  /// Limits the store enforces on content (beyond the fold's rules).
  private func checkContent(_ event: MemoryEvent, index: Int, count: Int) throws {
    func reject(_ message: String, hint: String? = nil) -> HindcastError {
      HindcastError(
        .invalidInput, "memory event \(index + 1) of \(count) (\(event.kind)): \(message)", hint: hint)
    }
    switch event {
    case .noteAdded(let note):
      guard !note.text.isEmpty else { throw reject("the note's text is empty") }
      guard note.id == NoteId(scope: note.scope, text: note.text) else {
        throw reject("the note's id \(note.id) does not match its scope and text")
      }
      guard !note.scope.family.isEmpty else { throw reject("the note's scope has no family") }
      guard note.tokenCount <= settings.maxNoteTokens else {
        throw reject(
          "the note costs \(note.tokenCount) tokens, the store allows \(settings.maxNoteTokens)",
          hint: "shorten the note (RuleBasedNoteProposer truncates to its maxTokens)")
      }
    case .observation(let observation):
      guard !observation.rewriteId.isEmpty, !observation.taskId.isEmpty else {
        throw reject("an observation needs a task id and a rewrite id")
      }
    case .merged(let merge):
      guard merge.similarity.isFinite, (0...1).contains(merge.similarity) else {
        throw reject("similarity \(merge.similarity) is not in [0, 1]")
      }
    case .retired, .restored:
      break
    }
  }

  private func rollOverIfFull() throws {
    guard let writer, writer.size >= settings.segmentSizeLimit else { return }
    try rollOver(dictionary: manifest.currentDictionary)
  }

  /// Starts a new segment (using `dictionary`) after the current one: the manifest lists it
  /// first (together with `newDictionary`, if given), then the file is created, so a crash in
  /// between leaves a listed, missing segment that opening recreates empty.
  func rollOver(dictionary: Int, newDictionary: MemoryManifest.Dictionary? = nil) throws {
    try writer?.sync()
    let number = lastSegment.number + 1
    var next = manifest
    if let newDictionary {
      next.dictionaries.append(newDictionary)
      next.currentDictionary = newDictionary.id
    }
    next.segments.append(
      MemoryManifest.Segment(number: number, dictionary: dictionary, firstEvent: state.eventCount))
    try next.write(to: directory)
    manifest = next
    segmentRecords[number] = 0
    segmentJSONBytes[number] = 0
    try openWriter()
  }
}
