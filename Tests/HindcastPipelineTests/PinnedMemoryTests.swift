import Foundation
import HindcastModel
import Logging
import Testing

@testable import HindcastPipeline

/// Each round's rewrite stage reads the memory snapshot pinned for it (`MemoryPinning`):
/// maintenance between rounds (`memory retire`, `compact`) changes nothing a repaired or rerun
/// round reads, while a round pinned after the maintenance sees it.
@Suite(.serialized) struct PinnedMemoryTests {
  /// Bytes of every round-1 rewrite shard, by file name.
  static func rewriteShards(_ runner: BinaryRunner, _ run: String) -> [String: Data] {
    var shards: [String: Data] = [:]
    for file in runner.files(under: run + "/r0001/rewrite") {
      shards[file] = runner.contents(run + "/r0001/rewrite/" + file)
    }
    return shards
  }

  /// Forgets round 1's rewrite units (and, with `pin`, its memory pin), as a repair of every
  /// shard would, so that the next `rewrite --round 1` recomputes them.
  static func forgetRoundOneRewrites(_ run: Run, pin: Bool) throws {
    try run.withManifest { manifest in
      for key in manifest.units.keys where key.hasPrefix("r0001/rewrite/") {
        manifest.units.removeValue(forKey: key)
      }
      if pin { manifest.memoryPins.removeValue(forKey: "r0001") }
    }
  }

  @Test func aRetiredNoteDoesNotChangeWhatAnEarlierRoundReads() throws {
    let directory = try BinaryRunner.temporaryDirectory("pinned-memory")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try runner.write(TinySpec.text, to: "tiny.toml")
    let whole = try runner.run(["run", "tiny.toml", "--run", "whole"])
    try #require(whole.status == 0, "\(whole.stderr)")
    let run = try Run(directory: directory + "/whole", specPath: nil, logger: Logger(label: "test"))

    // Round 0 ran before any memory existed; round 1 read the snapshot round 0's memory stage wrote.
    let manifest = try run.manifest()
    #expect(manifest.memoryPins["r0000"] == RunManifest.MemoryPin.none)
    let pin = try #require(manifest.memoryPins["r0001"])
    let roundZeroMemory = try #require(manifest.units["r0000/memory"])
    #expect(pin.path == roundZeroMemory.path && pin.hash == roundZeroMemory.sha256)

    // A note round 1 offered to its teacher contexts.
    let shardCount = try #require(manifest.shardCounts["r0001/rewrite"])
    var offered: [String] = []
    for shard in 0..<shardCount {
      let records = try run.readShard(RewriteRecord.self, round: 1, stage: .rewrite, shard: shard)
      offered += records.flatMap { $0.notes.map(\.noteId) }
    }
    let retired = try #require(offered.first, "round 1 offered no note, so retiring one proves nothing")
    let before = Self.rewriteShards(runner, "whole")
    #expect(before.count == shardCount)

    // Maintenance between the rounds: retire the note, compact the store.
    let retire = try runner.run(["memory", "retire", retired, "--run", "whole", "--reason", "pinning test"])
    try #require(retire.status == 0, "\(retire.stderr)")
    let compact = try runner.run(["memory", "compact", "--run", "whole", "--label", "after retire"])
    try #require(compact.status == 0, "\(compact.stderr)")

    // Repair: a damaged round-1 rewrite shard is forgotten by `verify --repair` and recomputed.
    let damagedName = try #require(before.keys.sorted().first)
    try runner.write("not a shard\n", to: "whole/r0001/rewrite/" + damagedName)
    _ = try runner.run(["verify", "--run", "whole", "--repair"])
    #expect(try run.manifest().units.keys.filter { $0.hasPrefix("r0001/rewrite/") }.count == shardCount - 1)
    let repaired = try runner.run(["rewrite", "--run", "whole", "--round", "1"])
    try #require(repaired.status == 0, "\(repaired.stderr)")
    #expect(Self.rewriteShards(runner, "whole") == before)

    // A rerun of the whole stage reads the same pinned snapshot: byte-identical shards.
    try Self.forgetRoundOneRewrites(run, pin: false)
    let rerun = try runner.run(["rewrite", "--run", "whole", "--round", "1"])
    try #require(rerun.status == 0, "\(rerun.stderr)")
    #expect(Self.rewriteShards(runner, "whole") == before)
    #expect(try run.manifest().memoryPins["r0001"] == pin)
    let verify = try runner.run(["verify", "--run", "whole"])
    #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

    // Control: the same round pinned afresh (as a round started after the retirement would be)
    // reads a new snapshot without the retired note, so the shards do change.
    try Self.forgetRoundOneRewrites(run, pin: true)
    let fresh = try runner.run(["rewrite", "--run", "whole", "--round", "1"])
    try #require(fresh.status == 0, "\(fresh.stderr)")
    let repinned = try #require(try run.manifest().memoryPins["r0001"])
    #expect(repinned.snapshot != pin.snapshot && repinned.hash != pin.hash)
    var offeredAfter: [String] = []
    for shard in 0..<shardCount {
      let records = try run.readShard(RewriteRecord.self, round: 1, stage: .rewrite, shard: shard)
      offeredAfter += records.flatMap { $0.notes.map(\.noteId) }
    }
    #expect(!offeredAfter.contains(retired))
    #expect(Self.rewriteShards(runner, "whole") != before)
  }

  /// A damaged pinned snapshot is reported by `verify`, and a rewrite of a later round refuses to
  /// pin memory before the memory stage of the round before has run.
  @Test func pinsAreVerifiedAndNeedThePreviousMemoryStage() throws {
    let directory = try BinaryRunner.temporaryDirectory("pin-order")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try runner.write(TinySpec.text, to: "tiny.toml")
    let pretrain = try runner.run(["pretrain", "--run", "r", "--spec", "tiny.toml"])
    try #require(pretrain.status == 0, "\(pretrain.stderr)")
    let run = try Run(directory: directory + "/r", specPath: nil, logger: Logger(label: "test"))
    // Round 1's policy exists (as if round 0 had been distilled), its memory stage has not run.
    let config = run.spec.model.config
    try PolicyStore(run: run).save(try Transformer(config: config, seed: 3), round: 1)
    let early = try runner.run(["rewrite", "--run", "r", "--round", "1"])
    #expect(early.status != 0)
    #expect(early.stderr.contains("memory stage of round 0"), "\(early.stderr)")
    #expect(try run.manifest().memoryPins.isEmpty)

    // A pin whose snapshot file is damaged is a verify error naming the pin.
    try FileManager.default.createDirectory(
      atPath: directory + "/r/memory", withIntermediateDirectories: true)
    try runner.write("x", to: "r/memory/snap-1.json.zst")
    try run.withManifest { manifest in
      manifest.memoryPins["r0001"] = RunManifest.MemoryPin(
        snapshot: "snap-000001", path: "memory/snap-1.json.zst", hash: String(repeating: "0", count: 16))
    }
    let verify = try runner.run(["verify", "--run", "r"])
    #expect(verify.status != 0)
    #expect((verify.stdout + verify.stderr).contains("memory_pins/r0001"), "\(verify.stdout)\(verify.stderr)")
  }
}
