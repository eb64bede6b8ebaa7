import ArgumentParser
import Foundation
import HindcastPipeline
import Logging

/// `hindcast experiment SPEC`: every arm × seed of an experiment, resumable.
struct ExperimentCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "experiment",
    abstract: "Compare learning signals: run every arm of an experiment spec over several seeds.",
    discussion: """
      Pretrains one base policy, sweeps each arm's learning rate on the first seed, then runs every \
      seed at the chosen rate. Each run is an ordinary pipeline run under OUT/runs/; kill the command \
      at any moment and run it again to resume. Then write the report with `hindcast report \
      --experiment OUT --out docs/results.md`. See docs/experiments.md.
      """)

  @Argument(help: ArgumentHelp("Experiment spec.", valueName: "pipelines/experiment-FAMILY.toml"))
  var spec: String

  @Option(
    name: .customLong("out"),
    help: ArgumentHelp("Experiment directory (default runs/NAME).", valueName: "dir"))
  var directory: String?

  func run() throws {
    let parsed = try ExperimentSpec.load(path: spec)
    let directory = directory ?? "runs/\(parsed.name)"
    let runner = try ExperimentRunner(
      specPath: spec, outDirectory: directory, logger: Logger(label: "hindcast"),
      progress: { StandardError.write($0 + "\n") })
    try runner.runAll()
    let result = try ExperimentResults.load(directory: directory)
    print(ExperimentTable.render(result))
    print("write the report: hindcast report --experiment \(directory) --out docs/results.md")
  }
}

/// A compact text table of an experiment's arms.
enum ExperimentTable {
  static func render(_ result: FamilyResult) -> String {
    let baseline = result.bestBaseline?.arm.rawValue ?? "baseline"
    var lines = [
      "\(result.family) (\(result.directory)): base policy greedy pass@1 "
        + (result.basePass1.map { String(format: "%.1f%%", 100 * $0) } ?? "n/a"),
      String(
        format: "%-20@ %9@ %14@ %10@ %16@", "arm", "lr", "final pass@1", "env calls", "× fewer calls"),
    ]
    for arm in result.arms {
      let final = arm.final
      let pass = final.map { String(format: "%.1f%% ±%.1f", 100 * $0.pass1, 100 * $0.standardError) } ?? "n/a"
      let speedup = result.speedup(arm).map { String(format: "%.2f×", $0) } ?? "–"
      lines.append(
        String(
          format: "%-20@ %9@ %14@ %10d %16@", arm.arm.rawValue, "\(arm.learningRate)", pass,
          Int((final?.calls ?? 0).rounded()), speedup))
    }
    lines.append("(× fewer calls: to reach \(baseline)'s final accuracy, relative to \(baseline))")
    return lines.joined(separator: "\n")
  }
}
