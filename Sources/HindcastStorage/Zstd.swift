import CZstd
import HindcastSupport

/// One-shot zstd compression and decompression of whole buffers.
///
/// Frames are written with the content size and a content checksum, so a truncated or
/// bit-flipped frame is detected on decompression instead of yielding partial data. Several
/// concatenated frames decompress as one stream, as the zstd format specifies.
public enum Zstd {
  /// The level used for shards: fast, with a ratio near 4 on rollout-like JSON.
  public static let defaultLevel: Int32 = 3

  public static func compress(_ input: [UInt8], level: Int32 = defaultLevel, dictionary: [UInt8]? = nil)
    throws -> [UInt8]
  {
    guard let context = ZSTD_createCCtx() else {
      throw HindcastError(.compression, "zstd: cannot allocate a compression context")
    }
    defer { ZSTD_freeCCtx(context) }
    try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set level")
    try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "enable checksums")
    if let dictionary {
      _ = try dictionary.withUnsafeBytes { raw in
        try check(ZSTD_CCtx_loadDictionary(context, raw.baseAddress, raw.count), "load dictionary")
      }
    }
    var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
    let written = try output.withUnsafeMutableBytes { out in
      try input.withUnsafeBytes { inp in
        try check(ZSTD_compress2(context, out.baseAddress, out.count, inp.baseAddress, inp.count), "compress")
      }
    }
    output.removeSubrange(written...)
    return output
  }

  /// Decompresses one or more concatenated frames. Throws if any frame is truncated, corrupt or
  /// fails its checksum, or if the output would exceed `limit` bytes (a small file that inflates
  /// to gigabytes is refused before it is held in memory); `what` names the source in the error
  /// (for example a file path).
  public static func decompress(
    _ input: [UInt8], dictionary: [UInt8]? = nil, what: String? = nil, limit: Int = Int.max
  ) throws -> [UInt8] {
    guard let context = ZSTD_createDCtx() else {
      throw HindcastError(.compression, "zstd: cannot allocate a decompression context", location: what)
    }
    defer { ZSTD_freeDCtx(context) }
    if let dictionary {
      _ = try dictionary.withUnsafeBytes { raw in
        try check(ZSTD_DCtx_loadDictionary(context, raw.baseAddress, raw.count), "load dictionary", what)
      }
    }
    var result: [UInt8] = []
    result.reserveCapacity(min(limit, input.count.multipliedReportingOverflow(by: 4).partialValue))
    let chunkSize = ZSTD_DStreamOutSize()
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    func append(_ produced: Int) throws {
      guard result.count + produced <= limit else {
        throw HindcastError(
          .corruptFile, "zstd data inflates to more than \(limit) bytes, the most allowed here",
          location: what,
          hint: "the file is damaged or not one Hindcast wrote")
      }
      result.append(contentsOf: chunk[0..<produced])
    }
    try input.withUnsafeBytes { inp in
      var inBuffer = ZSTD_inBuffer(src: inp.baseAddress, size: inp.count, pos: 0)
      var lastReturn = 0
      repeat {
        let produced = try chunk.withUnsafeMutableBytes { out -> Int in
          var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
          lastReturn = try check(
            ZSTD_decompressStream(context, &outBuffer, &inBuffer), "decompress", what)
          return outBuffer.pos
        }
        try append(produced)
        if produced == chunkSize { continue }
      } while inBuffer.pos < inBuffer.size
      // Drain any output still buffered inside the context.
      while lastReturn != 0 {
        let produced = try chunk.withUnsafeMutableBytes { out -> Int in
          var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
          lastReturn = try check(
            ZSTD_decompressStream(context, &outBuffer, &inBuffer), "decompress", what)
          return outBuffer.pos
        }
        try append(produced)
        if produced == 0 && lastReturn != 0 {
          throw HindcastError(
            .corruptFile, "zstd data is truncated (the last frame is incomplete)", location: what)
        }
      }
    }
    return result
  }

  /// Trains a dictionary of at most `capacity` bytes from sample records. Needs enough samples
  /// (zstd recommends about 100x the dictionary size in total); throws otherwise.
  public static func trainDictionary(samples: [[UInt8]], capacity: Int) throws -> [UInt8] {
    let joined = samples.flatMap { $0 }
    let sizes = samples.map { $0.count }
    var dictionary = [UInt8](repeating: 0, count: capacity)
    let size = try dictionary.withUnsafeMutableBytes { out in
      try joined.withUnsafeBytes { inp in
        try check(
          ZDICT_trainFromBuffer(out.baseAddress, out.count, inp.baseAddress, sizes, UInt32(sizes.count)),
          "train dictionary", nil, isDictionary: true)
      }
    }
    dictionary.removeSubrange(size...)
    return dictionary
  }

  @discardableResult
  static func check(_ code: Int, _ action: String, _ what: String? = nil, isDictionary: Bool = false) throws
    -> Int
  {
    let failed = isDictionary ? ZDICT_isError(code) != 0 : ZSTD_isError(code) != 0
    if failed {
      let name =
        isDictionary ? String(cString: ZDICT_getErrorName(code)) : String(cString: ZSTD_getErrorName(code))
      let kind: HindcastError.Code = action == "decompress" ? .corruptFile : .compression
      throw HindcastError(kind, "zstd \(action) failed: \(name)", location: what)
    }
    return code
  }
}
