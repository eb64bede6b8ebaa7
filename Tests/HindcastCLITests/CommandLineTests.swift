import Foundation
import Testing

/// The built binary's help, a good run and a bad input for the commands other suites do not run.
@Suite struct CommandLineTests {
  static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    try runHindcast(arguments)
  }

  @Test func rootHelpListsEveryStage() throws {
    let help = try Self.run(["--help"])
    #expect(help.status == 0)
    for command in [
      "run", "pretrain", "rollout", "feedback", "rewrite", "distill", "eval", "status", "verify", "gap",
      "sample",
    ] {
      #expect(help.stdout.contains("  \(command) "), "missing \(command) in help")
    }
    let stage = try Self.run(["rollout", "--help"])
    #expect(stage.stdout.contains("--worker") && stage.stdout.contains("resumes"))
  }

  @Test func usageErrorsExitNonZeroWithAMessage() throws {
    let missing = try Self.run(["rollout"])
    #expect(missing.status != 0 && missing.stderr.contains("--run"))
    let workers = try Self.run(["rollout", "--run", "x", "--worker", "2", "--workers", "2"])
    #expect(workers.status != 0 && workers.stderr.contains("--worker must be in 0..<2"))
    let noRun = try Self.run(["status", "--run", NSTemporaryDirectory() + "no-such-run-\(UUID().uuidString)"])
    #expect(noRun.status == 1 && noRun.stderr.contains("no run here"))
  }

  @Test func sampleReportsAMissingCheckpoint() throws {
    let result = try Self.run([
      "sample", "--checkpoint", "/nonexistent/ckpt", "--prompt", "<task>1+1<answer>",
    ])
    #expect(result.status == 1)
    #expect(result.stderr.contains("/nonexistent/ckpt"))
  }
}

/// Checker scripts reached through a symbolic link from a directory under /tmp (as
/// `scripts/llm/real_round.sh` links `data/` into its work directory): the sandbox gives the
/// checker a private /tmp, so the script must be passed by its real path.
@Suite struct CheckerThroughALinkTests {
  @Test func aCheckerScriptLinkedFromUnderTmpStillRuns() throws {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().path
    let directory = NSTemporaryDirectory() + "hindcast-link-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try FileManager.default.createSymbolicLink(
      atPath: directory + "/data", withDestinationPath: repository + "/data")
    let checked = try runHindcast(
      [
        "check", "--family", "exec", "--tasks-file", "data/exec/tasks.jsonl", "--checker",
        "python3 data/exec/check_python.py", "--task-id", "py-add", "--canonical",
      ], in: directory)
    #expect(checked.status == 0, "\(checked.stderr)")
    #expect(checked.stdout.contains("result    pass"), "\(checked.stdout)")
  }
}

@Suite struct CheckPromptTests {
  @Test func aPromptNeedsAnArithFamily() throws {
    let plain = try runHindcast(["check", "--family", "arith-plain", "--prompt", "47+85", "--attempt", "122"])
    #expect(plain.status == 0 && plain.stdout.contains("the tens digit is 3 (4+8+1=13)"), "\(plain.stdout)")
    let listdsl = try runHindcast(["check", "--family", "listdsl", "--prompt", "47+85", "--canonical"])
    #expect(listdsl.status == 1)
    #expect(listdsl.stderr.contains("--prompt only works for arith and arith-plain"), "\(listdsl.stderr)")
  }
}
