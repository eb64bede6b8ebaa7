import Foundation
import HindcastStorage
import HindcastSupport

/// `manifest.json`: the list of files that make up a store. Replaced atomically
/// (`AtomicFile.write`) whenever a segment, dictionary or snapshot is added or removed; never
/// touched by ordinary appends.
struct MemoryManifest: Codable, Hashable {
  static let formatName = "hindcast-memory"
  static let currentVersion = 1

  struct Segment: Codable, Hashable {
    /// The segment's number: file `seg-NNNNNN.log`.
    var number: Int
    /// The dictionary its frames may use (0 = none). Each segment uses at most one.
    var dictionary: Int
    /// The index of the segment's first event in the whole history.
    var firstEvent: Int
  }

  struct Dictionary: Codable, Hashable {
    var id: Int
    var bytes: Int
    /// Records it was trained on.
    var trainedOn: Int
    /// FNV-1a 64 of the file, 16 hex digits.
    var hash: String
  }

  struct Snapshot: Codable, Hashable {
    var number: Int
    /// Events folded into it.
    var eventCount: Int
    var notes: Int
    /// FNV-1a 64 of the uncompressed JSON lines, 16 hex digits.
    var hash: String
    var bytes: Int
    var label: String?
  }

  var format = formatName
  var version = currentVersion
  var settings: MemorySettings
  /// Live segments in log order; the last is the one appended to.
  var segments: [Segment]
  var dictionaries: [Dictionary] = []
  /// Every snapshot made, oldest first (kept: checkpoints refer to them).
  var snapshots: [Snapshot] = []
  /// The snapshot the live segments continue, if any.
  var baseSnapshot: Int?
  /// The dictionary new segments use (0 = none).
  var currentDictionary = 0

  static func segmentName(_ number: Int) -> String { "seg-" + padded(number) + ".log" }
  static func dictionaryName(_ id: Int) -> String { "dict-\(id).zdict" }
  static func snapshotName(_ number: Int) -> String { "snap-\(number).json.zst" }
  static let fileName = "manifest.json"
  static let lockName = "LOCK"

  static func padded(_ number: Int) -> String {
    let digits = String(number)
    return digits.count >= 6 ? digits : String(repeating: "0", count: 6 - digits.count) + digits
  }

  static func read(from directory: String) throws -> MemoryManifest {
    let path = directory + "/" + fileName
    let bytes = try AtomicFile.read(path)
    let manifest: MemoryManifest
    do {
      manifest = try JSONDecoder().decode(MemoryManifest.self, from: Data(bytes))
    } catch {
      throw HindcastError(
        .corruptFile, "memory manifest is not readable: \(JSONLines.describe(error))", location: path,
        hint: "restore manifest.json from a backup; the segments and snapshots are intact")
    }
    guard manifest.format == formatName else {
      throw HindcastError(.corruptFile, "not a memory manifest (format '\(manifest.format)')", location: path)
    }
    guard manifest.version == currentVersion else {
      throw HindcastError(
        .versionMismatch, "memory format version \(manifest.version), this build reads \(currentVersion)",
        location: path, hint: "use the hindcast version that wrote this store")
    }
    try manifest.settings.validate(location: path)
    return manifest
  }

  func write(to directory: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(self)
    try AtomicFile.write([UInt8](data) + [0x0A], to: directory + "/" + Self.fileName)
  }
}
