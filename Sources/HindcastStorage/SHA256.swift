import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// SHA-256 (FIPS 180-4), written out by hand so content hashes need no extra dependency.
///
/// One-shot: `SHA256.hash(bytes)` returns the 32-byte digest, `SHA256.hex(bytes)` its 64-character
/// lowercase hex form (what manifests and `ShardInfo` store; `sha256sum` prints the same).
/// Incremental: `var h = SHA256(); h.update(part1); h.update(part2); let digest = h.finalize()`.
///
/// A value type with no shared state: each hasher is owned by one caller at a time.
public struct SHA256: Sendable {
  /// Digest length in bytes.
  public static let digestByteCount = 32
  /// Block length in bytes.
  public static let blockByteCount = 64

  private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
    0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19
  )
  /// Bytes of an incomplete block waiting for more input (fewer than 64).
  private var pending: [UInt8] = []
  /// Total message length so far, in bytes.
  private var totalByteCount: UInt64 = 0

  public init() {
    pending.reserveCapacity(Self.blockByteCount)
  }

  /// Feeds more message bytes.
  public mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// Feeds more message bytes from a raw buffer (no copy of whole blocks).
  public mutating func update(_ buffer: UnsafeRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    totalByteCount &+= UInt64(buffer.count)
    var offset = 0
    if !pending.isEmpty {
      let take = min(Self.blockByteCount - pending.count, buffer.count)
      pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
      offset = take
      guard pending.count == Self.blockByteCount else { return }
      pending.withUnsafeBytes { block in
        Self.compress(&state, blocks: block.baseAddress!, count: 1)
      }
      pending.removeAll(keepingCapacity: true)
    }
    let wholeBlocks = (buffer.count - offset) / Self.blockByteCount
    if wholeBlocks > 0 {
      Self.compress(&state, blocks: base + offset, count: wholeBlocks)
      offset += wholeBlocks * Self.blockByteCount
    }
    if offset < buffer.count {
      pending.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: buffer.count - offset))
    }
  }

  /// Pads the message and returns the 32-byte digest of everything fed so far. The hasher is
  /// left unchanged, so more `update` calls may follow (for a digest of the longer message).
  public func finalize() -> [UInt8] {
    var state = self.state
    let bitLength = totalByteCount &* 8
    var tail = pending
    tail.append(0x80)
    let zeros = (Self.blockByteCount - (tail.count + 8) % Self.blockByteCount) % Self.blockByteCount
    tail.append(contentsOf: repeatElement(0, count: zeros))
    for shift in stride(from: 56, through: 0, by: -8) {
      tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
    }
    tail.withUnsafeBytes { blocks in
      Self.compress(&state, blocks: blocks.baseAddress!, count: tail.count / Self.blockByteCount)
    }
    let words = [state.0, state.1, state.2, state.3, state.4, state.5, state.6, state.7]
    var digest: [UInt8] = []
    digest.reserveCapacity(Self.digestByteCount)
    for word in words {
      digest.append(UInt8(truncatingIfNeeded: word >> 24))
      digest.append(UInt8(truncatingIfNeeded: word >> 16))
      digest.append(UInt8(truncatingIfNeeded: word >> 8))
      digest.append(UInt8(truncatingIfNeeded: word))
    }
    return digest
  }

  /// The 32-byte SHA-256 digest of `bytes`.
  public static func hash(_ bytes: [UInt8]) -> [UInt8] {
    var hasher = SHA256()
    hasher.update(bytes)
    return hasher.finalize()
  }

  /// The SHA-256 of `bytes` as 64 lowercase hex characters (the form `sha256sum` prints).
  public static func hex(_ bytes: [UInt8]) -> String {
    hexString(hash(bytes))
  }

  /// The SHA-256 of a file's contents as lowercase hex, read in 1 MiB pieces so large files
  /// (weights, checkpoints) are not loaded whole. Throws `.missingFile` or `.ioFailure` naming
  /// `path`.
  public static func hexOfFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      let missing = errno == ENOENT
      throw HindcastError(
        missing ? .missingFile : .ioFailure,
        missing ? "file not found" : "cannot open file: \(FileOps.errnoText())", location: path)
    }
    defer { close(fd) }
    var hasher = SHA256()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        throw HindcastError(.ioFailure, "read failed: \(FileOps.errnoText())", location: path)
      }
      if count == 0 { break }
      chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }
    return hexString(hasher.finalize())
  }

  /// Renders bytes (usually a digest) as lowercase hex, two characters per byte.
  public static func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
  }

  private static let roundConstants: [UInt32] = [
    0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
    0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
    0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
    0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
    0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
    0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
    0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
    0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
  ]

  @inline(__always)
  private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 &- n)) }

  /// One round: `d` and `h` are updated in place; the caller rotates the variable roles.
  @inline(__always)
  private static func round(
    _ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
    _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ constantPlusWord: UInt32
  ) {
    let bigSigma1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
    let choose = g ^ (e & (f ^ g))
    let t1 = h &+ bigSigma1 &+ choose &+ constantPlusWord
    let bigSigma0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
    let majority = (a & b) | (c & (a | b))
    d &+= t1
    h = t1 &+ bigSigma0 &+ majority
  }

  /// Runs the compression function over `count` consecutive 64-byte blocks at `blocks`.
  private static func compress(
    _ state: inout (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
    blocks: UnsafeRawPointer, count: Int
  ) {
    roundConstants.withUnsafeBufferPointer { k in
      withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
        var (h0, h1, h2, h3, h4, h5, h6, h7) = state
        for blockIndex in 0..<count {
          let block = blocks + blockIndex * blockByteCount
          for t in 0..<16 {
            w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self))
          }
          for t in 16..<64 {
            let x = w[t - 15]
            let y = w[t - 2]
            let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
            let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
          }
          var a = h0
          var b = h1
          var c = h2
          var d = h3
          var e = h4
          var f = h5
          var g = h6
          var h = h7
          // Eight rounds per iteration with the roles of the working variables rotated, so no
          // values are shuffled between rounds.
          var t = 0
          while t < 64 {
            round(a, b, c, &d, e, f, g, &h, k[t] &+ w[t])
            round(h, a, b, &c, d, e, f, &g, k[t + 1] &+ w[t + 1])
            round(g, h, a, &b, c, d, e, &f, k[t + 2] &+ w[t + 2])
            round(f, g, h, &a, b, c, d, &e, k[t + 3] &+ w[t + 3])
            round(e, f, g, &h, a, b, c, &d, k[t + 4] &+ w[t + 4])
            round(d, e, f, &g, h, a, b, &c, k[t + 5] &+ w[t + 5])
            round(c, d, e, &f, g, h, a, &b, k[t + 6] &+ w[t + 6])
            round(b, c, d, &e, f, g, h, &a, k[t + 7] &+ w[t + 7])
            t += 8
          }
          h0 &+= a
          h1 &+= b
          h2 &+= c
          h3 &+= d
          h4 &+= e
          h5 &+= f
          h6 &+= g
          h7 &+= h
        }
        state = (h0, h1, h2, h3, h4, h5, h6, h7)
      }
    }
  }
}
