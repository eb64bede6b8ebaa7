import CZstd
import HindcastSupport

// Per-record zstd with long-lived contexts and digested dictionaries.
//
// `Zstd` compresses whole buffers and builds a fresh context (and loads the dictionary again) on
// every call, which costs tens of microseconds: fine for shards and snapshots, far too slow for a
// log of small records that must append 50,000 records/s and replay a million in under 2 s (the
// memory store's segments). These two classes keep one context each and a prepared dictionary;
// errors go through `Zstd.check`, so both APIs report zstd failures the same way.

/// Compresses single records into standalone zstd frames: content size present, no zstd
/// checksum (the caller's framing carries one, e.g. the memory log's CRC-32C) and no dictionary
/// id (the framing carries it). Not thread-safe; use one per writer.
public final class ZstdFrameCompressor {
  private let context: OpaquePointer
  private var dictionary: OpaquePointer?
  public let level: Int32

  /// - Parameter dictionary: raw dictionary bytes (a trained zstd dictionary), or nil.
  public init(level: Int32, dictionary: [UInt8]?) throws {
    guard let context = ZSTD_createCCtx() else {
      throw HindcastError(.compression, "zstd: cannot allocate a compression context")
    }
    self.context = context
    self.level = level
    try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set level")
    try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0), "disable checksum")
    try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_dictIDFlag, 0), "omit dictionary id")
    if let dictionary {
      let digested = dictionary.withUnsafeBytes { ZSTD_createCDict($0.baseAddress, $0.count, level) }
      guard let digested else {
        throw HindcastError(.compression, "zstd: cannot digest the dictionary")
      }
      self.dictionary = digested
      try Zstd.check(ZSTD_CCtx_refCDict(context, digested), "reference dictionary")
    }
  }

  deinit {
    ZSTD_freeCCtx(context)
    if let dictionary { ZSTD_freeCDict(dictionary) }
  }

  /// Appends the compressed frame of `input` to `output` and returns its length in bytes.
  public func compress(_ input: [UInt8], appendingTo output: inout [UInt8]) throws -> Int {
    let bound = ZSTD_compressBound(input.count)
    let start = output.count
    output.append(contentsOf: repeatElement(0, count: bound))
    let written = try output.withUnsafeMutableBytes { out in
      try input.withUnsafeBytes { inp in
        try Zstd.check(
          ZSTD_compress2(context, out.baseAddress! + start, bound, inp.baseAddress, inp.count), "compress")
      }
    }
    output.removeLast(bound - written)
    return written
  }
}

/// Decompresses record frames written by `ZstdFrameCompressor`. Holds digested dictionaries by
/// id. Not thread-safe; use one per thread.
public final class ZstdFrameDecompressor {
  private let context: OpaquePointer
  private var dictionaries: [UInt16: OpaquePointer] = [:]
  /// The largest decompressed record accepted, a guard against corrupt size fields.
  public static let maximumRecordSize = 16 << 20

  public init() throws {
    guard let context = ZSTD_createDCtx() else {
      throw HindcastError(.compression, "zstd: cannot allocate a decompression context")
    }
    self.context = context
  }

  deinit {
    ZSTD_freeDCtx(context)
    for dictionary in dictionaries.values { ZSTD_freeDDict(dictionary) }
  }

  /// Registers dictionary `id` (1...65535) for later frames.
  public func addDictionary(id: UInt16, bytes: [UInt8]) throws {
    guard dictionaries[id] == nil else { return }
    let digested = bytes.withUnsafeBytes { ZSTD_createDDict($0.baseAddress, $0.count) }
    guard let digested else {
      throw HindcastError(.compression, "zstd: cannot digest dictionary \(id)")
    }
    dictionaries[id] = digested
  }

  public func hasDictionary(_ id: UInt16) -> Bool { dictionaries[id] != nil }

  /// Decompresses one frame, using dictionary `dictionaryId` (0 = none). Throws with a reason
  /// (the caller adds the file and offset) if the frame is malformed.
  public func decompress(_ frame: UnsafeRawBufferPointer, dictionaryId: UInt16, into output: inout [UInt8])
    throws
  {
    let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
    guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN,
      size <= UInt64(Self.maximumRecordSize)
    else {
      throw HindcastError(.corruptFile, "record payload is not a zstd frame with a known size")
    }
    output.removeAll(keepingCapacity: true)
    output.append(contentsOf: repeatElement(0, count: Int(size)))
    let produced: Int
    if dictionaryId == 0 {
      produced = try output.withUnsafeMutableBytes { out in
        try Zstd.check(
          ZSTD_decompressDCtx(context, out.baseAddress, out.count, frame.baseAddress, frame.count),
          "decompress")
      }
    } else {
      guard let dictionary = dictionaries[dictionaryId] else {
        throw HindcastError(
          .corruptFile, "record uses dictionary \(dictionaryId), which the store does not list")
      }
      produced = try output.withUnsafeMutableBytes { out in
        try Zstd.check(
          ZSTD_decompress_usingDDict(
            context, out.baseAddress, out.count, frame.baseAddress, frame.count, dictionary),
          "decompress")
      }
    }
    guard produced == Int(size) else {
      throw HindcastError(
        .corruptFile, "record payload decompressed to \(produced) bytes, header says \(size)")
    }
  }
}
