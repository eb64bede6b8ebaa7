import Foundation
import HindcastSupport
import Testing

@testable import HindcastMemory

/// The `hindcast memory` commands, run as a user would run them (the built binary).
@Suite struct CommandTests {
  struct Run {
    let status: Int32
    let output: String
    let error: String
  }

  static func run(_ arguments: [String]) throws -> Run {
    let binary = try #require(CrashTests.binary(), "the hindcast binary is not built next to the tests")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(
      status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self),
      error: String(decoding: errData, as: UTF8.self))
  }

  private func makeRun() throws -> (TemporaryDirectory, Note) {
    let directory = TemporaryDirectory()
    let store = try MemoryStore.open(at: MemoryStore.directory(ofRun: directory.path))
    let note = Fixtures.note("When adding, write the carry above the next column.", task: "arith-1")
    try store.add([
      note, Fixtures.note("When subtracting, borrow first.", features: ["borrow"], task: "arith-2"),
    ])
    try store.record([Fixtures.observation(note.id, included: true, verified: true, rewrite: "rw-1")])
    store.close()
    return (directory, note)
  }

  @Test func inspectionCommandsWorkOnARunDirectory() throws {
    let (directory, note) = try makeRun()
    let prefix = String(note.id.description.prefix(6))
    let list = try Self.run(["memory", "ls", "--run", directory.path, "--json"])
    #expect(list.status == 0)
    #expect(list.output.split(separator: "\n").count == 2)
    let show = try Self.run(["memory", "show", prefix, "--run", directory.path])
    #expect(show.status == 0)
    #expect(show.output.contains("rollouts rollout-arith-1-a"))
    let grep = try Self.run(["memory", "grep", "BORROW", "--run", directory.path])
    #expect(grep.status == 0 && grep.output.contains("borrow first"))
    let verify = try Self.run(["memory", "verify", "--run", directory.path])
    #expect(verify.status == 0)
    #expect(verify.output.contains("0 errors"))
    let retire = try Self.run(["memory", "retire", prefix, "--run", directory.path, "--reason", "test"])
    #expect(retire.status == 0 && retire.output.hasPrefix("retired \(note.id)"))
    let compact = try Self.run(["memory", "compact", "--run", directory.path])
    #expect(compact.status == 0 && compact.output.hasPrefix("snap-000001"))
    let diff = try Self.run(["memory", "diff", "snap-000001", "--run", directory.path])
    #expect(diff.status == 0 && diff.output.contains("no changes"))
    let stats = try Self.run(["memory", "stats", "--run", directory.path, "--json"])
    #expect(stats.status == 0)
    _ = try JSONSerialization.jsonObject(with: Data(stats.output.utf8))
  }

  @Test func errorsNameTheProblemAndExitNonZero() throws {
    let (directory, _) = try makeRun()
    let unknown = try Self.run(["memory", "show", "ffffffff", "--run", directory.path])
    #expect(unknown.status == 1)
    #expect(unknown.error.hasPrefix("error: no note id starts with 'ffffffff'"))
    let missing = try Self.run(["memory", "ls", "--store", directory.path + "/nothing"])
    #expect(missing.status == 1)
    #expect(missing.error.contains("no memory store here"))
    let usage = try Self.run(["memory", "ls"])
    #expect(usage.status != 0 && usage.status != 1)
    #expect(usage.error.contains("--run DIR or --store DIR"))
  }
}
