import ArgumentParser
import HindcastPipeline
import Logging

/// Options every stage command shares: the run directory and the worker slice.
struct RunOptions: ParsableArguments {
  @Option(name: .customLong("run"), help: ArgumentHelp("Run directory.", valueName: "dir"))
  var directory: String

  @Option(
    help: ArgumentHelp("Pipeline spec; needed only to start a new run directory.", valueName: "file.toml"))
  var spec: String?

  @Option(help: "This process's index among --workers processes sharing the run (0-based).")
  var worker: Int = 0

  @Option(help: "Number of worker processes splitting each stage's shards.")
  var workers: Int = 1

  func validate() throws {
    guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    guard (0..<workers).contains(worker) else {
      throw ValidationError("--worker must be in 0..<\(workers) (0-based), got \(worker)")
    }
  }

  func open() throws -> Run {
    let run = try Run(
      directory: directory, specPath: spec, worker: WorkerSlice(index: worker, count: workers),
      logger: Logger(label: "hindcast"))
    run.reporter = StandardErrorReporter()
    return run
  }
}
