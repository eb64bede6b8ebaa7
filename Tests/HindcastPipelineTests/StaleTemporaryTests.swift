import Foundation
import Logging
import Testing

@testable import HindcastPipeline

/// A writer killed between writing a temporary file and renaming it leaves `NAME.tmp-PID`
/// behind; opening the run again removes those of dead processes, in the run directory, in
/// `policy/` and in every round directory (the kill-and-resume test once found
/// `r0000/.eval.json.tmp-5072` left over); live writers' are kept (`AtomicFile`).
@Suite struct StaleTemporaryTests {
  @Test func reopeningARunRemovesDeadWritersTemporariesInRoundDirectories() throws {
    let directory = try BinaryRunner.temporaryDirectory("stale")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try TinySpec.text.write(toFile: directory + "/spec.toml", atomically: true, encoding: .utf8)
    let runPath = directory + "/run"
    _ = try Run(directory: runPath, specPath: directory + "/spec.toml", logger: Logger(label: "test"))
    let fm = FileManager.default
    for round in ["r0000", "r0002"] {
      try fm.createDirectory(atPath: runPath + "/" + round, withIntermediateDirectories: true)
    }
    // PID 2147483647 cannot exist (Linux PIDs stay below 2^22); this process is alive.
    let dead = ["r0000/.eval.json.tmp-2147483647", "r0002/.gap.json.tmp-2147483647"]
    let unrelated = "notes/.x.tmp-2147483647"
    try fm.createDirectory(atPath: runPath + "/notes", withIntermediateDirectories: true)
    for name in dead + [unrelated] {
      #expect(fm.createFile(atPath: runPath + "/" + name, contents: Data([1])))
    }
    _ = try Run(directory: runPath, specPath: nil, logger: Logger(label: "test"))
    for name in dead { #expect(!fm.fileExists(atPath: runPath + "/" + name), "\(name) was left") }
    #expect(fm.fileExists(atPath: runPath + "/" + unrelated), "only round directories are cleaned")
    // A read-only open (`status`, `verify`) removes nothing.
    #expect(fm.createFile(atPath: runPath + "/" + dead[0], contents: Data([1])))
    _ = try Run(directory: runPath, specPath: nil, readOnly: true, logger: Logger(label: "test"))
    #expect(fm.fileExists(atPath: runPath + "/" + dead[0]), "a read-only open removes nothing")
    #expect(RunLayout.isRoundName("r0000") && RunLayout.isRoundName("r12345"))
    #expect(
      !RunLayout.isRoundName("r00") && !RunLayout.isRoundName("round") && !RunLayout.isRoundName("r000x"))
  }
}
