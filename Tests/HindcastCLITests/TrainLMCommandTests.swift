import Foundation
import Testing

@Suite struct TrainLMCommandTests {
  static func makeDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "hindcast-train-lm-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  static let corpusLines = (0..<50).map { "{\"text\": \"\($0) plus \($0 % 5) is \($0 + $0 % 5).\"}" }

  @Test func killedWithSigkillAndRunAgainEqualsAnUninterruptedRun() throws {
    let directory = try Self.makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try (Self.corpusLines.joined(separator: "\n") + "\n").write(
      toFile: directory + "/corpus.jsonl", atomically: true, encoding: .utf8)
    func arguments(_ out: String) -> [String] {
      [
        "train-lm", "--corpus", "corpus.jsonl", "--out", out, "--model", "tiny", "--steps", "40", "--batch",
        "2",
        "--seq", "8", "--threads", "1", "--checkpoint-every", "10",
      ]
    }
    let whole = try runHindcast(arguments("whole"), in: directory)
    #expect(whole.status == 0, "\(whole.stderr)")

    // Start the same run, kill it with SIGKILL as soon as its first checkpoint exists, run again.
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let process = Process()
    process.executableURL = bundleDirectory.appendingPathComponent("hindcast")
    process.arguments = arguments("split")
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    while process.isRunning && !FileManager.default.fileExists(atPath: directory + "/split/checkpoint/DONE") {
      usleep(2_000)
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    let resumed = try runHindcast(arguments("split"), in: directory)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    for name in ["DONE", "config.json", "model.safetensors", "optimizer.safetensors", "state.json"] {
      let a = FileManager.default.contents(atPath: directory + "/whole/checkpoint/" + name)
      let b = FileManager.default.contents(atPath: directory + "/split/checkpoint/" + name)
      #expect(a != nil && a == b, "\(name) differs after kill -9 and resume")
    }
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/split")
    #expect(leftovers == ["checkpoint"])
  }

  @Test func helpDescribesResumption() throws {
    let directory = try Self.makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let result = try runHindcast(["train-lm", "--help"], in: directory)
    #expect(result.status == 0)
    #expect(result.stdout.contains("USAGE: hindcast train-lm"))
    #expect(result.stdout.contains("--checkpoint-every"))
    #expect(result.stdout.contains("resumes from that checkpoint"))
  }

  @Test func trainsResumesAndReportsBadInput() throws {
    let directory = try Self.makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try (Self.corpusLines.joined(separator: "\n") + "\n").write(
      toFile: directory + "/corpus.jsonl", atomically: true, encoding: .utf8)
    let arguments = [
      "train-lm", "--corpus", "corpus.jsonl", "--out", "run", "--model", "tiny", "--steps", "4", "--batch",
      "2",
      "--seq", "16", "--threads", "1", "--log-every", "2",
    ]
    let first = try runHindcast(arguments, in: directory)
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stdout.hasPrefix("train-lm: step 4, loss "), "\(first.stdout)")
    #expect(first.stderr.contains("step 2/4  loss"))
    #expect(first.stderr.contains("checkpoint at step 4: run/checkpoint"))
    for name in ["DONE", "config.json", "model.safetensors", "optimizer.safetensors", "state.json"] {
      #expect(FileManager.default.fileExists(atPath: directory + "/run/checkpoint/" + name), "\(name)")
    }

    // Running again with more steps continues from step 4.
    let more = try runHindcast(
      ["train-lm", "--corpus", "corpus.jsonl", "--out", "run", "--steps", "6", "--threads", "1"],
      in: directory)
    #expect(more.status == 0, "\(more.stderr)")
    #expect(more.stderr.contains("resuming at step 4 of 6"))
    #expect(more.stdout.hasPrefix("train-lm: step 6"))

    // A malformed line: exit 1, the file and line named, nothing written.
    try "{\"text\": \"ok\"}\n{\"text\": 5}\n".write(
      toFile: directory + "/bad.jsonl", atomically: true, encoding: .utf8)
    let bad = try runHindcast(["train-lm", "--corpus", "bad.jsonl", "--out", "bad-run"], in: directory)
    #expect(bad.status == 1)
    #expect(bad.stderr.contains("error: bad.jsonl:2: malformed JSON line"), "\(bad.stderr)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/bad-run"))

    // An empty corpus.
    try "".write(toFile: directory + "/empty.jsonl", atomically: true, encoding: .utf8)
    let empty = try runHindcast(["train-lm", "--corpus", "empty.jsonl", "--out", "empty-run"], in: directory)
    #expect(empty.status == 1)
    #expect(empty.stderr.contains("empty.jsonl: the corpus has no documents"), "\(empty.stderr)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/empty-run"))

    // A usage error.
    let usage = try runHindcast(arguments + ["--config", "x.json"], in: directory)
    #expect(usage.status != 0 && usage.status != 1)
    #expect(usage.stderr.contains("either --model or --config"))
  }
}
