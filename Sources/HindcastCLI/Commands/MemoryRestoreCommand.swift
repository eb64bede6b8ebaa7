import ArgumentParser
import HindcastMemory

struct MemoryRestoreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "restore",
    abstract: "Make a retired note active again.")

  @Argument(help: "A note id or a unique prefix.")
  var id: String

  @Option(name: .long, help: "Why (kept in the note's history).")
  var reason: String = "restored by hand"

  @OptionGroup var location: MemoryLocationOptions

  func run() throws {
    let store = try location.openForWriting()
    let noteId = try store.state.resolve(prefix: id)
    let changed = try store.restore(noteId, reason: reason)
    print(changed ? "restored \(noteId)" : "\(noteId) was already active")
  }
}
