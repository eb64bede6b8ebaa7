import Foundation
import HindcastModel
import HindcastSupport
import HindcastTasks

/// `hindcast gap`: does feedback in context help this policy? The methods only work when the
/// teacher (same model, feedback in context) beats the student (no feedback).
///
/// On test or validation tasks: the student's greedy first attempt; for every failure, second tries with the
/// feedback and critique in context (greedy and at temperature 1), and plain resamples without
/// feedback at temperature 1 as the control. Also the mean per-token log-probability of the
/// canonical solution with and without the feedback context.
public struct GapReport: Codable, Sendable {
  public struct Rate: Codable, Sendable {
    public var fixed: Int
    public var of: Int
    public var rate: Double
    /// 95% normal-approximation interval of the rate.
    public var low: Double
    public var high: Double

    init(_ fixed: Int, _ of: Int) {
      self.fixed = fixed
      self.of = of
      rate = of == 0 ? 0 : Double(fixed) / Double(of)
      let se = of == 0 ? 0 : (rate * (1 - rate) / Double(of)).squareRoot()
      low = max(0, rate - 1.96 * se)
      high = min(1, rate + 1.96 * se)
    }
  }

  /// A paired difference of two second tries on the same failures: per failure `x = fixed by A -
  /// fixed by B` (in {-1, 0, 1}); the mean of `x` with its 95% normal interval
  /// (`mean ± 1.96 sd / sqrt(n)`, sample standard deviation).
  public struct Difference: Codable, Sendable, Equatable {
    public var mean: Double
    public var low: Double
    public var high: Double
    /// Failures fixed by A only and by B only (the discordant pairs).
    public var onlyFirst: Int
    public var onlySecond: Int
    public var of: Int

    init(_ a: [Bool], _ b: [Bool]) {
      let x = zip(a, b).map { (($0 ? 1.0 : 0.0) - ($1 ? 1.0 : 0.0)) }
      of = x.count
      onlyFirst = zip(a, b).filter { $0 && !$1 }.count
      onlySecond = zip(a, b).filter { !$0 && $1 }.count
      mean = x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count)
      let m = mean
      let variance = x.count < 2 ? 0 : x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)
      let half = x.isEmpty ? 0 : 1.96 * (variance / Double(x.count)).squareRoot()
      low = mean - half
      high = mean + half
    }

    /// Whether the interval lies strictly above zero.
    public var clearlyPositive: Bool { low > 0 }
  }

  public var tasks: Int
  public var firstAttemptPassed: Int
  public var feedbackGreedy: Rate
  public var feedbackSampled: Rate
  public var resampleNoFeedback: Rate
  /// How often the greedy feedback try repeated the failed attempt verbatim.
  public var repeatedAttempt: Int
  /// Mean over failures of (teacher - student) per-token log-prob of the canonical solution.
  public var logprobGain: Double
  public var logprobGainStandardError: Double
  /// Greedy feedback try minus plain resample (T=1), paired on the same failures.
  public var greedyMinusResample: Difference
  /// Feedback try at T=1 minus plain resample (T=1), paired on the same failures and seeds.
  public var sampledMinusResample: Difference
}

/// One failure of a gap measurement, for reading what the second tries actually wrote (`hindcast
/// gap --dump`): the first attempt, its feedback, each second try and whether it passed, and the
/// per-token log-prob gain of the canonical solution with the feedback in context.
public struct GapFailure: Codable, Sendable, Equatable {
  public var taskId: String
  public var prompt: String
  public var canonical: String
  public var attempt: String
  public var feedback: String
  public var feedbackGreedy: String
  public var feedbackGreedyPassed: Bool
  public var feedbackSampled: String
  public var feedbackSampledPassed: Bool
  public var resample: String
  public var resamplePassed: Bool
  public var logprobGain: Double
}

public struct GapMeasurement {
  public let tasks: TaskSource
  public let maxTokens: Int
  /// Whether the feedback try's context holds the critique (with `full` feedback only): the
  /// spec's `rewrite.critique`, so the gap measures the teacher the rewrite stage builds.
  public let critique: Bool

  public init(tasks: TaskSource, maxTokens: Int, critique: Bool = true) {
    self.tasks = tasks
    self.maxTokens = maxTokens
    self.critique = critique
  }

  /// The tasks a run's per-round gap is measured on: the first `count` validation tasks (the gap
  /// gates training, so it is a choice and never reads the test split).
  public static func validationTasks(_ source: TaskSource, count: Int) throws -> [TaskRecord] {
    Array(try source.validation().prefix(count))
  }

  /// Measures the gap on `taskList` (all test tasks when nil).
  public func measure(
    policy: Policy, seed: UInt64, level: FeedbackLevel = .full, on taskList: [TaskRecord]? = nil
  ) throws -> GapReport {
    try measureWithFailures(policy: policy, seed: seed, level: level, on: taskList).report
  }

