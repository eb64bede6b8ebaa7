import ArgumentParser
import Foundation
import HindcastPipeline
import HindcastSupport
import Logging

/// `hindcast experiment SPEC`: every arm × seed of an experiment, resumable.
struct ExperimentCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "experiment",
    abstract: "Compare learning signals: run every arm of an experiment spec over several seeds.",
    discussion: """
      Pretrains one base policy, sweeps each arm's learning rate on the sweep seed (chosen on \
      validation), then runs every reported seed at the chosen rate. Arms are [arms.NAME] tables of \
      pipeline-spec keys (pipelines/arms.toml); the spec names a primary arm. Each run is an ordinary pipeline run under OUT/runs/; kill the command \
      at any moment and run it again to resume. Then write the report with `hindcast report \
      --experiment OUT --out docs/results.md`. See docs/experiments.md.
      """)

  @Argument(help: ArgumentHelp("Experiment spec.", valueName: "pipelines/experiment-FAMILY.toml"))
  var spec: String

  @Option(
    name: .customLong("out"),
    help: ArgumentHelp("Experiment directory (default runs/NAME).", valueName: "dir"))
  var directory: String?

  @Option(
    name: .customLong("jobs"),
    help: ArgumentHelp(
      "Runs at once, each in its own `hindcast run` process (set [pipeline.model] threads so that "
        + "jobs × threads fits the cores).", valueName: "n"))
  var jobs: Int = 1

  func validate() throws {
    guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be in 1...64") }
  }

  func run() throws {
    let parsed = try ExperimentSpec.load(path: spec)
    let directory = directory ?? "runs/\(parsed.name)"
    var runner = try ExperimentRunner(
      specPath: spec, outDirectory: directory, logger: Logger(label: "hindcast"),
      progress: { StandardError.write($0 + "\n") })
    runner.reporter = StandardErrorReporter()
    if jobs > 1 {
      StandardError.write("each run's own progress goes to its directory's .log file (RUN.log)\n")
    }
    try runner.runAll(jobs: jobs, executor: jobs > 1 ? try Self.processExecutor() : nil)
    let result = try ExperimentResults.load(directory: directory)
    print(ExperimentTable.render(result))
    print("write the report: hindcast report --experiment \(directory) --out docs/results.md")
  }
}

extension ExperimentCommand {
  /// Runs each pipeline run as `hindcast run SPEC --run DIR` in a child process of this same
  /// binary; its standard error goes to `DIR.log`.
  static func processExecutor() throws -> ExperimentRunner.RunExecutor {
    let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    return { specPath, directory in
      let logPath = directory + ".log"
      try FileManager.default.createDirectory(
        atPath: (directory as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      _ = FileManager.default.createFile(atPath: logPath, contents: nil)
      let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
      defer { try? log.close() }
      let process = Process()
      process.executableURL = URL(fileURLWithPath: binary)
      process.arguments = ["run", specPath, "--run", directory]
      process.standardOutput = log
      process.standardError = log
      try process.run()
      process.waitUntilExit()
      guard process.terminationStatus == 0 else {
        throw HindcastError(
          .ioFailure, "`hindcast run` exited with status \(process.terminationStatus)", location: directory,
          hint: "see \(logPath); rerun the experiment to resume")
      }
    }
  }
}

/// A compact text table of an experiment's arms.
enum ExperimentTable {
  static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + fill : fill + text
  }

  static func row(_ cells: [String]) -> String {
    let widths = [20, 9, 16, 10, 14]
    return zip(cells, widths).enumerated().map { pad($1.0, $1.1, left: $0 == 0) }.joined(separator: " ")
  }

  static func render(_ result: FamilyResult) -> String {
    let baseline = result.tunedBaseline?.arm.name ?? "baseline"
    var lines = [
      "\(result.family) (\(result.directory)): base policy greedy pass@1 "
        + (result.basePass1.map { String(format: "%.1f%%", 100 * $0) } ?? "n/a"),
      row(["arm", "lr", "final pass@1", "env calls", "× fewer calls"]),
    ]
    for arm in result.arms {
      let final = arm.final
      let pass = final.map { String(format: "%.1f%% ±%.1f", 100 * $0.pass1, 100 * $0.standardError) } ?? "n/a"
      let name = arm.arm.name + (arm.arm.name == result.spec.primary ? " *" : "")
      let speedup = result.speedup(arm).map { String(format: "%.2f×", $0) } ?? "–"
      lines.append(
        row([name, "\(arm.learningRate)", pass, "\(Int((final?.calls ?? 0).rounded()))", speedup])
      )
    }
    lines.append(
      "(* primary arm; × fewer calls: to reach \(baseline)'s final accuracy, relative to \(baseline), the "
        + "baseline chosen on validation; ± is one standard error over seeds)")
    let conclusion = FamilyConclusion(result)
    lines += conclusion.sentences
    return lines.joined(separator: "\n")
  }
}
