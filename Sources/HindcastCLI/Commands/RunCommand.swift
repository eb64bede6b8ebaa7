import ArgumentParser
import Foundation
import HindcastPipeline
import Logging

/// `hindcast run SPEC`: every round of a pipeline, skipping what is done.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run all rounds of a pipeline spec, resuming from whatever is already complete.",
    discussion: """
      Pretrains the base policy if needed, then for each round: eval, rollout, feedback, rewrite, \
      memory, distill; and a final eval. Kill it at any moment and run the same command again: \
      the final outputs are identical to an uninterrupted run.
      """)

  @Argument(help: ArgumentHelp("Pipeline spec.", valueName: "pipelines/NAME.toml"))
  var spec: String

  @Option(
    name: .customLong("run"), help: ArgumentHelp("Run directory (default runs/NAME).", valueName: "dir"))
  var directory: String?

  func run() throws {
    let parsed = try PipelineSpec.load(path: spec)
    let directory = directory ?? "runs/\(parsed.name)"
    let run = try Run(directory: directory, specPath: spec, logger: Logger(label: "hindcast"))
    run.reporter = StandardErrorReporter()
    let summaries = try PipelineRunner(run: run).runAll()
    print(
      EvalTable.render(
        summaries, title: "pass rate by round (\(run.spec.tasks.family), \(directory))",
        rolledBack: Set(try run.manifest().rollbacks), reference: run.spec.guardReference))
  }
}

/// A compact text table of eval summaries.
enum EvalTable {
  /// `rolledBack`: rounds whose policy the collapse guard replaced by an earlier one; their rows
  /// are marked, and the final figure is that of the policy in force at the end (`GuardState.replay`).
  static func render(
    _ summaries: [EvalSummary], title: String, rolledBack: Set<Int> = [],
    reference: PipelineSpec.GuardReference = .previous
  ) -> String {
    var lines = [
      title,
      "       validation (chosen on)   test (reported)",
      "round  greedy pass@1            greedy pass@1      sampled pass@1  pass@k",
    ]
    for s in summaries {
      lines.append(
        String(
          format: "%5d  %5.1f%% (± %4.1f)          %5.1f%% (± %4.1f)   %5.1f%%          %5.1f%%", s.round,
          100 * s.validation.greedyPass1, 100 * s.validation.greedyStandardError, 100 * s.greedyPass1,
          100 * s.greedyStandardError, 100 * s.sampledPass1, 100 * s.passAtK)
          + (rolledBack.contains(s.round) ? "  rolled back (guard, on validation)" : ""))
    }
    if let first = summaries.first {
      lines.append(
        "validation: \(first.validation.tasks) tasks; test: \(first.tasks) tasks, sampled pass@1 and "
          + "pass@\(first.samples) on the first \(first.sampledTasks)")
    }
    if let first = summaries.first,
      let last = GuardState.replay(summaries, rolledBack: rolledBack, reference: reference)?.inForce,
      summaries.count > 1
    {
      let delta = 100 * (last.greedyPass1 - first.greedyPass1)
      lines.append(
        String(
          format: "base %.1f%% -> final %.1f%% (%@%.1f points) test greedy pass@1 on %d tasks%@",
          100 * first.greedyPass1, 100 * last.greedyPass1, delta >= 0 ? "+" : "", delta, last.tasks,
          last.round == summaries.last?.round ? "" : " (the policy of round \(last.round), kept by the guard)"
        ))
    }
    return lines.joined(separator: "\n")
  }
}
