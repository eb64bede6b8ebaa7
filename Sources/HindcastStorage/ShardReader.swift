import Foundation
import HindcastSupport

/// An opened, fully checked shard: hash (when expected), zstd frame and checksum, header version,
/// and record count are verified in `init`; records are decoded on request.
///
/// Either everything checks out or `init` throws; a reader never exposes part of a damaged shard.
/// Errors name the path (and `path#record N` for a record, 1-based), with a hint.
public struct ShardReader: Sendable {
  public let path: String
  public let header: ShardHeader
  public let info: ShardInfo
  /// The record lines, in order (the header line excluded).
  private let recordLines: [JSONLines.Line]

  /// Reads and checks the shard at `path`. When `expectedSHA256` is given (hex, any case) the
  /// file bytes must hash to it. Throws `.missingFile`, `.corruptFile` (hash mismatch, truncated
  /// or damaged compression, count mismatch), or `.versionMismatch` (no or unknown header version).
  public init(path: String, expectedSHA256: String?) throws {
    try self.init(compressed: AtomicFile.read(path), path: path, expectedSHA256: expectedSHA256)
  }

  /// Checks the bytes of a shard file already in memory; `path` names it in errors.
  public init(compressed: [UInt8], path: String, expectedSHA256: String?) throws {
    let actualSHA256 = SHA256.hex(compressed)
    if let expected = expectedSHA256, expected.lowercased() != actualSHA256 {
      throw HindcastError(
        .corruptFile, "shard SHA-256 is \(actualSHA256) but the manifest expects \(expected.lowercased())",
        location: path, hint: "the shard was modified or damaged; delete it and rerun the stage")
    }
    let text: [UInt8]
    do {
      text = try Zstd.decompress(compressed, what: path, limit: ShardFile.maxBytes)
    } catch var error as HindcastError {
      error.code = .corruptFile
      error.location = path
      error.message = "shard is not a complete zstd file: " + error.message
      error.hint = "the shard is truncated or damaged; delete it and rerun the stage"
      throw error
    }
    try self.init(text: text, path: path, byteCount: compressed.count, sha256: actualSHA256)
  }

  /// Checks decompressed shard text (header line and record lines); `path` names it in errors.
  /// `byteCount` and `sha256` describe the compressed file, for `info`.
  public init(text: [UInt8], path: String, byteCount: Int = 0, sha256: String = "") throws {
    guard text.count <= ShardFile.maxBytes else {
      throw HindcastError(
        .corruptFile, "shard text has \(text.count) bytes; at most \(ShardFile.maxBytes) are allowed",
        location: path, hint: "the shard was modified or damaged; delete it and rerun the stage")
    }
    let lines = JSONLines.split(text)
    guard let first = lines.first else {
      throw HindcastError(
        .corruptFile, "shard is empty (no header line)", location: path,
        hint: "the shard was modified or damaged; delete it and rerun the stage")
    }
    if let long = lines.first(where: { $0.bytes.count > ShardFile.maxRecordBytes }) {
      throw HindcastError(
        .corruptFile,
        "line \(long.number) of the decompressed shard has \(long.bytes.count) bytes;"
          + " at most \(ShardFile.maxRecordBytes) are allowed per record",
        location: path, hint: "the shard was modified or damaged; delete it and rerun the stage")
    }
    let header = try ShardHeader.parse(first.bytes, path: path)
    guard lines.count - 1 == header.count else {
      throw HindcastError(
        .corruptFile, "shard header says \(header.count) records but the file holds \(lines.count - 1)",
        location: path, hint: "the shard was modified or damaged; delete it and rerun the stage")
    }
    self.path = path
    self.header = header
    self.recordLines = Array(lines.dropFirst())
    self.info = ShardInfo(path: path, recordCount: header.count, byteCount: byteCount, sha256: sha256)
  }

  /// Throws `.invalidInput` unless the header kind is `kind`.
  public func requireKind(_ kind: String) throws {
    guard header.kind == kind else {
      throw HindcastError(
        .invalidInput, "shard holds '\(header.kind)' records, expected '\(kind)'", location: path,
        hint: "check the path: each stage directory holds shards of one record kind")
    }
  }

  /// Checks the kind, then decodes every record as `T`. A record that does not decode fails the
  /// whole read with `.invalidInput` at `path#record N` naming the field; nothing partial is
  /// returned.
  public func records<T: Decodable>(_ type: T.Type, kind: String) throws -> [T] {
    try requireKind(kind)
    let decoder = JSONDecoder()
    var records: [T] = []
    records.reserveCapacity(recordLines.count)
    for (index, line) in recordLines.enumerated() {
      do {
        records.append(try decoder.decode(T.self, from: Data(line.bytes)))
      } catch {
        throw HindcastError(
          .invalidInput,
          "malformed \(kind) record (line \(line.number) of the decompressed shard): \(JSONLines.describe(error))",
          location: "\(path)#record \(index + 1)",
          hint: "the record does not match what this hindcast expects; rerun the stage that wrote the shard")
      }
    }
    return records
  }
}
