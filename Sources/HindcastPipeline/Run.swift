import Foundation
import HindcastStorage
import HindcastSupport
import Logging

/// An open run directory: its frozen spec, its manifest and its metrics log.
///
/// Creating a run freezes the spec (`pipeline.toml`); reopening checks that the spec on disk is
/// unchanged, so results from two different specs are never mixed. Manifest updates take the
/// run's lock file, so several worker processes can share one run directory.
public final class Run {
  public let layout: RunLayout
  public let spec: PipelineSpec
  public let specText: String
  public let logger: Logger
  /// Which slice of each stage's shards this process works on (`--worker i --workers n`).
  public let worker: WorkerSlice
  /// Where the stages of this run report progress and notices; silent unless the caller (the
  /// CLI) sets one. Libraries never print.
  public var reporter: any ProgressReporter = SilentReporter()
  /// Whether this process only reads the run (`status`, `verify`): it then never creates, removes
  /// or rewrites a file, takes no lock, and `withManifest` refuses a change.
  public let readOnly: Bool

  /// Opens `directory`, creating it from `specPath` when it does not hold a run yet. When both
  /// exist, the spec given must be byte-identical to the frozen one. A `readOnly` open needs an
  /// existing run and writes nothing.
  public init(
    directory: String, specPath: String?, worker: WorkerSlice = .single, readOnly: Bool = false,
    logger: Logger
  ) throws {
    layout = RunLayout(root: directory)
    self.logger = logger
    self.worker = worker
    self.readOnly = readOnly
    let fm = FileManager.default
    let frozenExists = fm.fileExists(atPath: layout.spec)
    var text: String
    if frozenExists {
      text = String(decoding: try AtomicFile.read(layout.spec), as: UTF8.self)
      if let specPath {
        let given = String(decoding: try AtomicFile.read(specPath), as: UTF8.self)
        guard given == text else {
          throw HindcastError(
            .invalidConfig, "this run was started with a different spec", location: specPath,
            hint: "results of two specs must not mix: use a new --run directory, or restore \(layout.spec)")
        }
      }
    } else {
      guard let specPath, !readOnly else {
        throw HindcastError(
          .missingPrerequisite, "no run here (no pipeline.toml)", location: directory,
          hint: "start it with `hindcast run pipelines/NAME.toml --run \(directory)`")
      }
      text = String(decoding: try AtomicFile.read(specPath), as: UTF8.self)
      _ = try PipelineSpec.parse(text: text, source: specPath)
      try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
      try AtomicFile.write(text: text, to: layout.spec)
    }
    specText = text
    if !readOnly {
      // Leftovers of killed writers: a temporary manifest, half-written checkpoints, a round's
      // half-written summaries (`rNNNN/eval.json`, `gap.json`). Shard directories are cleaned by
      // their stage (`ShardedStage`).
      AtomicFile.removeStaleTemporaries(in: directory)
      AtomicFile.removeStaleTemporaries(in: layout.path("policy"))
      for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] where RunLayout.isRoundName(name) {
        AtomicFile.removeStaleTemporaries(in: layout.path(name))
      }
    }
    spec = try PipelineSpec.parse(text: text, source: layout.spec)
    let hash = SHA256.hex(Array(text.utf8))
    try withManifest { manifest in
      guard manifest.specSHA256 == hash else {
        throw HindcastError(
          .corruptFile, "manifest belongs to another spec (hash \(manifest.specSHA256.prefix(12)))",
          location: layout.manifest, hint: "pipeline.toml was edited after the run started; restore it")
      }
    }
  }

  /// Reads the manifest (creating an empty one for a new run), lets `body` change it, and writes
  /// it back atomically, all under the run's lock.
  /// A read-only run reads without the lock (the manifest is replaced atomically, so a read
  /// sees one whole version) and throws instead of writing a change.
  @discardableResult
  public func withManifest<R>(_ body: (inout RunManifest) throws -> R) throws -> R {
    let lock = try readOnly ? nil : DirectoryLock.acquire(path: layout.lock, wait: true)
    defer { lock?.release() }
    let hash = SHA256.hex(Array(specText.utf8))
    var manifest = try RunManifest.read(path: layout.manifest) ?? RunManifest(specSHA256: hash)
    let before = manifest
    let result = try body(&manifest)
    if readOnly {
      guard manifest == before else {
        throw HindcastError(
          .invalidInput, "a read-only command tried to change the run manifest", location: layout.manifest,
          hint: "this is a bug in hindcast; please report it")
      }
      return result
    }
    if manifest != before || !FileManager.default.fileExists(atPath: layout.manifest) {
      try manifest.write(path: layout.manifest)
    }
    return result
  }

  /// A snapshot of the manifest (read under the lock).
  public func manifest() throws -> RunManifest { try withManifest { $0 } }

  /// The seed for one unit of work, derived from the run seed, round, stage and shard.
  public func seed(round: Int, stage: StageName, shard: Int) -> UInt64 {
    SeedDerivation.derive(spec.seed, [UInt64(round), stage.seedLabel, UInt64(shard)])
  }

  /// Appends one event to `metrics.jsonl` (budget ledger and timings).
  public func record(_ event: MetricsEvent) throws {
    try MetricsLog(path: layout.metrics).append(event)
  }
}

/// Which shards this process owns: shard `s` belongs to worker `s % count`.
public struct WorkerSlice: Sendable, Equatable {
  public let index: Int
  public let count: Int
  public static let single = WorkerSlice(index: 0, count: 1)

  public init(index: Int, count: Int) {
    self.index = index
    self.count = count
  }

  public func owns(_ shard: Int) -> Bool { shard % count == index }
}
