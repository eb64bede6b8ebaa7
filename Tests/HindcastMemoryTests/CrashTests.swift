import Foundation
import HindcastSupport
import Testing

@testable import HindcastMemory

/// SIGKILL during appends and compactions, with a real process: the built `hindcast` binary's
/// hidden `memory crash-writer` command appends a deterministic event stream and prints
/// `committed N` after every append returns. The test kills it at random moments, reopens the
/// store and checks that no committed event was lost and that the state is exactly the fold of
/// a prefix of the stream.
@Suite(.serialized) struct CrashTests {
  static let streamLength = 4000
  static let seed: UInt64 = 42

  /// `hindcast` next to the test bundle (both live in `.build/<configuration>/`).
  static func binary() -> String? {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = executable.deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = directory.appendingPathComponent("hindcast").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      directory = directory.deletingLastPathComponent()
    }
    return nil
  }

  /// Runs the writer until it has reported `killAfter` commits (plus a short random delay), then
  /// SIGKILLs it. Returns the highest committed event count it reported.
  static func runWriter(
    _ binary: String, store: String, compact: Bool, writeSize: Int? = nil, killAfter: Int?,
    delayMicroseconds: UInt32
  ) throws -> (committed: Int, finished: Bool) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments =
      [
        "memory", "crash-writer", "--store", store, "--seed", String(seed), "--events", String(streamLength),
        "--batch", "40",
      ] + (compact ? ["--compact"] : [])
      + (writeSize.map { ["--write-size", String($0), "--no-fsync"] } ?? [])
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    var committed = 0
    var commits = 0
    var finished = false
    var pending = ""
    let reader = output.fileHandleForReading
    reading: while true {
      let data = reader.availableData
      if data.isEmpty { break }
      pending += String(decoding: data, as: UTF8.self)
      while let newline = pending.firstIndex(of: "\n") {
        let line = String(pending[..<newline])
        pending.removeSubrange(...newline)
        let parts = line.split(separator: " ")
        if parts.first == "committed", parts.count == 2, let count = Int(parts[1]) {
          committed = max(committed, count)
          commits += 1
          if let killAfter, commits >= killAfter {
            usleep(delayMicroseconds)
            kill(process.processIdentifier, SIGKILL)
            break reading
          }
        }
        if parts.first == "done" { finished = true }
      }
    }
    process.waitUntilExit()
    // Lines written before the kill may still be in the pipe: they were committed too.
    let rest = String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
    for line in (pending + rest).split(separator: "\n") {
      let parts = line.split(separator: " ")
      if parts.first == "committed", parts.count == 2, let count = Int(parts[1]) {
        committed = max(committed, count)
      }
      if parts.first == "done" { finished = true }
    }
    return (committed, finished)
  }

  /// Modes: plain appends; appends with compactions; appends written in 7-byte pieces without
  /// fsync, so that kills tear records and opening must cut the torn tail.
  @Test(arguments: [(false, nil), (true, nil), (false, 7)] as [(Bool, Int?)])
  func sigkillLosesNoCommittedRecord(compacting: Bool, writeSize: Int?) throws {
    guard let binary = Self.binary() else {
      Issue.record("the hindcast binary is not built next to the tests; run 'swift build' first")
      return
    }
    var random = SeededRandom(seed: 9)
    var streamRandom = SeededRandom(seed: Self.seed)
    let stream = SyntheticMemory.events(count: Self.streamLength, random: &streamRandom)
    let directory = TemporaryDirectory()
    var everCommitted = 0
    for _ in 0..<5 {
      let result = try Self.runWriter(
        binary, store: directory.store, compact: compacting, writeSize: writeSize,
        killAfter: 3 + random.nextInt(below: 25),
        delayMicroseconds: UInt32(random.nextInt(below: 3000)))
      everCommitted = max(everCommitted, result.committed)
      let store = try MemoryStore.open(at: directory.store, options: .readOnly())
      #expect(store.state.eventCount >= everCommitted)
      #expect(store.state == MemoryState.fold(stream[0..<store.state.eventCount]))
    }
    // Recovery (read-write) then a run to the end gives exactly the whole stream.
    let final = try Self.runWriter(
      binary, store: directory.store, compact: compacting, killAfter: nil, delayMicroseconds: 0)
    #expect(final.finished)
    let store = try MemoryStore.open(at: directory.store)
    #expect(store.state == MemoryState.fold(stream))
    #expect(store.verify().errors == 0)
  }
}
