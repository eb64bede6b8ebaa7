import ArgumentParser
import HindcastMemory
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Hidden: appends a deterministic stream of synthetic events to a store, printing
/// `committed N` after every append returns (N = events in the store), until the stream ends.
/// Crash tests kill it with SIGKILL at random moments and check that every committed event
/// survives. Restarted on the same store, it continues where the store ends.
struct MemoryCrashWriterCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "crash-writer",
    abstract: "Append synthetic events and report each commit (for crash tests).",
    shouldDisplay: false)

  @Option(name: .long, help: ArgumentHelp("The store directory.", valueName: "dir"))
  var store: String

  @Option(name: .long, help: "Seed of the event stream (the same seed gives the same stream).")
  var seed: UInt64 = 1

  @Option(name: .long, help: "Length of the event stream.")
  var events: Int = 20000

  @Option(name: .long, help: "Largest batch; batch sizes are drawn from 1...batch.")
  var batch: Int = 50

  @Option(name: .long, help: "Write each batch in pieces of at most this many bytes (widens torn writes).")
  var writeSize: Int?

  @Flag(
    name: .long, help: "Do not fsync (a killed process loses nothing the kernel has; only power loss would).")
  var noFsync = false

  @Flag(name: .long, help: "Also compact after about one append in four.")
  var compact = false

  func validate() throws {
    guard events >= 1, batch >= 1, (writeSize ?? 1) >= 1 else {
      throw ValidationError("--events, --batch and --write-size must be at least 1")
    }
  }

  func run() throws {
    var random = SeededRandom(seed: seed)
    let stream = SyntheticMemory.events(count: events, random: &random)
    let settings = MemorySettings(
      dictionaryTrainingThreshold: 200, dictionaryCapacity: 4096, segmentSizeLimit: 16384)
    var options = MemoryOpenOptions(
      settings: settings, durability: noFsync ? .processCrashOnly : .fsyncEachAppend)
    options.maximumWriteSize = writeSize
    let memory = try MemoryStore.open(at: store, options: options)
    for message in memory.openReport.messages { StandardError.write("memory: \(message)\n") }
    var position = memory.state.eventCount
    var batches = SeededRandom(seed: SeedDerivation.derive(seed, [UInt64(position)]))
    say("started \(position)")
    while position < stream.count {
      let size = 1 + batches.nextInt(below: batch)
      try memory.append(Array(stream[position..<min(stream.count, position + size)]))
      position = memory.state.eventCount
      say("committed \(position)")
      if compact && batches.nextInt(below: 4) == 0 {
        let snapshot = try memory.compact()
        say("compacted \(snapshot.eventCount)")
      }
    }
    say("done \(position)")
  }

  /// Writes one line to stdout immediately (no buffering), so a reader sees every commit.
  private func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    bytes.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let written = Glibc.write(1, raw.baseAddress! + offset, raw.count - offset)
        if written <= 0 { return }
        offset += written
      }
    }
  }
}
