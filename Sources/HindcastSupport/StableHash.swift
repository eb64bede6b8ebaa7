/// Hashes that are identical across processes and machines, for ids and seed derivation.
/// (Swift's `Hasher` is randomly seeded per process and must never be used for those.)
public enum StableHash {
  /// 64-bit FNV-1a over the UTF-8 bytes of `text`.
  public static func fnv1a64(_ text: String) -> UInt64 {
    fnv1a64(bytes: Array(text.utf8))
  }

  /// 64-bit FNV-1a over raw bytes.
  public static func fnv1a64<Bytes: Sequence>(bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
  }

  /// A 16-character lowercase hex rendering of a 64-bit value, zero-padded.
  public static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }
}
