import ArgumentParser
import HindcastMemory

struct MemoryGrepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "grep",
    abstract: "List notes whose text contains a string (case-insensitive).")

  @Argument(help: "The text to look for.")
  var pattern: String

  @Flag(name: .long, help: "Match case exactly.")
  var caseSensitive = false

  @OptionGroup var location: MemoryLocationOptions
  @OptionGroup var filter: NoteFilterOptions

  func validate() throws {
    guard !pattern.isEmpty else { throw ValidationError("the pattern must not be empty") }
  }

  func run() throws {
    let store = try location.openForReading()
    let records = filter.query(text: pattern, caseSensitive: caseSensitive).select(from: store.state)
    emit(MemoryInspection.listing(records, json: filter.json, textWidth: filter.width))
  }
}
