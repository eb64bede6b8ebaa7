import ArgumentParser
import Foundation
import HindcastPipeline

/// `hindcast status`: what is done in a run, the budget spent and the latest eval.
struct StatusCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "Show a run's progress per round and stage, budget spent and latest eval.")

  @OptionGroup var options: RunOptions

  func run() throws {
    let run = try options.open(readOnly: true)
    let inspector = RunInspector(run: run)
    print(
      "run \(run.layout.root)  spec '\(run.spec.name)'  family \(run.spec.tasks.family)  rounds \(run.spec.rounds)"
    )
    if run.spec.policy.backend == .openai {
      let model = run.spec.policy.model.map { " (model '\($0)')" } ?? ""
      print("policy: served by \(run.spec.policy.baseURL)\(model); trained outside Hindcast")
    } else {
      print(
        "base policy: \(try PolicyStore(run: run).exists(round: 0) ? "done" : "not yet (run `hindcast pretrain`)")"
      )
    }
    print("round  stage      shards")
    for status in try inspector.stages() {
      let total = status.total.map(String.init) ?? "?"
      let mark = status.total == status.done ? "done" : "partial"
      print(
        String(format: "%5d  %-9@  %d/%@ %@", status.round, status.stage.rawValue, status.done, total, mark))
    }
    let budget = try inspector.budget()
    let torn = try inspector.tornMetricsLines()
    if !torn.isEmpty {
      print(
        "warning: \(run.layout.metrics): \(torn.count) torn line(s) (\(torn.prefix(5).map(String.init).joined(separator: ", "))),"
          + " cut short by a crash; their events are not in the budget")
    }
    if !budget.isEmpty {
      print("budget        env calls  generated  teacher-scored  trained  wall")
      for (stage, total) in budget.sorted(by: { $0.key < $1.key }) {
        print(
          String(
            format: "%-12@ %10d %10d %15d %8d  %@", stage, total.environmentCalls, total.generatedTokens,
            total.teacherScoredTokens, total.trainingTokens, ProgressLine.duration(total.wallSeconds)))
      }
    }
    for round in stride(from: run.spec.rounds, through: 0, by: -1) {
      if let summary = try EvalStage.summary(run: run, round: round) {
        print(
          String(
            format:
              "latest eval: round %d, validation greedy pass@1 %.1f%% on %d tasks; test greedy pass@1 %.1f%% "
              + "on %d tasks, sampled %.1f%%, pass@%d %.1f%% on %d",
            round, 100 * summary.validation.greedyPass1, summary.validation.tasks, 100 * summary.greedyPass1,
            summary.tasks, 100 * summary.sampledPass1, summary.samples, 100 * summary.passAtK,
            summary.sampledTasks))
        break
      }
    }
  }
}

/// `hindcast verify`: checks every file the manifest lists.
struct VerifyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Check every shard, checkpoint and summary of a run against the manifest's hashes.")

  @OptionGroup var options: RunOptions

  @Flag(help: "Forget damaged units in the manifest so that rerunning their stage recomputes them.")
  var repair = false

  func run() throws {
    let run = try options.open(readOnly: !repair)
    let (checked, problems) = try RunInspector(run: run).verify(repair: repair)
    for problem in problems { print("damaged: \(problem)") }
    for warning in RunInspector(run: run).memoryWarnings() { print("warning: \(warning)") }
    if problems.isEmpty {
      print("ok: \(checked) units verified in \(run.layout.root)")
    } else {
      print(
        "\(problems.count) of \(checked) units damaged"
          + (repair ? "; forgotten, rerun their stages" : "; rerun with --repair"))
      throw ExitCode(1)
    }
  }
}
