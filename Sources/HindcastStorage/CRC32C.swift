/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum used by iSCSI, ext4 and
/// many log formats; computed slice-by-8 in software.
///
/// Conventions match the standard definition: initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, so
/// `CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283`.
///
/// Incremental: `var crc = CRC32C(); crc.update(a); crc.update(b); crc.value` equals
/// `CRC32C.checksum(a + b)`. A value type; each instance is owned by one caller.
public struct CRC32C: Sendable {
  /// The reflected Castagnoli polynomial.
  public static let polynomial: UInt32 = 0x82F6_3B78

  /// The running register, before the final XOR.
  private var register: UInt32 = 0xFFFF_FFFF

  public init() {}

  /// The checksum of all bytes fed so far.
  public var value: UInt32 { register ^ 0xFFFF_FFFF }

  /// Feeds more bytes.
  public mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// Feeds more bytes from a raw buffer.
  public mutating func update(_ buffer: UnsafeRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    var crc = register
    let count = buffer.count
    Self.tables.withUnsafeBufferPointer { table in
      var offset = 0
      // Eight bytes per step: one lookup in each of the eight tables.
      while offset + 8 <= count {
        let low = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) ^ crc
        let high = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        crc =
          table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
          ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
          ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
          ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
        offset += 8
      }
      while offset < count {
        let byte = base.load(fromByteOffset: offset, as: UInt8.self)
        crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        offset += 1
      }
    }
    register = crc
  }

  /// The CRC-32C of the bytes in `buffer`.
  public static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
    var crc = CRC32C()
    crc.update(buffer)
    return crc.value
  }

  /// The CRC-32C of `bytes`.
  public static func checksum(_ bytes: [UInt8]) -> UInt32 {
    var crc = CRC32C()
    crc.update(bytes)
    return crc.value
  }

  /// Eight 256-entry tables, concatenated: table 0 is the classic byte-at-a-time table, and
  /// table k advances a byte that sits k positions further from the end of an 8-byte step.
  private static let tables: [UInt32] = {
    var tables = [UInt32](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
      var crc = UInt32(byte)
      for _ in 0..<8 {
        crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1
      }
      tables[byte] = crc
    }
    for slice in 1..<8 {
      for byte in 0..<256 {
        let previous = tables[(slice - 1) * 256 + byte]
        tables[slice * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
      }
    }
    return tables
  }()
}
