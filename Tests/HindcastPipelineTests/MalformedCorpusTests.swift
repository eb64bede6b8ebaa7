import Foundation
import Testing

/// A representative subset (every 9th case) of the malformed-input corpus of
/// `scripts/malformed-corpus.py`: each broken spec, shard, manifest, metrics log, checkpoint,
/// memory file, tasks file and checker output goes to the command that reads it, and every one
/// must end in an error naming its file, with no trap, hang, damaged file or silent acceptance.
/// The full corpus (several hundred cases) is documented in docs/architecture.md.
@Suite struct MalformedCorpusTests {
  @Test func representativeSubsetEndsInNamedErrorsOnly() throws {
    let work = try BinaryRunner.temporaryDirectory("corpus")
    defer { try? FileManager.default.removeItem(atPath: work) }
    let report = work + "/report.json"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", "scripts/malformed-corpus.py", "--hindcast", BinaryRunner.binary, "--work", work, "--subset",
      "9",
      "--timeout", "90", "--json", report,
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    let data = try #require(FileManager.default.contents(atPath: report), "the corpus script wrote no report")
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let cases = try #require(object["cases"] as? [[String: Any]])
    #expect(cases.count >= 40)
    let failures = cases.filter { ($0["verdict"] as? String) != "ok" }.map {
      "\($0["verdict"] ?? "?") \($0["kind"] ?? "?") \($0["case"] ?? "?"): \($0["output"] ?? "")"
    }
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    #expect(process.terminationStatus == 0)
  }
}
