import Foundation
import HindcastStorage
import HindcastSupport

/// `manifest.json`: the single record of what in a run directory is complete. A shard, a policy
/// checkpoint or an eval counts as done only when the manifest lists it with its content hash; the
/// file is replaced atomically, and updates from concurrent workers are serialized by a lock file.
public struct RunManifest: Codable, Sendable, Equatable {
  public static let formatName = "hindcast-run"
  public static let currentVersion = 1

  /// One completed unit of work: a shard, a checkpoint or a summary file.
  public struct Unit: Codable, Sendable, Equatable {
    /// Path relative to the run directory.
    public var path: String
    /// SHA-256 (hex) of the file's bytes; for a checkpoint directory, of its `DONE` marker.
    public var sha256: String
    /// Number of records in a shard (0 for other files).
    public var records: Int
  }

  public var format: String = formatName
  public var version: Int = currentVersion
  /// SHA-256 of the frozen `pipeline.toml`, so a run is never continued under another spec.
  public var specSHA256: String
  /// Completed units by key (`r0000/rollout/00003`, `policy/round-0001`, `r0000/eval`).
  public var units: [String: Unit] = [:]
  /// Per round and stage, the number of shards the stage has (known once it starts).
  public var shardCounts: [String: Int] = [:]
  /// Policy checkpoint (`policy/round-NNNN`) to the content hash of the memory snapshot that was
  /// current when it was distilled (written by the memory stage of the round before).
  public var memorySnapshots: [String: String] = [:]
  /// Round (`rNNNN`) to the memory snapshot its rewrite stage builds teacher contexts from,
  /// recorded before the stage's first shard runs (`MemoryPinning`). Never changed afterwards.
  public var memoryPins: [String: MemoryPin] = [:]
  /// Rounds whose distilled policy the collapse guard replaced by the previous round's policy.
  public var rollbacks: [Int] = []
  /// Per round and stage run through a served policy, what served it (`Policy.servedBy`:
  /// backend, server, model, scoring route, contexts). Absent for runs on the embedded model.
  public var policies: [String: String]?
  /// The OpenBLAS kernels (`BLASCore.description`) of the first process that ran a stage here.
  /// Matrix products, and so every result, can differ on other kernels; a later process on other
  /// kernels says so (`PipelineRunner.checkBLASCore`). Absent in runs made before it was recorded.
  public var blasCore: String?

  /// The memory a round's rewrite stage reads: one snapshot of the run's memory store, or none
  /// (the run had no memory store yet when the round's rewrite stage started).
  public struct MemoryPin: Codable, Sendable, Equatable {
    /// Snapshot id (`snap-NNNNNN`); nil for "no memory".
    public var snapshot: String?
    /// The snapshot file relative to the run directory (`memory/snap-3.json.zst`).
    public var path: String?
    /// FNV-1a 64 (16 hex digits) of the snapshot's uncompressed contents.
    public var hash: String?

    public static let none = MemoryPin(snapshot: nil, path: nil, hash: nil)

    public init(snapshot: String?, path: String?, hash: String?) {
      self.snapshot = snapshot
      self.path = path
      self.hash = hash
    }
  }

  enum CodingKeys: String, CodingKey {
    case format, version, units, policies
    case specSHA256 = "spec_sha256"
    case shardCounts = "shard_counts"
    case memorySnapshots = "memory_snapshots"
    case memoryPins = "memory_pins"
    case rollbacks
    case blasCore = "blas_core"
  }

