import ArgumentParser
import Foundation
import HindcastMemory
import HindcastPipeline
import HindcastSupport
import Logging

struct MemoryVerifyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Check checksums of every record and snapshot, provenance and the token budget.",
    discussion: """
      With --run, every rollout, feedback and rewrite id a note's provenance names must exist in \
      the run's completed shards (dangling provenance is an error). Exits with status 1 if any \
      error is found (warnings alone exit 0).
      """)

  @OptionGroup var location: MemoryLocationOptions

  @Flag(name: .long, help: "Print JSON lines (one per finding, then a summary).")
  var json = false

  func run() throws {
    let store = try location.openForReading()
    // With --run, provenance must name records that exist in the run's shards.
    var known: Set<String>?
    if let runDirectory = location.run {
      if FileManager.default.fileExists(atPath: RunLayout(root: runDirectory).spec) {
        let run = try Run(directory: runDirectory, specPath: nil, logger: Logger(label: "hindcast"))
        known = try RunInspector(run: run).recordIds()
      } else {
        StandardError.write(
          "note: \(runDirectory) holds no pipeline.toml, so provenance is not checked against run records\n")
      }
    }
    let report = store.verify(recordExists: known.map { ids in { ids.contains($0) } })
    emit(MemoryInspection.verification(report, json: json))
    if report.errors > 0 {
      throw HindcastError(
        .corruptFile, "memory verification found \(report.errors) error\(report.errors == 1 ? "" : "s")",
        location: store.directory)
    }
  }
}
