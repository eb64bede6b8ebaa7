import HindcastSupport

/// Settings of one store, fixed when it is created and kept in its manifest.
public struct MemorySettings: Codable, Hashable, Sendable {
  /// zstd level of log records (1-19).
  public var compressionLevel: Int
  /// Records after which a dictionary is trained on the store's own records; 0 disables it.
  public var dictionaryTrainingThreshold: Int
  /// The largest dictionary trained, in bytes (1 KiB-1 MiB).
  public var dictionaryCapacity: Int
  /// A new segment starts once the current one is at least this large, in bytes.
  public var segmentSizeLimit: Int
  /// The most tokens one note may cost (`NoteText.tokenCount`); longer notes are rejected.
  public var maxNoteTokens: Int
  /// The most tokens one retrieval may return, whatever budget the caller asks for.
  public var maxRetrievalTokens: Int
  /// Jaccard similarity of word 3-shingles at or above which a new note is merged into an
  /// existing active note of the same scope (see `ShingleSet`).
  public var mergeThreshold: Double

  public init(
    compressionLevel: Int = 3, dictionaryTrainingThreshold: Int = 1000, dictionaryCapacity: Int = 16384,
    segmentSizeLimit: Int = 64 << 20, maxNoteTokens: Int = 256, maxRetrievalTokens: Int = 1024,
    mergeThreshold: Double = NoteSimilarity.defaultThreshold
  ) {
    self.compressionLevel = compressionLevel
    self.dictionaryTrainingThreshold = dictionaryTrainingThreshold
    self.dictionaryCapacity = dictionaryCapacity
    self.segmentSizeLimit = segmentSizeLimit
    self.maxNoteTokens = maxNoteTokens
    self.maxRetrievalTokens = maxRetrievalTokens
    self.mergeThreshold = mergeThreshold
  }

  /// Throws `invalidConfig` naming the first setting out of range.
  public func validate(location: String? = nil) throws {
    func reject(_ key: String, _ range: String) -> HindcastError {
      HindcastError(.invalidConfig, "memory setting '\(key)' must be \(range)", location: location)
    }
    guard (1...19).contains(compressionLevel) else { throw reject("compressionLevel", "in 1...19") }
    guard dictionaryTrainingThreshold == 0 || dictionaryTrainingThreshold >= 100 else {
      throw reject("dictionaryTrainingThreshold", "0 (never) or at least 100")
    }
    guard (1024...(1 << 20)).contains(dictionaryCapacity) else {
      throw reject("dictionaryCapacity", "in 1024...1048576")
    }
    guard segmentSizeLimit >= 4096 else { throw reject("segmentSizeLimit", "at least 4096") }
    guard maxNoteTokens >= 8 else { throw reject("maxNoteTokens", "at least 8") }
    guard maxRetrievalTokens >= maxNoteTokens else {
      throw reject("maxRetrievalTokens", "at least maxNoteTokens (\(maxNoteTokens))")
    }
    guard mergeThreshold > 0 && mergeThreshold <= 1 else { throw reject("mergeThreshold", "in (0, 1]") }
  }
}

/// When appended records are durable.
public enum MemoryDurability: String, Hashable, Sendable {
  /// Every `append` ends with `fsync`: once it returns, its records survive a crash of the
  /// process and of the machine.
  case fsyncEachAppend
  /// No `fsync`: records survive a crash of the process (they are in the kernel once `append`
  /// returns) but the last ones may be lost if the machine loses power. For benchmarks and
  /// throwaway stores.
  case processCrashOnly
}

/// How to open a store. Only `settings` is persisted (at creation).
public struct MemoryOpenOptions: Sendable {
  public enum Mode: Sendable {
    /// Exclusive: takes the store's lock, repairs a torn tail, removes leftovers of killed writers.
    case readWrite
    /// Shared and passive: never changes a file; a torn tail is skipped and reported.
    case readOnly
  }

  public var mode: Mode
  /// Create an empty store if the directory holds none (read-write only).
  public var createIfMissing: Bool
  /// Settings of a newly created store; ignored when opening an existing one.
  public var settings: MemorySettings
  public var durability: MemoryDurability
  /// Threads used to decode records while opening (≥ 1).
  public var decodeThreads: Int
  /// A crash-test aid: when set, each batch is written in pieces of at most this many bytes,
  /// which widens the moment in which a kill tears a record. Leave nil otherwise.
  public var maximumWriteSize: Int?

  public init(
    mode: Mode = .readWrite, createIfMissing: Bool = true, settings: MemorySettings = MemorySettings(),
    durability: MemoryDurability = .fsyncEachAppend, decodeThreads: Int = 1
  ) {
    self.mode = mode
    self.createIfMissing = createIfMissing
    self.settings = settings
    self.durability = durability
    self.decodeThreads = decodeThreads
  }

  /// Read-only options (for inspection commands).
  public static func readOnly(decodeThreads: Int = 1) -> MemoryOpenOptions {
    MemoryOpenOptions(mode: .readOnly, createIfMissing: false, decodeThreads: decodeThreads)
  }
}
