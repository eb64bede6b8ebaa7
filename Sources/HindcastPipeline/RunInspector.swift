import Foundation
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
  /// (`RunLedger`).
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
          guard FileManager.default.fileExists(atPath: path) else {
            throw HindcastError(.missingFile, "memory snapshot is missing", location: path)
          }
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
    if repair && !problems.isEmpty {
      let damaged = Set(problems.map(\.unit))
      try run.withManifest { manifest in
        for key in damaged { manifest.units.removeValue(forKey: key) }
      }
    }
    return (manifest.units.count, problems)
  }
}
