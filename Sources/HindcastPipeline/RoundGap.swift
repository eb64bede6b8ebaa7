import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTasks

/// The teacher-student gap of each round's policy, measured by the pipeline on a small sample of
/// validation tasks (`distill.gap_tasks`, `GapMeasurement.validationTasks`) and kept as
/// `rNNNN/gap.json` in the run directory (written atomically, reused on resume) plus a `gap` metrics event.
/// `distill.gap_gate` scales teacher objectives by it.
public struct RoundGap {
  public let run: Run
  public let tasks: TaskSource

  public init(run: Run, tasks: TaskSource) {
    self.run = run
    self.tasks = tasks
  }

  /// How much of the teacher objectives' weight a round keeps.
  public struct Gate: Sendable, Equatable {
    /// Greedy feedback-try fix rate minus plain-resample fix rate, and its interval's low end.
    public var difference: Double
    public var low: Double
    /// `min(1, difference / reference)` when the interval is above zero, else 0.
    public var factor: Double

    public init(report: GapReport, reference: Double) {
      difference = report.greedyMinusResample.mean
      low = report.greedyMinusResample.low
      factor = low > 0 ? min(1, max(0, difference) / reference) : 0
    }
  }

  public func path(round: Int) -> String {
    run.layout.path(RunLayout.roundName(round) + "/gap.json")
  }

  /// The stored gap of `round`'s policy, or nil.
  public func load(round: Int) throws -> GapReport? {
    let path = path(round: round)
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    do {
      return try JSONDecoder().decode(GapReport.self, from: Data(try AtomicFile.read(path)))
    } catch let error as HindcastError {
      throw error
    } catch {
      throw HindcastError(
        .corruptFile, "gap record is not valid: \(error)", location: path,
        hint: "delete it; the next run measures the gap again")
    }
  }

  /// The gap of `round`'s policy: the stored one, or measured now on `distill.gap_tasks`
  /// validation tasks (at least one), stored and logged.
  public func measure(round: Int, policy model: Transformer) throws -> GapReport {
    if let stored = try load(round: round) { return stored }
    let spec = run.spec
    let started = Date()
    let sample = try GapMeasurement.validationTasks(tasks, count: max(1, spec.distill.gapTasks))
    let report = try GapMeasurement(
      tasks: tasks, maxTokens: spec.rollout.maxTokens, critique: spec.rewrite.critique
    ).measure(
      policy: EmbeddedPolicy(model: model), seed: run.seed(round: round, stage: .eval, shard: 2_000_000),
      level: FeedbackLevel(rawValue: spec.rewrite.feedback.rawValue) ?? .full, on: sample)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try AtomicFile.write(Array(try encoder.encode(report)), to: path(round: round))
    var event = MetricsEvent(stage: "gap", round: round, worker: run.worker.index)
    event.records = report.tasks
    event.wallSeconds = Date().timeIntervalSince(started)
    event.values = [
      "first_attempt_pass": Double(report.firstAttemptPassed) / Double(max(1, report.tasks)),
      "feedback_greedy_fixed": report.feedbackGreedy.rate,
      "feedback_sampled_fixed": report.feedbackSampled.rate,
      "resample_fixed": report.resampleNoFeedback.rate,
      "greedy_minus_resample": report.greedyMinusResample.mean,
      "greedy_minus_resample_low": report.greedyMinusResample.low,
      "greedy_minus_resample_high": report.greedyMinusResample.high,
      "sampled_minus_resample": report.sampledMinusResample.mean,
      "sampled_minus_resample_low": report.sampledMinusResample.low,
      "logprob_gain": report.logprobGain,
    ]
    try run.record(event)
    return report
  }

  /// The pipeline's per-round measurement: does nothing when `distill.gap_tasks` is 0.
  public func recordIfEnabled(round: Int) throws {
    guard run.spec.distill.gapTasks > 0 else { return }
    _ = try measure(round: round, policy: try PolicyStore(run: run).load(round: round))
  }

  /// The gate of `round` (measuring the gap first if needed).
  public func gate(round: Int, policy: Transformer) throws -> Gate {
    Gate(report: try measure(round: round, policy: policy), reference: run.spec.distill.gapReference)
  }
}
