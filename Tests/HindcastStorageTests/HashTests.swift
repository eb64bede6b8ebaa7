import Foundation
import HindcastStorage
import Testing

@Suite(.temporaryFiles) struct SHA256Tests {
  @Test func fipsVectors() {
    #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(
      SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    let message448 = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
    #expect(SHA256.hex(message448) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    let message896 = Array(
      ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        + "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu").utf8)
    #expect(SHA256.hex(message896) == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
  }

  @Test func millionAsIncrementally() {
    let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)) == expected)
    // Pieces of 1000 bytes do not align with 64-byte blocks, exercising the pending buffer.
    var hasher = SHA256()
    let piece = [UInt8](repeating: 0x61, count: 1000)
    for _ in 0..<1000 { hasher.update(piece) }
    #expect(SHA256.hexString(hasher.finalize()) == expected)
  }

  @Test func everyPaddingLengthMatchesReference() {
    // Reference: Python hashlib over the same messages (lengths 0..<200 cover every padding
    // case), digests hex-encoded, concatenated and hashed again.
    var combined = SHA256()
    for n in 0..<200 {
      let message = (0..<n).map { UInt8((($0 * 7) + n) % 251) }
      combined.update(Array(SHA256.hex(message).utf8))
    }
    #expect(
      SHA256.hexString(combined.finalize())
        == "cf88000364b5df373455d1fe17e2041eda811f8bce179cf2970ef04ab38d1d15")
  }

  @Test func incrementalEqualsOneShotForAnySplit() {
    let message = (0..<300).map { UInt8(($0 * 31) & 0xFF) }
    let oneShot = SHA256.hash(message)
    for split in [0, 1, 55, 56, 63, 64, 65, 128, 299, 300] {
      var hasher = SHA256()
      hasher.update(Array(message[..<split]))
      let middle = hasher.finalize()  // finalize does not disturb the running state
      hasher.update(Array(message[split...]))
      #expect(hasher.finalize() == oneShot, "split at \(split)")
      #expect(middle == SHA256.hash(Array(message[..<split])))
    }
    #expect(oneShot.count == 32)
  }

  @Test func fileHashMatchesBufferHash() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/blob.bin"
    // Longer than the 1 MiB read size, so the file is hashed in several pieces.
    let bytes = (0..<1_500_000).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
    try AtomicFile.write(bytes, to: path)
    #expect(try SHA256.hexOfFile(path) == SHA256.hex(bytes))
    expectHindcastError(.missingFile, mentioning: [directory + "/nope"]) {
      _ = try SHA256.hexOfFile(directory + "/nope")
    }
  }

  @Test func hexStringRendersLowercasePairs() {
    #expect(SHA256.hexString([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
  }
}

@Suite struct CRC32CTests {
  @Test func knownVectors() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([]) == 0)
    // RFC 3720 (iSCSI) appendix B.4.
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
  }

  @Test func incrementalEqualsOneShotAndMatchesBitwiseReference() {
    let message = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 13) }
    // Bit-at-a-time reference, the definition of the checksum.
    var reference: UInt32 = 0xFFFF_FFFF
    for byte in message {
      reference ^= UInt32(byte)
      for _ in 0..<8 { reference = (reference & 1) != 0 ? (reference >> 1) ^ 0x82F6_3B78 : reference >> 1 }
    }
    reference ^= 0xFFFF_FFFF
    #expect(CRC32C.checksum(message) == reference)
    for split in [0, 1, 7, 8, 9, 500, 999] {
      var crc = CRC32C()
      crc.update(Array(message[..<split]))
      crc.update(Array(message[split...]))
      #expect(crc.value == reference, "split at \(split)")
    }
  }
}
