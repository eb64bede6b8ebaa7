import ArgumentParser
import HindcastMemory

struct MemoryCompactCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compact",
    abstract: "Fold the log into a new snapshot and switch the manifest to it atomically.",
    discussion: "Segments the snapshot covers are removed afterwards. Prints the snapshot id.")

  @OptionGroup var location: MemoryLocationOptions

  @Option(name: .long, help: "A label kept with the snapshot, e.g. 'round 3'.")
  var label: String?

  func run() throws {
    let store = try location.openForWriting()
    let snapshot = try store.compact(label: label)
    print("\(snapshot.id)  \(snapshot.eventCount) events  \(snapshot.notes) notes  \(snapshot.bytes) bytes")
  }
}
