import ArgumentParser
import HindcastMemory

struct MemoryShowCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "show",
    abstract: "Show one note: text, value with interval, provenance, history and every observation.")

  @Argument(help: "A note id or a unique prefix of at least 4 hex digits.")
  var id: String

  @OptionGroup var location: MemoryLocationOptions

  @Flag(name: .long, help: "Print the note as one JSON object (the 'dump' form).")
  var json = false

  func run() throws {
    let store = try location.openForReading()
    let noteId = try store.state.resolve(prefix: id)
    guard let record = store.state[noteId] else { return }
    emit(MemoryInspection.show(record, in: store.state, json: json))
  }
}