  /// `measure`, plus every failure with its second tries (in task order).
  public func measureWithFailures(
    policy: Policy, seed: UInt64, level: FeedbackLevel = .full, on taskList: [TaskRecord]? = nil
  ) throws -> (report: GapReport, failures: [GapFailure]) {
    let heldOut = try taskList ?? tasks.test()
    let family = tasks.family
    let builder = ContextBuilder(policy: policy, reserve: maxTokens)
    let greedy = SamplingSettings.greedy(maxNewTokens: maxTokens)
    let sampled = SamplingSettings(temperature: 1, maxNewTokens: maxTokens)
    let students = try heldOut.map { try builder.studentPrompt(task: $0.prompt) }
    let first = try policy.generate(prompts: students, settings: greedy, seeds: students.map { _ in 0 })
    var failures:
      [(task: TaskRecord, attempt: String, feedback: String, teacher: [Int32], student: [Int32])] = []
    for (index, task) in heldOut.enumerated() {
      let attempt = try builder.answerText(first[index].tokens)
      let result = family.execute(task: task, attempt: attempt)
      if result.passed { continue }
      let critique = family.critique(task: task, attempt: attempt, result: result)
      let hindsight = ContextBuilder.Hindsight(
        attempt: attempt, feedback: result.feedbackText(level: level),
        critique: level == .full && self.critique ? critique.rendered : nil)
      failures.append(
        (
          task, attempt, hindsight.feedback,
          try builder.teacherPrompt(task: task.prompt, hindsight: hindsight).tokens,
          students[index]
        ))
    }
    let seeds = failures.indices.map { SeedDerivation.derive(seed, [UInt64($0)]) }
    let teacherGreedy = try policy.generate(prompts: failures.map(\.teacher), settings: greedy, seeds: seeds)
    let teacherSampled = try policy.generate(
      prompts: failures.map(\.teacher), settings: sampled, seeds: seeds)
    let resampled = try policy.generate(prompts: failures.map(\.student), settings: sampled, seeds: seeds)
    func fixed(_ generations: [Generation]) throws -> [Bool] {
      try zip(failures, generations).map {
        family.execute(task: $0.task, attempt: try builder.answerText($1.tokens)).passed
      }
    }
    let repeated = try zip(failures, teacherGreedy).filter { try builder.answerText($1.tokens) == $0.attempt }
      .count
    let canonical = try failures.map { try builder.answerTokens($0.task.canonical) }
    let teacherScores = try policy.score(
      prompts: failures.map(\.teacher), continuations: canonical, topK: nil)
    let studentScores = try policy.score(
      prompts: failures.map(\.student), continuations: canonical, topK: nil)
    let gains = zip(teacherScores, studentScores).map { t, s in
      (t.totalLogprob - s.totalLogprob) / Double(max(1, t.logprobs.count))
    }
    let mean = gains.isEmpty ? 0 : gains.reduce(0, +) / Double(gains.count)
    let variance =
      gains.count < 2 ? 0 : gains.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(gains.count - 1)
    let greedyFixed = try fixed(teacherGreedy)
    let sampledFixed = try fixed(teacherSampled)
    let resampledFixed = try fixed(resampled)
    let details = try failures.indices.map { i in
      GapFailure(
        taskId: failures[i].task.id, prompt: failures[i].task.prompt, canonical: failures[i].task.canonical,
        attempt: failures[i].attempt, feedback: failures[i].feedback,
        feedbackGreedy: try builder.answerText(teacherGreedy[i].tokens), feedbackGreedyPassed: greedyFixed[i],
        feedbackSampled: try builder.answerText(teacherSampled[i].tokens),
        feedbackSampledPassed: sampledFixed[i],
        resample: try builder.answerText(resampled[i].tokens), resamplePassed: resampledFixed[i],
        logprobGain: gains[i])
    }
    let report = GapReport(
      tasks: heldOut.count, firstAttemptPassed: heldOut.count - failures.count,
      feedbackGreedy: .init(greedyFixed.filter { $0 }.count, failures.count),
      feedbackSampled: .init(sampledFixed.filter { $0 }.count, failures.count),
      resampleNoFeedback: .init(resampledFixed.filter { $0 }.count, failures.count),
      repeatedAttempt: repeated,
      logprobGain: mean,
      logprobGainStandardError: gains.isEmpty ? 0 : (variance / Double(gains.count)).squareRoot(),
      greedyMinusResample: .init(greedyFixed, resampledFixed),
      sampledMinusResample: .init(sampledFixed, resampledFixed))
    return (report, details)
  }
}
