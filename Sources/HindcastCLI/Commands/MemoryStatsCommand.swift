import ArgumentParser
import HindcastMemory

struct MemoryStatsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stats",
    abstract: "Counts by scope and origin, events, size on disk and compression ratio.")

  @OptionGroup var location: MemoryLocationOptions

  @Flag(name: .long, help: "Print one JSON object instead of text.")
  var json = false

  func run() throws {
    let store = try location.openForReading()
    emit(MemoryInspection.stats(store, json: json))
  }
}
