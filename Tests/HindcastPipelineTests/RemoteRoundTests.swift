import Foundation
import HindcastSupport
import Testing

/// `hindcast serve` started as a process on a free loopback port; stopped on deinit.
final class ServeProcess {
  let process = Process()
  let port: Int

  init(checkpoint: String, directory: String) throws {
    process.executableURL = URL(fileURLWithPath: BinaryRunner.binary)
    process.arguments = ["serve", "--checkpoint", checkpoint, "--port", "0", "--model-name", "base"]
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    var line = Data()
    while !line.contains(UInt8(ascii: "\n")) {
      let chunk = output.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      line.append(chunk)
    }
    let text = String(decoding: line, as: UTF8.self)
    // "listening on http://127.0.0.1:PORT (model 'base')"
    let port = text.split(separator: ":").dropFirst(2).first.flatMap { Int($0.prefix { $0.isNumber }) }
    self.port = try #require(port, "hindcast serve did not report a port: '\(text)'")
  }

  deinit {
    // SIGKILL: a test runner may block SIGTERM, and children inherit the blocked mask.
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }
}

/// The repository's root (for scripts/), from this file's path.
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent()
  .deletingLastPathComponent().path

@Suite struct RemoteRoundTests {
  static func pretrained(_ runner: BinaryRunner) throws {
    try runner.write(TinySpec.text, to: "tiny.toml")
    let pretrain = try runner.run(["pretrain", "--run", "base", "--spec", "tiny.toml"])
    try #require(pretrain.status == 0, "\(pretrain.stderr)")
  }

  static func remoteSpec(port: Int) -> String {
    TinySpec.text
      + "\n[policy]\nbackend = \"openai\"\nbase_url = \"http://127.0.0.1:\(port)/v1\"\nmax_retries = 2\n"
  }

  /// Rollout, feedback and rewrite (teacher scoring included) through `hindcast serve`, by one
  /// process and by three workers at once: the shards are byte-identical. Then the export.
  @Test func roundThroughTheServerByOneProcessAndByThreeWorkersThenExport() throws {
    let directory = try BinaryRunner.temporaryDirectory("remote")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try Self.pretrained(runner)
    let server = try ServeProcess(checkpoint: "base/policy/round-0000", directory: directory)
    try runner.write(Self.remoteSpec(port: server.port), to: "remote.toml")
    for stage in ["rollout", "feedback", "rewrite"] {
      let single = try runner.run([stage, "--run", "one", "--spec", "remote.toml", "--round", "0"])
      try #require(single.status == 0, "\(single.stderr)")
      let workers = try (0..<3).map { i in
        try runner.start(
          [
            stage, "--run", "three", "--spec", "remote.toml", "--round", "0", "--worker", "\(i)", "--workers",
            "3",
          ],
          stderr: "worker\(i).err")
      }
      for (i, process) in workers.enumerated() {
        process.waitUntilExit()
        let errors = String(decoding: runner.contents("worker\(i).err") ?? Data(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(errors)")
      }
      let a = runner.files(under: "one/r0000/\(stage)")
      #expect(a.count == 3 && a == runner.files(under: "three/r0000/\(stage)"))
      for file in a {
        #expect(
          runner.contents("one/r0000/\(stage)/" + file) == runner.contents("three/r0000/\(stage)/" + file))
      }
    }
    // The distill stage trains the embedded model only: a clear refusal.
    let distill = try runner.run(["distill", "--run", "one", "--round", "0"])
    #expect(distill.status != 0 && distill.stderr.contains("export the round"))

    for format in ["trl-sdpo", "sft", "teacher-logprobs", "verl"] {
      let export = try runner.run([
        "export", "--run", "one", "--round", "0", "--format", format, "--out", "export",
      ])
      try #require(export.status == 0, "\(export.stderr)")
    }
    let check = Process()
    check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    check.arguments = ["python3", repositoryRoot + "/scripts/llm/check_export.py", directory + "/export"]
    let output = Pipe()
    check.standardOutput = output
    let errorPath = directory + "/check.err"
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    check.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    try check.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    check.waitUntilExit()
    let errors = String(decoding: runner.contents("check.err") ?? Data(), as: UTF8.self)
    try #require(
      check.terminationStatus == 0, "check_export.py failed; run scripts/bootstrap.sh --test:\n\(errors)")
    let seen = try JSONValue(parsing: Array(data))
    // 6 tasks x 3 samples per round in the tiny spec.
    #expect(seen["trl-sdpo"]?["rows"] == 18)
    #expect(seen["verl"]?["rows"] == 18)
    let sdpoColumns = seen["trl-sdpo"]?["columns"]?.arrayValue?.compactMap(\.stringValue) ?? []
    for column in ["prompt", "completion", "privileged_context", "reward"] {
      #expect(sdpoColumns.contains(column))
    }
    let first = seen["trl-sdpo"]?["first"]
    #expect(first?["prompt"]?.stringValue?.hasPrefix("<task>") == true)
    #expect(first?["prompt"]?.stringValue?.hasSuffix("<answer>") == true)
    #expect(seen["verl"]?["columns"] == ["ability", "data_source", "extra_info", "prompt", "reward_model"])
    #expect(
      seen["verl"]?["prompt_type"]?.stringValue?.contains("struct<content: string, role: string>") == true)
    #expect(seen["verl"]?["first"]?["reward_model"]?["style"] == "rule")
    #expect(seen["verl"]?["first"]?["prompt"]?[0]?["role"] == "user")
    let teacherRows = seen["teacher-logprobs"]?["rows"]?.intValue ?? 0
    #expect(teacherRows > 0)
    let teacher = seen["teacher-logprobs"]?["first"]
    #expect(
      teacher?["teacher_logprobs"]?.arrayValue?.count == teacher?["completion_tokens"]?.arrayValue?.count)
    // The tiny spec samples at temperature 1 without truncation: the behaviour distribution is the
    // model's own, so the behaviour log-probs are the student's.
    #expect(teacher?["sampling"]?["temperature"]?.doubleValue == 1)
    #expect(
      teacher?["behaviour_logprobs"] != nil && teacher?["behaviour_logprobs"] == teacher?["student_logprobs"])
    if let sftFirst = seen["sft"]?["first"], sftFirst != .null {
      #expect(sftFirst["messages"]?[1]?["role"] == "assistant")
    }
  }
}
