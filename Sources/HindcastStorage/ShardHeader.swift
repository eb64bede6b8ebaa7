import Foundation
import HindcastSupport

/// The first line of every shard: `{"hindcast_shard":1,"kind":"rollout","count":N,...}`.
///
/// `hindcast_shard` is the format version (always `formatVersion` when written), `kind` names the
/// record type, `count` is the number of record lines that follow. Any further top-level fields
/// are free-form `metadata` (for example `round`, `stage`, `shard`), written with sorted keys
/// after the three fixed fields. See docs/formats.md, section "Shards".
public struct ShardHeader: Sendable, Equatable {
  /// The shard format version this code writes and the only one it reads.
  public static let formatVersion = 1
  /// Field names the format owns; metadata may not use them.
  public static let reservedFields: Set<String> = ["hindcast_shard", "kind", "count"]

  /// The record kind, for example "rollout". Non-empty.
  public var kind: String
  /// Extra top-level header fields. Keys must not be one of `reservedFields`.
  public var metadata: [String: JSONValue]
  /// The number of records in the shard. Filled in by the writer; checked by the reader.
  public internal(set) var count: Int

  public init(kind: String, metadata: [String: JSONValue] = [:]) {
    self.kind = kind
    self.metadata = metadata
    self.count = 0
  }

  /// Throws `.invalidInput` if the kind is empty or metadata uses a reserved field name.
  func validate(path: String) throws {
    guard !kind.isEmpty else {
      throw HindcastError(
        .invalidInput, "shard kind is empty", location: path,
        hint: "pass the record kind, for example \"rollout\"")
    }
    let clashes = metadata.keys.filter { Self.reservedFields.contains($0) }.sorted()
    guard clashes.isEmpty else {
      throw HindcastError(
        .invalidInput, "shard metadata uses reserved field(s) \(clashes.joined(separator: ", "))",
        location: path,
        hint: "rename the metadata field; hindcast_shard, kind and count are set by the writer")
    }
  }

  /// The header line (without newline) for `count` records: fixed fields first, then metadata
  /// with sorted keys. Same header and count give the same bytes.
  func encodedLine(count: Int, path: String) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var line = Array("{\"hindcast_shard\":\(Self.formatVersion),\"kind\":".utf8)
    do {
      line += try encoder.encode(kind)
      line += Array(",\"count\":\(count)".utf8)
      for key in metadata.keys.sorted() {
        line += Array(",".utf8)
        line += try encoder.encode(key)
        line += Array(":".utf8)
        line += try encoder.encode(metadata[key] ?? .null)
      }
    } catch {
      throw HindcastError(
        .invalidInput, "shard header cannot be encoded as JSON: \(error)", location: path,
        hint: "header metadata must not contain NaN or infinite numbers")
    }
    line += Array("}".utf8)
    return line
  }

  /// Parses and checks a header line read from `path`.
  static func parse(_ line: ArraySlice<UInt8>, path: String) throws -> ShardHeader {
    guard case .object(var fields) = try? JSONValue(parsing: line) else {
      throw HindcastError(
        .corruptFile, "the first line is not a JSON object, so this is not a readable shard",
        location: HindcastError.at(path, line: 1),
        hint: "the shard was damaged; delete it and rerun the stage")
    }
    guard let versionValue = fields.removeValue(forKey: "hindcast_shard") else {
      throw HindcastError(
        .versionMismatch, "not a hindcast shard: the header has no 'hindcast_shard' version field",
        location: path, hint: "shards are written by hindcast stages; rerun the stage that makes this file")
    }
    guard versionValue.intValue == formatVersion else {
      throw HindcastError(
        .versionMismatch,
        "shard format version \(versionValue) is not supported (this hindcast reads version \(formatVersion))",
        location: path, hint: "rerun the stage with this hindcast version, or use the hindcast that wrote it")
    }
    guard let kind = fields.removeValue(forKey: "kind")?.stringValue, !kind.isEmpty else {
      throw HindcastError(
        .corruptFile, "shard header lacks a non-empty string 'kind' field", location: path,
        hint: "the shard was modified or damaged; delete it and rerun the stage")
    }
    guard let count = fields.removeValue(forKey: "count")?.intValue,
      (0...ShardFile.maxRecords).contains(count)
    else {
      throw HindcastError(
        .corruptFile, "shard header lacks an integer 'count' field in 0...\(ShardFile.maxRecords)",
        location: path,
        hint: "the shard was modified or damaged; delete it and rerun the stage")
    }
    var header = ShardHeader(kind: kind, metadata: fields)
    header.count = count
    return header
  }
}

/// What a finished shard is: where, how many records, how big, and its content hash. Stored in
/// the run manifest so a later stage can verify the shard before trusting it.
public struct ShardInfo: Codable, Sendable, Equatable {
  /// The path the shard was written to or read from, as given.
  public var path: String
  /// Number of records (not counting the header line).
  public var recordCount: Int
  /// Size of the compressed file in bytes.
  public var byteCount: Int
  /// SHA-256 of the compressed file bytes, 64 lowercase hex characters (`sha256sum` agrees).
  public var sha256: String

  public init(path: String, recordCount: Int, byteCount: Int, sha256: String) {
    self.path = path
    self.recordCount = recordCount
    self.byteCount = byteCount
    self.sha256 = sha256
  }

  enum CodingKeys: String, CodingKey {
    case path
    case recordCount = "record_count"
    case byteCount = "byte_count"
    case sha256
  }
}

/// A record type that always lives in shards of one kind, so callers need not repeat the kind
/// string: `ShardFile.write(rollouts, to: path)` and `ShardFile.read(Rollout.self, from: path, ...)`.
public protocol ShardRecord: Codable {
  /// The `kind` written in and required of the shard header, for example "rollout".
  static var shardKind: String { get }
}
