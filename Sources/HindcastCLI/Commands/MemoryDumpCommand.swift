import ArgumentParser
import HindcastMemory

struct MemoryDumpCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dump",
    abstract: "Print the folded state as JSON lines, one note per line (for jq and Python).",
    discussion: """
      Each line holds a note's identity, value, counts, provenance, history and observations. \
      --at reads a snapshot instead of the current state.
      """)

  @OptionGroup var location: MemoryLocationOptions

  @Option(name: .long, help: "A snapshot id (snap-000002), number, or 'head'.")
  var at: String = "head"

  func run() throws {
    let store = try location.openForReading()
    emit(MemoryInspection.dump(try store.state(at: at).state))
  }
}
