import Foundation
import HindcastMemory
import HindcastPipeline
import Testing

/// Crash safety of the whole pipeline: SIGKILL at many points, rerun, compare with an
/// uninterrupted run byte for byte; several workers split a stage exactly.
@Suite(.serialized) struct ResumeTests {
  /// Files that must be identical between runs (timings live only in metrics.jsonl).
  static func comparable(_ runner: BinaryRunner, _ run: String) -> [String] {
    runner.files(under: run).filter { $0 != "metrics.jsonl" && $0 != ".lock" && !$0.hasPrefix("memory/") }
  }

  @Test func killedAtManyPointsAndRerunEqualsAnUninterruptedRun() throws {
    let directory = try BinaryRunner.temporaryDirectory("resume")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try runner.write(TinySpec.text, to: "tiny.toml")
    let whole = try runner.run(["run", "tiny.toml", "--run", "whole"])
    try #require(whole.status == 0, "\(whole.stderr)")
    #expect(whole.stdout.contains("pass rate by round"))
    #expect(whole.stdout.contains("validation (chosen on)") && whole.stdout.contains("test (reported)"))
    // The memory stage proposed notes and the rewrite stage measured them by randomized exposure.
    let stats = try runner.run(["memory", "stats", "--run", "whole", "--json"])
    let memory = try #require(
      try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any], "\(stats.stderr)")
    #expect((memory["notes"] as? Int ?? 0) > 0)
    #expect(
      (memory["includedObservations"] as? Int ?? 0) > 0 && (memory["withheldObservations"] as? Int ?? 0) > 0)

    // Kill after growing delays so that kills land in every stage, inside shard writes,
    // manifest updates and checkpoint writes; then let the last attempt finish.
    var kills = 0
    var delay: useconds_t = 40_000
    var finished = false
    for _ in 0..<60 {
      let process = try runner.start(["run", "tiny.toml", "--run", "killed"])
      usleep(delay)
      if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        kills += 1
        delay += 97_000
      } else {
        process.waitUntilExit()
        finished = process.terminationStatus == 0
        break
      }
    }
    if !finished {
      let last = try runner.run(["run", "tiny.toml", "--run", "killed"])
      try #require(last.status == 0, "\(last.stderr)")
    }
    #expect(kills >= 3, "the run finished before it could be killed often enough")
    let expected = Self.comparable(runner, "whole")
    let actual = Self.comparable(runner, "killed")
    #expect(expected == actual)
    #expect(expected.contains("policy/round-0002/model.safetensors"))
    #expect(expected.contains("r0002/eval.json"))
    for file in expected {
      #expect(
        runner.contents("whole/" + file) == runner.contents("killed/" + file),
        "\(file) differs after \(kills) kills")
    }
    // The ledger (metrics.jsonl, which also holds timings) is crash-consistent: its totals equal
    // the uninterrupted run's, call for call and token for token.
    #expect(try Self.ledger(runner, "whole") == (try Self.ledger(runner, "killed")), "after \(kills) kills")
    #expect(try Self.ledger(runner, "whole").contains { $0.first ?? 0 > 0 })
    // The memory store's files may be laid out differently after kills (segments, an unused
    // trailing frame), but its folded state must be the same.
    let memoryWhole = try runner.run(["memory", "dump", "--run", "whole"])
    let memoryKilled = try runner.run(["memory", "dump", "--run", "killed"])
    #expect(memoryWhole.status == 0 && !memoryWhole.stdout.isEmpty, "\(memoryWhole.stderr)")
    #expect(memoryWhole.stdout == memoryKilled.stdout)
    let verify = try runner.run(["verify", "--run", "killed"])
    #expect(verify.status == 0, "\(verify.stdout)")
    try Self.expectMemoryProvenanceIsChecked(runner, run: "killed")
  }

  /// Per round: charged, rollout, rewrite, memory calls, generated, teacher-scored, trained and
  /// model tokens; and a last row with the eval calls. Wall times are left out.
  static func ledger(_ runner: BinaryRunner, _ run: String) throws -> [[Int]] {
    let record = try RunRecord.load(
      directory: runner.directory + "/" + run, arm: "sdpo", learningRate: 0, seed: 1)
    return record.ledger.map {
      [
        $0.environmentCalls, $0.rolloutCalls, $0.rewriteCalls, $0.memoryCalls, $0.generatedTokens,
        $0.teacherScoredTokens, $0.trainingTokens, $0.modelTokens,
      ]
    } + [[record.evalCalls]]
  }

  /// `memory verify --run` traces every note's provenance to the run's records: it passes on the
  /// pipeline's own memory and names a record id that no shard holds.
  static func expectMemoryProvenanceIsChecked(_ runner: BinaryRunner, run: String) throws {
    let clean = try runner.run(["memory", "verify", "--run", run])
    #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
    let store = try MemoryStore.open(at: MemoryStore.directory(ofRun: runner.directory + "/" + run))
    let stray = Note(
      text: "When testing, name a rollout that does not exist, because verify must notice.",
      scope: NoteScope(family: "arith"), origin: .critique,
      provenance: NoteProvenance(
        run: "tiny", round: 0, rolloutIds: ["no-such-rollout"], sourceTaskId: "arith-none"),
      createdRound: 0)
    _ = try store.add([stray])
    store.close()
    let dangling = try runner.run(["memory", "verify", "--run", run])
    #expect(dangling.status == 1)
    #expect(dangling.stdout.contains("dangling provenance: record 'no-such-rollout'"), "\(dangling.stdout)")
  }

  @Test func twoWorkersSplitAStageAndTheUnionEqualsOneProcess() throws {
    let directory = try BinaryRunner.temporaryDirectory("workers")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try runner.write(TinySpec.text, to: "tiny.toml")
    for run in ["single", "pair"] {
      let pretrain = try runner.run(["pretrain", "--run", run, "--spec", "tiny.toml"])
      try #require(pretrain.status == 0, "\(pretrain.stderr)")
    }
    for stage in ["rollout", "feedback", "rewrite"] {
      let single = try runner.run([stage, "--run", "single", "--round", "0"])
      try #require(single.status == 0, "\(single.stderr)")
      let workers = try (0..<2).map { i in
        try runner.start(
          [stage, "--run", "pair", "--round", "0", "--worker", "\(i)", "--workers", "2"],
          stderr: "worker\(i).err")
      }
      for (i, process) in workers.enumerated() {
        process.waitUntilExit()
        let errors = String(decoding: runner.contents("worker\(i).err") ?? Data(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(errors)")
      }
      let a = runner.files(under: "single/r0000/\(stage)")
      let b = runner.files(under: "pair/r0000/\(stage)")
      #expect(a.count == 3 && a == b)
      for file in a {
        #expect(
          runner.contents("single/r0000/\(stage)/" + file) == runner.contents("pair/r0000/\(stage)/" + file))
      }
    }
  }

  @Test func emaTeacherIsSavedWithEveryPolicyAndResumesExactly() throws {
    let directory = try BinaryRunner.temporaryDirectory("ema")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try runner.write(TinySpec.withTeacher("ema"), to: "ema.toml")
    let first = try runner.run(["run", "ema.toml", "--run", "a"])
    try #require(first.status == 0, "\(first.stderr)")
    let files = runner.files(under: "a/policy")
    #expect(files.contains("ema-0001/model.safetensors") && files.contains("ema-0002/model.safetensors"))
    #expect(
      runner.contents("a/policy/ema-0002/model.safetensors")
        != runner.contents("a/policy/round-0002/model.safetensors"))
    // Interrupt the second run once inside round 1, then finish it: same EMA and policy.
    let process = try runner.start(["run", "ema.toml", "--run", "b"])
    while process.isRunning && !FileManager.default.fileExists(atPath: directory + "/b/policy/ema-0001/DONE")
    {
      usleep(5_000)
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    let second = try runner.run(["run", "ema.toml", "--run", "b"])
    try #require(second.status == 0, "\(second.stderr)")
    for file in ["ema-0002/model.safetensors", "round-0002/model.safetensors"] {
      #expect(runner.contents("a/policy/" + file) == runner.contents("b/policy/" + file), "\(file)")
    }
  }

  @Test func stageWithMissingInputsNamesTheStageToRunFirst() throws {
    let directory = try BinaryRunner.temporaryDirectory("missing")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try runner.write(TinySpec.text, to: "tiny.toml")
    let noPolicy = try runner.run(["rollout", "--run", "r", "--spec", "tiny.toml"])
    #expect(noPolicy.status == 1)
    #expect(noPolicy.stderr.contains("hindcast pretrain --run r"))
    let noRollouts = try runner.run(["feedback", "--run", "r", "--round", "0"])
    #expect(noRollouts.status == 1)
    #expect(noRollouts.stderr.contains("hindcast rollout --run r --round 0"))
    let badRound = try runner.run(["eval", "--run", "r", "--round", "9"])
    #expect(badRound.status == 1 && badRound.stderr.contains("round 9"))
  }
}
