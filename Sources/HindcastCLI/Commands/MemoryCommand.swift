import ArgumentParser
import HindcastMemory
import HindcastSupport

/// `hindcast memory ...`: inspect and maintain a run's experiential memory.
struct MemoryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "memory",
    abstract: "Inspect and maintain experiential memory: strategy notes with measured values.",
    discussion: """
      Memory lives in RUN/memory (give --run RUN) or any store directory (give --store DIR). \
      Note ids may be abbreviated to a unique prefix of at least 4 hex digits. Every listing \
      prints aligned columns for people and stable JSON lines with --json.
      """,
    subcommands: [
      MemoryStatsCommand.self, MemoryListCommand.self, MemoryShowCommand.self, MemoryGrepCommand.self,
      MemoryDumpCommand.self, MemoryDiffCommand.self, MemoryVerifyCommand.self, MemoryCompactCommand.self,
      MemoryRetireCommand.self, MemoryRestoreCommand.self, MemoryBenchCommand.self,
      MemoryCrashWriterCommand.self,
    ]
  )
}

/// Where the store is: `--run RUN` (memory in RUN/memory) or `--store DIR`.
struct MemoryLocationOptions: ParsableArguments {
  @Option(name: .long, help: ArgumentHelp("A run directory; its memory is RUN/memory.", valueName: "dir"))
  var run: String?

  @Option(name: .long, help: ArgumentHelp("A memory store directory.", valueName: "dir"))
  var store: String?

  @Option(name: .long, help: "Threads used to decode the store while opening it.")
  var threads: Int = 2

  func validate() throws {
    guard (run == nil) != (store == nil) else {
      throw ValidationError("give exactly one of --run DIR or --store DIR")
    }
    guard threads >= 1 && threads <= 64 else { throw ValidationError("--threads must be in 1...64") }
  }

  var directory: String {
    if let run { return MemoryStore.directory(ofRun: run) }
    return store ?? "."
  }

  /// Opens read-only (inspection never changes a file) and reports anything notable to stderr.
  func openForReading() throws -> MemoryStore {
    let store = try MemoryStore.open(at: directory, options: .readOnly(decodeThreads: threads))
    report(store)
    return store
  }

  /// Opens read-write (takes the store's lock; repairs a torn tail).
  func openForWriting() throws -> MemoryStore {
    let store = try MemoryStore.open(
      at: directory, options: MemoryOpenOptions(createIfMissing: false, decodeThreads: threads))
    report(store)
    return store
  }

  private func report(_ store: MemoryStore) {
    for message in store.openReport.messages { StandardError.write("memory: \(message)\n") }
  }
}

/// Writes output lines to stdout.
func emit(_ lines: [String]) {
  for line in lines { print(line) }
}

extension NoteSort: ExpressibleByArgument {}
extension NoteOrigin: ExpressibleByArgument {}
extension NoteStatus: ExpressibleByArgument {}
