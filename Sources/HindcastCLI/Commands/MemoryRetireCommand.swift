import ArgumentParser
import HindcastMemory

struct MemoryRetireCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "retire",
    abstract: "Retire a note: a tombstone event; the note and its evidence stay and 'restore' undoes it.")

  @Argument(help: "A note id or a unique prefix.")
  var id: String

  @Option(name: .long, help: "Why (kept in the note's history).")
  var reason: String = "retired by hand"

  @OptionGroup var location: MemoryLocationOptions

  func run() throws {
    let store = try location.openForWriting()
    let noteId = try store.state.resolve(prefix: id)
    let changed = try store.retire(noteId, reason: reason)
    print(changed ? "retired \(noteId)" : "\(noteId) was already retired")
  }
}
