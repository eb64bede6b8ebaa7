import Foundation
import HindcastMemory
import HindcastStorage
import HindcastSupport
import HindcastTraining

/// Read-only views of a run for `status` and `verify`.
public struct RunInspector {
  public let run: Run

  public init(run: Run) { self.run = run }

  /// One stage of one round: shards done out of the known total.
  public struct StageStatus: Sendable {
    public var round: Int
    public var stage: StageName
    public var done: Int
    public var total: Int?
  }

  /// Budget totals from `metrics.jsonl`, per stage name: the committed units only, each once
  /// (`RunLedger`). Every event is range-checked (so sums cannot overflow); torn lines a crash
  /// left are not counted, see `tornMetricsLines()`.
  public func budget() throws -> [String: MetricsEvent] {
    var totals: [String: MetricsEvent] = [:]
    for event in try RunLedger.committedEvents(layout: run.layout).events {
      var total = totals[event.stage] ?? MetricsEvent(stage: event.stage, round: -1)
      total.environmentCalls += event.environmentCalls
      total.generatedTokens += event.generatedTokens
      total.teacherScoredTokens += event.teacherScoredTokens
      total.trainingTokens += event.trainingTokens
      total.modelTokens += event.modelTokens
      total.records += event.records
      total.wallSeconds += event.wallSeconds
      totals[event.stage] = total
    }
    return totals
  }

  /// Lines of `metrics.jsonl` a crash cut short: their events are missing from `budget()`.
  public func tornMetricsLines() throws -> [Int] {
    guard FileManager.default.fileExists(atPath: run.layout.metrics) else { return [] }
    return try MetricsLog.read(JSONValue.self, from: run.layout.metrics).skipped.map(\.line)
  }

  public func stages() throws -> [StageStatus] {
    let manifest = try run.manifest()
    var result: [StageStatus] = []
    for round in 0...run.spec.rounds {
      for stage in StageName.allCases where stage != .memory && stage != .distill {
        let total = manifest.shardCounts[RunManifest.stageKey(round: round, stage: stage)]
        let prefix = RunManifest.stageKey(round: round, stage: stage) + "/"
        let done = manifest.units.keys.filter { $0.hasPrefix(prefix) }.count
        if total != nil || done > 0 {
          result.append(StageStatus(round: round, stage: stage, done: done, total: total))
        }
      }
      let policyDone = manifest.units[run.layout.policyName(round: round + 1)] != nil
      if policyDone { result.append(StageStatus(round: round, stage: .distill, done: 1, total: 1)) }
    }
    return result
  }

  /// Checks a memory snapshot file against the content hash the manifest recorded for it
  /// (FNV-1a of the decompressed snapshot, as the memory manifest stores it).
  static func verifyMemorySnapshot(path: String, hash: String) throws {
    guard FileManager.default.fileExists(atPath: path) else {
      throw HindcastError(.missingFile, "memory snapshot is missing", location: path)
    }
    let text = try Zstd.decompress(AtomicFile.read(path), what: path, limit: 1 << 30)
    guard StableHash.hex(StableHash.fnv1a64(bytes: text)) == hash else {
      throw HindcastError(.corruptFile, "memory snapshot does not match the manifest hash", location: path)
    }
  }

  /// The errors `MemoryStore.verify` finds in the run's memory (segments against the memory
  /// manifest, snapshots, the folded state), opened read-only.
  func memoryProblems() -> [Problem] {
    let directory = run.layout.memory
    guard FileManager.default.fileExists(atPath: directory + "/manifest.json") else {
      let stages =
        (try? run.manifest().units.keys.filter { $0.hasSuffix("/" + StageName.memory.rawValue) }) ?? []
      guard let first = stages.min() else { return [] }
      return [
        Problem(
          unit: first,
          message: "\(directory)/manifest.json is missing although the run manifest lists memory snapshots")
      ]
    }
    do {
      let store = try MemoryStore.open(at: directory, options: .readOnly(decodeThreads: 1))
      return store.verify().findings.filter { $0.severity == .error }.map {
        Problem(unit: "memory", message: "\(directory)/\($0.subject): \($0.message)")
      }
    } catch let error as HindcastError {
      return [Problem(unit: "memory", message: error.description)]
    } catch {
      return [Problem(unit: "memory", message: "\(directory): \(error)")]
    }
  }

  /// Warnings of the memory store's verification (for example a torn tail of the live segment
  /// that the next read-write open cuts off), as `subject: message` lines.
  public func memoryWarnings() -> [String] {
    let directory = run.layout.memory
    guard FileManager.default.fileExists(atPath: directory + "/manifest.json"),
      let store = try? MemoryStore.open(at: directory, options: .readOnly(decodeThreads: 1))
    else { return [] }
    return store.verify().findings.filter { $0.severity == .warning }.map {
      "\(directory)/\($0.subject): \($0.message)"
    }
  }

  /// A problem `verify` found.
  public struct Problem: Sendable, CustomStringConvertible {
    public var unit: String
    public var message: String
    public var description: String { "\(unit): \(message)" }
  }

  /// Checks every unit the manifest lists (hashes, headers, checkpoints). With `repair`, damaged
  /// units are removed from the manifest so that rerunning their stage recomputes them.
  public func verify(repair: Bool) throws -> (checked: Int, problems: [Problem]) {
    let manifest = try run.manifest()
    var problems: [Problem] = []
    for (key, unit) in manifest.units.sorted(by: { $0.key < $1.key }) {
      let path = run.layout.path(unit.path)
      do {
        if key.hasPrefix("policy/") {
          let marker = try AtomicFile.read(path + "/" + CheckpointIO.FileName.done)
          guard SHA256.hex(marker) == unit.sha256 else {
            throw HindcastError(.corruptFile, "DONE marker does not match the manifest", location: path)
          }
          _ = try CheckpointIO.read(path)
        } else if key.hasSuffix("/" + StageName.memory.rawValue) {
          try Self.verifyMemorySnapshot(path: path, hash: unit.sha256)
        } else if unit.path.hasSuffix(".json") {
          guard SHA256.hex(try AtomicFile.read(path)) == unit.sha256 else {
            throw HindcastError(.corruptFile, "content does not match the manifest hash", location: path)
          }
        } else {
          let kind = key.split(separator: "/").dropFirst().first.map(String.init) ?? ""
          try ShardFile.verify(path: path, kind: kind, expectedSHA256: unit.sha256)
        }
      } catch let error as HindcastError {
        problems.append(Problem(unit: key, message: error.description))
      }
    }
    // A pinned snapshot is what a round's rewrite stage reads; repair cannot recreate it (a new
    // pin could hold other notes), so a damaged one is reported and left for a backup.
    for (round, pin) in manifest.memoryPins.sorted(by: { $0.key < $1.key }) {
      guard let path = pin.path, let hash = pin.hash else { continue }
      do {
        try Self.verifyMemorySnapshot(path: run.layout.path(path), hash: hash)
      } catch let error as HindcastError {
        problems.append(Problem(unit: "memory_pins/" + round, message: error.description))
      }
    }
    problems += memoryProblems()
    if repair && !problems.isEmpty {
      let damaged = Set(problems.map(\.unit))
      try run.withManifest { manifest in
        for key in damaged { manifest.units.removeValue(forKey: key) }
      }
    }
    return (manifest.units.count, problems)
  }
}
