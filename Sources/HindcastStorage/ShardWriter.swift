import Foundation
import HindcastSupport

/// Builds one shard in memory, record by record, and writes it atomically.
///
/// Each `append` encodes the record at once (one JSON line, keys sorted), so the writer holds
/// bytes, not records. `finish()` prepends the header line, compresses everything as one zstd
/// frame with a content checksum, and writes the file with `AtomicFile.write`: the shard appears
/// complete or not at all. Same header and records give a byte-identical file (with the same zstd
/// library version and level).
///
/// Not thread-safe; one writer per shard.
public struct ShardWriter {
  /// Where `finish()` writes.
  public let path: String
  public let header: ShardHeader
  /// Records appended so far.
  public private(set) var count = 0
  /// The record lines, each ending in a newline.
  private var body: [UInt8] = []
  private let encoder: JSONEncoder

  /// Starts a shard for `path`. Throws `.invalidInput` if the header kind is empty or its
  /// metadata uses a reserved field name.
  public init(path: String, header: ShardHeader) throws {
    try header.validate(path: path)
    self.path = path
    self.header = header
    encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
  }

  /// Encodes one record as the next line. Throws `.invalidInput` naming `path#record N` (1-based)
  /// if it cannot be encoded (for example a NaN or infinite number).
  public mutating func append<T: Encodable>(_ record: T) throws {
    let number = count + 1
    let data: Data
    do {
      data = try encoder.encode(record)
    } catch {
      throw HindcastError(
        .invalidInput, "record cannot be encoded as JSON: \(error)", location: "\(path)#record \(number)",
        hint: "JSON has no NaN or infinity; check the values the stage produced")
    }
    // JSONEncoder escapes newlines inside strings and never pretty-prints here, so a record is
    // exactly one line; this guards the framing anyway.
    guard !data.contains(0x0A) else {
      throw HindcastError(
        .internalInvariant, "encoded record contains a raw newline", location: "\(path)#record \(number)")
    }
    guard data.count <= ShardFile.maxRecordBytes, body.count + data.count < ShardFile.maxBytes - 4096 else {
      throw HindcastError(
        .invalidInput,
        "record has \(data.count) bytes (the shard \(body.count) so far); at most \(ShardFile.maxRecordBytes)"
          + " per record and \(ShardFile.maxBytes) per shard are allowed",
        location: "\(path)#record \(number)", hint: "use smaller shards (tasks.tasks_per_shard)")
    }
    body.append(contentsOf: data)
    body.append(0x0A)
    count = number
  }

  /// Appends every record in order.
  public mutating func append<T: Encodable>(contentsOf records: [T]) throws {
    for record in records { try append(record) }
  }

  /// The uncompressed shard text: header line plus record lines, each ending in a newline.
  public func uncompressedBytes() throws -> [UInt8] {
    var text = try header.encodedLine(count: count, path: path)
    text.append(0x0A)
    text.append(contentsOf: body)
    return text
  }

  /// Compresses and atomically writes the shard, returning its size and SHA-256.
  public func finish() throws -> ShardInfo {
    let compressed = try Zstd.compress(uncompressedBytes())
    try AtomicFile.write(compressed, to: path)
    return ShardInfo(
      path: path, recordCount: count, byteCount: compressed.count, sha256: SHA256.hex(compressed))
  }
}
