import HindcastStorage

/// The framing of records in a log segment (`seg-NNNNNN.log`), all integers little-endian:
///
///     offset  size  field
///     0       4     magic 0x314D4348 (the bytes "HCM1")
///     4       4     payload length in bytes
///     8       4     CRC-32C of bytes 12..<16+length (flags and payload)
///     12      4     flags: bits 0-15 the dictionary id (0 = none); bit 16 set on the last
///                   record of an append ("commit"); bits 17-31 zero
///     16      n     payload: one zstd frame holding one JSON event (see `EventCoding`)
///
/// A segment is a plain concatenation of frames. An append is committed once all its frames
/// are in the file, the last one carrying the commit bit; what a crash mid-append leaves at the
/// end of the last segment (a torn frame, or complete frames without a commit after them) is
/// cut off when the store is opened, so an append is all or nothing.
enum LogFrame {
  static let magic: UInt32 = 0x314D_4348
  static let headerSize = 16
  static let commitFlag: UInt32 = 1 << 16

  /// Appends one frame holding `json` compressed by `compressor` to `buffer`.
  static func append(
    json: [UInt8], dictionaryId: UInt16, commits: Bool, compressor: ZstdFrameCompressor,
    to buffer: inout [UInt8]
  ) throws {
    let start = buffer.count
    buffer.append(contentsOf: repeatElement(0, count: headerSize))
    let length = try compressor.compress(json, appendingTo: &buffer)
    let flags = UInt32(dictionaryId) | (commits ? commitFlag : 0)
    buffer.withUnsafeMutableBytes { raw in
      raw.storeBytes(of: magic.littleEndian, toByteOffset: start, as: UInt32.self)
      raw.storeBytes(of: UInt32(length).littleEndian, toByteOffset: start + 4, as: UInt32.self)
      raw.storeBytes(of: flags.littleEndian, toByteOffset: start + 12, as: UInt32.self)
      let checked = UnsafeRawBufferPointer(rebasing: raw[(start + 12)..<(start + headerSize + length)])
      raw.storeBytes(of: CRC32C.checksum(checked).littleEndian, toByteOffset: start + 8, as: UInt32.self)
    }
  }

  /// Where one good frame's payload lies in a segment.
  struct Location: Hashable {
    let frameOffset: Int
    let payloadOffset: Int
    let payloadLength: Int
    let dictionaryId: UInt16
    /// True on the last record of an append.
    let commits: Bool
  }

  /// The first bad frame of a segment.
  struct Damage: Hashable {
    /// Byte offset of the bad frame.
    let offset: Int
    let reason: String
    /// Offset of a good frame after the damage, if any: then the damage is corruption inside
    /// the log, not a torn tail, and nothing may be truncated.
    let nextGoodFrame: Int?
    /// Frame starts (magic numbers) between the damage and the end of the segment, at least 1.
    let framesInTail: Int
  }

  /// The result of checking every frame of a segment.
  struct Scan {
    var frames: [Location] = []
    /// Bytes up to the end of the last good frame before any damage.
    var goodLength = 0
    var damage: Damage?
    /// Good frames up to and including the last one with the commit bit.
    var committedFrames = 0
    /// Bytes up to the end of that frame.
    var committedLength = 0

    /// Complete frames after the last commit (an append that did not finish).
    var uncommittedFrames: Int { frames.count - committedFrames }
  }

  /// Checks the frames of a segment in order, stopping at the first bad one.
  static func scan(_ bytes: UnsafeRawBufferPointer) -> Scan {
    var result = Scan()
    var offset = 0
    while offset < bytes.count {
      switch check(bytes, at: offset) {
      case .good(let location):
        result.frames.append(location)
        offset = location.payloadOffset + location.payloadLength
        result.goodLength = offset
        if location.commits {
          result.committedFrames = result.frames.count
          result.committedLength = offset
        }
      case .bad(let reason):
        let next = nextGoodFrame(bytes, after: offset)
        var starts = 0
        var probe = offset
        while probe + 4 <= bytes.count {
          if bytes.loadUnaligned(fromByteOffset: probe, as: UInt32.self) == magic.littleEndian { starts += 1 }
          probe += 1
        }
        result.damage = Damage(
          offset: offset, reason: reason, nextGoodFrame: next, framesInTail: max(1, starts))
        return result
      }
    }
    return result
  }

  enum Check {
    case good(Location)
    case bad(String)
  }

  static func check(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Check {
    let remaining = bytes.count - offset
    guard remaining >= headerSize else { return .bad("incomplete frame header (\(remaining) bytes)") }
    guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) == magic else {
      return .bad("bad frame magic")
    }
    let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
    guard length <= remaining - headerSize else {
      return .bad(
        "incomplete frame: header announces \(length) payload bytes, \(remaining - headerSize) present")
    }
    let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
    let checked = UnsafeRawBufferPointer(rebasing: bytes[(offset + 12)..<(offset + headerSize + length)])
    guard CRC32C.checksum(checked) == stored else { return .bad("checksum mismatch") }
    let flags = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
    guard flags >> 17 == 0 else { return .bad("unknown frame flags \(flags)") }
    return .good(
      Location(
        frameOffset: offset, payloadOffset: offset + headerSize, payloadLength: length,
        dictionaryId: UInt16(flags & 0xFFFF), commits: flags & commitFlag != 0))
  }

  /// The offset of the first good frame that starts after `offset`, if any.
  static func nextGoodFrame(_ bytes: UnsafeRawBufferPointer, after offset: Int) -> Int? {
    var probe = offset + 1
    while probe + headerSize <= bytes.count {
      if bytes.loadUnaligned(fromByteOffset: probe, as: UInt32.self) == magic.littleEndian,
        case .good = check(bytes, at: probe)
      {
        return probe
      }
      probe += 1
    }
    return nil
  }
}
