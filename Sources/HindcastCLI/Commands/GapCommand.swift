import ArgumentParser
import Foundation
import HindcastModel
import HindcastPipeline
import HindcastStorage
import HindcastTasks
import HindcastTraining

/// `hindcast gap`: measures the teacher-student gap of a run's policy before training on it.
struct GapCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gap",
    abstract: "Measure how much feedback in context helps the policy (the teacher-student gap).",
    discussion: """
      On test (or validation) tasks whose greedy first attempt fails, compares second tries with the feedback \
      and critique in context (greedy and temperature 1) against plain resampling without feedback, \
      and reports the per-token log-probability gain of the canonical solution, with 95% intervals. \
      Self-distillation can only help when this gap is clearly positive.
      """)

  @OptionGroup var options: RunOptions

  @Option(help: "Round whose policy to measure (0 = the base policy).")
  var round: Int = 0

  @Option(
    help: "Measure this checkpoint directory instead of a round's policy (the run gives tasks and spec).")
  var checkpoint: String?

  @Option(help: "Task split: test (the reported numbers) or validation (what choices are made on).")
  var split: String = "test"

  @Option(help: "Measure on the first N tasks of the split only (default: all of them).")
  var tasks: Int?

  @Option(help: "Feedback level: full, location or bare.")
  var feedback: String = "full"

  @Flag(help: "Print the report as JSON.")
  var json = false

  @Option(
    help: ArgumentHelp(
      "Also write every failure (attempt, feedback, each second try, whether it passed, log-prob gain) to this JSON Lines file.",
      valueName: "file.jsonl"))
  var dump: String?

  func run() throws {
    guard let level = FeedbackLevel(rawValue: feedback) else {
      throw ValidationError("--feedback must be full, location or bare; got '\(feedback)'")
    }
    let run = try options.open()
    let runner = try PipelineRunner(run: run)
    if let tasks, tasks < 1 { throw ValidationError("--tasks must be at least 1; got \(tasks)") }
    let policy: Policy
    if let checkpoint {
      let weights = try CheckpointIO.readWeights(checkpoint)
      policy = EmbeddedPolicy(model: try Transformer(config: weights.config, parameters: weights.parameters))
    } else {
      policy = try runner.policy(.eval, round: round)  // the embedded checkpoint or the spec's server
    }
    guard let chosen = TaskSplit(rawValue: split), chosen != .train else {
      throw ValidationError("--split must be test or validation; got '\(split)'")
    }
    let all = try runner.tasks.evaluation(chosen)
    let subset = Array(all.prefix(tasks ?? all.count))
    let (report, failures) = try GapMeasurement(
      tasks: runner.tasks, maxTokens: run.spec.rollout.maxTokens, critique: run.spec.rewrite.critique
    )
    .measureWithFailures(
      policy: policy, seed: run.seed(round: round, stage: .eval, shard: 1_000_000),
      level: level, on: subset)
    if let dump {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
      var bytes: [UInt8] = []
      for failure in failures {
        bytes += try encoder.encode(failure)
        bytes.append(UInt8(ascii: "\n"))
      }
      try AtomicFile.write(bytes, to: dump)
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
      return
    }
    func line(_ name: String, _ r: GapReport.Rate) -> String {
      String(
        format: "  %@ %4d/%-4d %5.1f%%  [%4.1f, %4.1f]",
        name.padding(toLength: 34, withPad: " ", startingAt: 0), r.fixed, r.of, 100 * r.rate, 100 * r.low,
        100 * r.high)
    }
    func difference(_ name: String, _ d: GapReport.Difference) -> String {
      String(
        format:
          "  %@ %+5.1f points [%+5.1f, %+5.1f]  (%d only with feedback, %d only by resampling, of %d)",
        name.padding(toLength: 34, withPad: " ", startingAt: 0), 100 * d.mean, 100 * d.low, 100 * d.high,
        d.onlyFirst, d.onlySecond, d.of)
    }
    print(
      "gap of \(checkpoint ?? run.layout.policyName(round: round)) on \(report.tasks) \(chosen.rawValue) \(run.spec.tasks.family) tasks"
    )
    print("  first attempt (greedy) passed     \(report.firstAttemptPassed)/\(report.tasks)")
    print("  second try on failures:                fixed    rate   95% interval")
    print(line("feedback in context, greedy", report.feedbackGreedy))
    print(line("feedback in context, temperature 1", report.feedbackSampled))
    print(line("no feedback, resample at T=1", report.resampleNoFeedback))
    print("  paired difference on the same failures (95% interval):")
    print(difference("greedy feedback - resample", report.greedyMinusResample))
    print(difference("T=1 feedback - resample", report.sampledMinusResample))
    print("  greedy feedback try repeated the attempt verbatim: \(report.repeatedAttempt)")
    print(
      String(
        format: "  canonical solution log-prob gain per token: %+.3f nats (± %.3f, 95%%)", report.logprobGain,
        1.96 * report.logprobGainStandardError))
  }
}
