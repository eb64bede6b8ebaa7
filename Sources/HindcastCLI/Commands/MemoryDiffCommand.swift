import ArgumentParser
import HindcastMemory

struct MemoryDiffCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "diff",
    abstract: "Compare two snapshots: notes added, retired, restored, merged, and value changes.")

  @Argument(help: "The older snapshot (id like snap-000002, number, or 'head').")
  var older: String

  @Argument(help: "The newer snapshot (default: the current state).")
  var newer: String = "head"

  @OptionGroup var location: MemoryLocationOptions

  @Flag(name: .long, help: "Print one JSON object per change.")
  var json = false

  func run() throws {
    let store = try location.openForReading()
    let (olderInfo, olderState) = try store.state(at: older)
    let (newerInfo, newerState) = try store.state(at: newer)
    let diff = MemoryDiff(from: olderState, to: newerState)
    emit(
      MemoryInspection.diff(
        diff, newer: newerState, from: olderInfo?.id ?? "head", to: newerInfo?.id ?? "head", json: json))
  }
}
