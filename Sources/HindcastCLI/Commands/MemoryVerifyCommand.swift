import ArgumentParser
import HindcastMemory
import HindcastSupport

struct MemoryVerifyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Check checksums of every record and snapshot, provenance and the token budget.",
    discussion: "Exits with status 1 if any error is found (warnings alone exit 0).")

  @OptionGroup var location: MemoryLocationOptions

  @Flag(name: .long, help: "Print JSON lines (one per finding, then a summary).")
  var json = false

  func run() throws {
    let store = try location.openForReading()
    let report = store.verify()
    emit(MemoryInspection.verification(report, json: json))
    if report.errors > 0 {
      throw HindcastError(
        .corruptFile, "memory verification found \(report.errors) error\(report.errors == 1 ? "" : "s")",
        location: store.directory)
    }
  }
}