  public init(specSHA256: String) { self.specSHA256 = specSHA256 }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    format = try c.decode(String.self, forKey: .format)
    version = try c.decode(Int.self, forKey: .version)
    specSHA256 = try c.decode(String.self, forKey: .specSHA256)
    units = try c.decode([String: Unit].self, forKey: .units)
    shardCounts = try c.decode([String: Int].self, forKey: .shardCounts)
    memorySnapshots = try c.decodeIfPresent([String: String].self, forKey: .memorySnapshots) ?? [:]
    memoryPins = try c.decodeIfPresent([String: MemoryPin].self, forKey: .memoryPins) ?? [:]
    rollbacks = try c.decodeIfPresent([Int].self, forKey: .rollbacks) ?? []
    policies = try c.decodeIfPresent([String: String].self, forKey: .policies)
    blasCore = try c.decodeIfPresent(String.self, forKey: .blasCore)
  }

  public static func unitKey(round: Int, stage: StageName, shard: Int) -> String {
    "\(RunLayout.roundName(round))/\(stage.rawValue)/\(String(format: "%05d", shard))"
  }

  public static func stageKey(round: Int, stage: StageName) -> String {
    "\(RunLayout.roundName(round))/\(stage.rawValue)"
  }

  /// Reads and checks a manifest. A missing file returns nil; an unreadable, hand-broken or
  /// incompatible one throws an error naming the file.
  static func read(path: String) throws -> RunManifest? {
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let bytes = try AtomicFile.read(path)
    let manifest: RunManifest
    do {
      manifest = try JSONDecoder().decode(RunManifest.self, from: Data(bytes))
    } catch {
      throw HindcastError(
        .corruptFile, "the run manifest is not valid: \(JSONLines.describe(error))", location: path,
        hint: "restore it from a backup, or start a new run directory; never edit it by hand")
    }
    guard manifest.format == formatName else {
      throw HindcastError(
        .corruptFile, "not a Hindcast run manifest (format '\(manifest.format)')", location: path)
    }
    guard manifest.version == currentVersion else {
      throw HindcastError(
        .versionMismatch,
        "run directory has format version \(manifest.version); this hindcast reads version \(currentVersion)",
        location: path, hint: "use the hindcast release that created it, or start a new run")
    }
    try manifest.check(path: path)
    return manifest
  }

  /// The most shards a stage may have (a manifest claiming more is damaged).
  public static let maxShards = 1_000_000
  /// The most records a shard may hold (see `ShardFile.maxRecords`).
  public static let maxRecords = ShardFile.maxRecords

  /// Rejects values no writer produces: unit paths that leave the run directory, malformed
  /// hashes, negative or absurd counts. Every error names the manifest and the key.
  func check(path: String) throws {
    func damaged(_ what: String) -> HindcastError {
      HindcastError(
        .corruptFile, "the run manifest is damaged: \(what)", location: path,
        hint: "restore it from a backup, or start a new run directory; never edit it by hand")
    }
    for (key, unit) in units {
      guard Self.isInsideRun(unit.path) else {
        throw damaged("unit '\(key)' has path '\(unit.path)', which is not a plain path inside the run")
      }
      guard Self.isHexHash(unit.sha256) else { throw damaged("unit '\(key)' has a malformed sha256") }
      guard (0...Self.maxRecords).contains(unit.records) else {
        throw damaged("unit '\(key)' claims \(unit.records) records (allowed 0...\(Self.maxRecords))")
      }
    }
    for (key, count) in shardCounts where !(0...Self.maxShards).contains(count) {
      throw damaged("shard_counts['\(key)'] is \(count) (allowed 0...\(Self.maxShards))")
    }
    for (key, hash) in memorySnapshots where !Self.isHexHash(hash) {
      throw damaged("memory_snapshots['\(key)'] is '\(hash)', not a content hash")
    }
    for (key, pin) in memoryPins {
      guard (5...12).contains(key.utf8.count), key.hasPrefix("r"),
        key.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber })
      else { throw damaged("memory_pins has key '\(key)', not a round (rNNNN)") }
      switch (pin.snapshot, pin.path, pin.hash) {
      case (nil, nil, nil): continue
      case let (snapshot?, path?, hash?):
        guard snapshot.hasPrefix("snap-"), snapshot.utf8.count >= 11, snapshot.utf8.count <= 24,
          snapshot.dropFirst(5).allSatisfy({ $0.isASCII && $0.isNumber })
        else { throw damaged("memory_pins['\(key)'] names snapshot '\(snapshot)', not a snapshot id") }
        guard path.hasPrefix("memory/"), Self.isInsideRun(path) else {
          throw damaged("memory_pins['\(key)'] has path '\(path)', which is not a file of the run's memory")
        }
        guard Self.isHexHash(hash) else { throw damaged("memory_pins['\(key)'] has a malformed hash") }
      default:
        throw damaged("memory_pins['\(key)'] needs all of snapshot, path and hash, or none of them")
      }
    }
    if let round = rollbacks.first(where: { $0 < 0 }) { throw damaged("rollbacks holds round \(round)") }
  }

  /// Whether `relative` is a relative path of plain components (no `..`, `.`, empty component,
  /// leading `/` or control character), so that joining it to the run directory stays inside.
  public static func isInsideRun(_ relative: String) -> Bool {
    guard !relative.isEmpty, !relative.hasPrefix("/"), relative.utf8.count <= 4096 else { return false }
    guard !relative.unicodeScalars.contains(where: { $0.value < 32 || $0.value == 127 }) else { return false }
    return relative.split(separator: "/", omittingEmptySubsequences: false).allSatisfy {
      !$0.isEmpty && $0 != "." && $0 != ".."
    }
  }

  /// A content hash as the writers store it: lowercase hex, 64 digits (SHA-256) or 16 (the
  /// memory store's FNV-1a snapshot hash).
  static func isHexHash(_ text: String) -> Bool {
    (text.utf8.count == 64 || text.utf8.count == 16)
      && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
  }

  func write(path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(Array(try encoder.encode(self)) + [10], to: path)
  }
}
