import Foundation
import Testing

/// Bad input never loses finished work: each case gives a clear error and a non-zero exit, and
/// the run continues once the cause is fixed.
@Suite(.serialized) struct BadInputTests {
  func preparedRun() throws -> BinaryRunner {
    let runner = BinaryRunner(directory: try BinaryRunner.temporaryDirectory("bad-input"))
    try runner.write(TinySpec.text, to: "tiny.toml")
    let pretrain = try runner.run(["pretrain", "--run", "r", "--spec", "tiny.toml"])
    try #require(pretrain.status == 0, "\(pretrain.stderr)")
    let rollout = try runner.run(["rollout", "--run", "r", "--round", "0"])
    try #require(rollout.status == 0, "\(rollout.stderr)")
    return runner
  }

  @Test func malformedSpecNamesFileLineAndKey() throws {
    let runner = BinaryRunner(directory: try BinaryRunner.temporaryDirectory("bad-spec"))
    defer { try? FileManager.default.removeItem(atPath: runner.directory) }
    try runner.write(TinySpec.text + "\n[distill]\nlearning_rate = 0.1\n", to: "typo.toml")
    let result = try runner.run(["run", "typo.toml", "--run", "r"])
    #expect(result.status == 1)
    #expect(result.stderr.contains("typo.toml:"))
    #expect(result.stderr.contains("distill"))
    #expect(!FileManager.default.fileExists(atPath: runner.directory + "/r"))
  }

  @Test func corruptedShardIsNamedAndRepairable() throws {
    let runner = try preparedRun()
    defer { try? FileManager.default.removeItem(atPath: runner.directory) }
    let shard = runner.directory + "/r/r0000/rollout/shard-00001.jsonl.zst"
    let original = try #require(FileManager.default.contents(atPath: shard))
    var damaged = original
    damaged[damaged.count / 2] ^= 0xFF
    try damaged.write(to: URL(fileURLWithPath: shard))
    let feedback = try runner.run(["feedback", "--run", "r", "--round", "0"])
    #expect(feedback.status == 1)
    #expect(feedback.stderr.contains("shard-00001.jsonl.zst"))
    let verify = try runner.run(["verify", "--run", "r"])
    #expect(verify.status == 1 && verify.stdout.contains("r0000/rollout/00001"))
    let repair = try runner.run(["verify", "--run", "r", "--repair"])
    #expect(repair.status == 1)
    // Rerunning the stage recomputes exactly the damaged shard, byte-identical to the original.
    let rollout = try runner.run(["rollout", "--run", "r", "--round", "0"])
    #expect(rollout.status == 0, "\(rollout.stderr)")
    #expect(FileManager.default.contents(atPath: shard) == original)
    #expect(try runner.run(["verify", "--run", "r"]).status == 0)
  }

  @Test func handEditedManifestAndNewerFormatAreRejected() throws {
    let runner = try preparedRun()
    defer { try? FileManager.default.removeItem(atPath: runner.directory) }
    let path = runner.directory + "/r/manifest.json"
    let original = try #require(FileManager.default.contents(atPath: path))
    let text = String(decoding: original, as: UTF8.self)
    try text.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 99").write(
      toFile: path, atomically: true, encoding: .utf8)
    let newer = try runner.run(["status", "--run", "r"])
    #expect(newer.status == 1)
    #expect(newer.stderr.contains("format version 99") && newer.stderr.contains("manifest.json"))
    try String(text.prefix(text.count / 2)).write(toFile: path, atomically: true, encoding: .utf8)
    let broken = try runner.run(["feedback", "--run", "r", "--round", "0"])
    #expect(
      broken.status == 1 && broken.stderr.contains("manifest.json") && broken.stderr.contains("not valid"))
    // Restoring the manifest restores the run: nothing already done was lost.
    try original.write(to: URL(fileURLWithPath: path))
    let feedback = try runner.run(["feedback", "--run", "r", "--round", "0"])
    #expect(feedback.status == 0, "\(feedback.stderr)")
  }

  @Test func editedSpecIsRefused() throws {
    let runner = try preparedRun()
    defer { try? FileManager.default.removeItem(atPath: runner.directory) }
    try runner.write(TinySpec.text.replacingOccurrences(of: "seed = 5", with: "seed = 6"), to: "other.toml")
    let result = try runner.run(["run", "other.toml", "--run", "r"])
    #expect(result.status == 1 && result.stderr.contains("different spec"))
  }
}
