import HindcastSupport

/// Whole-shard convenience functions. A shard is a zstd-compressed JSON-lines file whose first
/// line is a `ShardHeader`; see docs/formats.md, section "Shards".
public enum ShardFile {
  /// The file name suffix of shards.
  public static let fileExtension = "jsonl.zst"
  /// The most bytes a shard may hold once decompressed; readers refuse larger ones before
  /// holding them in memory, writers refuse to write them.
  public static let maxBytes = 256 << 20
  /// The most bytes one record line may have.
  public static let maxRecordBytes = 16 << 20
  /// The most records a shard may hold.
  public static let maxRecords = 10_000_000

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
