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
    let compressed = try AtomicFile.read(path)
    let actualSHA256 = SHA256.hex(compressed)
    if let expected = expectedSHA256, expected.lowercased() != actualSHA256 {
      throw HindcastError(
        .corruptFile, "shard SHA-256 is \(actualSHA256) but the manifest expects \(expected.lowercased())",
        location: path, hint: "the shard was modified or damaged; delete it and rerun the stage")
    }
    let text: [UInt8]
    do {
      text = try Zstd.decompress(compressed, what: path)
    } catch var error as HindcastError {
      error.code = .corruptFile
      error.location = path
      error.message = "shard is not a complete zstd file: " + error.message
      error.hint = "the shard is truncated or damaged; delete it and rerun the stage"
      throw error
    }
    let lines = JSONLines.split(text)
    guard let first = lines.first else {
      throw HindcastError(
        .corruptFile, "shard is empty (no header line)", location: path,
        hint: "the shard was modified or damaged; delete it and rerun the stage")
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
    self.info = ShardInfo(
      path: path, recordCount: header.count, byteCount: compressed.count, sha256: actualSHA256)
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

/// Whole-shard convenience functions. A shard is a zstd-compressed JSON-lines file whose first
/// line is a `ShardHeader`; see docs/formats.md, section "Shards".
public enum ShardFile {
  /// The file name suffix of shards.
  public static let fileExtension = "jsonl.zst"

  /// The conventional file name of shard `index`: `shard-00000.jsonl.zst`.
  public static func fileName(index: Int) -> String {
    let digits = String(index)
    return "shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + "." + fileExtension
  }

  /// Writes `records` as one shard at `path` (atomically; parent directories are created) and
  /// returns its info. The header's `count` is set to `records.count`.
  @discardableResult
  public static func write<T: Encodable>(_ records: [T], to path: String, header: ShardHeader) throws
    -> ShardInfo
  {
    var writer = try ShardWriter(path: path, header: header)
    try writer.append(contentsOf: records)
    return try writer.finish()
  }

  /// Reads and fully checks the shard at `path`, then decodes all records as `T`. See
  /// `ShardReader.init(path:expectedSHA256:)` and `ShardReader.records(_:kind:)` for the errors.
  public static func read<T: Decodable>(
    _ type: T.Type, from path: String, kind: String, expectedSHA256: String?
  ) throws -> [T] {
    try ShardReader(path: path, expectedSHA256: expectedSHA256).records(T.self, kind: kind)
  }

  /// Checks a shard (hash, compression, header, kind, count) without decoding its records, for
  /// example before trusting a shard a previous run recorded as complete.
  @discardableResult
  public static func verify(path: String, kind: String, expectedSHA256: String?) throws -> ShardInfo {
    let reader = try ShardReader(path: path, expectedSHA256: expectedSHA256)
    try reader.requireKind(kind)
    return reader.info
  }

  /// Writes records of a `ShardRecord` type; the header kind is `T.shardKind`.
  @discardableResult
  public static func write<T: ShardRecord>(
    _ records: [T], to path: String, metadata: [String: JSONValue] = [:]
  ) throws -> ShardInfo {
    try write(records, to: path, header: ShardHeader(kind: T.shardKind, metadata: metadata))
  }

  /// Reads records of a `ShardRecord` type; the shard's kind must be `T.shardKind`.
  public static func read<T: ShardRecord>(_ type: T.Type, from path: String, expectedSHA256: String?)
    throws -> [T]
  {
    try read(T.self, from: path, kind: T.shardKind, expectedSHA256: expectedSHA256)
  }
}
