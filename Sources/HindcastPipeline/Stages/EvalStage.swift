import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTasks

/// The summary of one eval, written to `rNNNN/eval.json`. No timings: it must be identical for
/// a resumed and an uninterrupted run.
///
/// The top-level scores are those of the **test** split (`split`), the only ones ever reported;
/// `validation` holds the greedy pass@1 every choice is made on (the collapse guard, sweeps).
public struct EvalSummary: Codable, Sendable, Equatable {
  /// Greedy first-attempt scores on the validation split.
  public struct Validation: Codable, Sendable, Equatable {
    public var tasks: Int
    public var greedyPass1: Double
    public var greedyStandardError: Double

    public init(tasks: Int, greedyPass1: Double, greedyStandardError: Double) {
      self.tasks = tasks
      self.greedyPass1 = greedyPass1
      self.greedyStandardError = greedyStandardError
    }

    enum CodingKeys: String, CodingKey {
      case tasks
      case greedyPass1 = "greedy_pass1"
      case greedyStandardError = "greedy_standard_error"
    }
  }

  public var round: Int
  public var family: String
  /// The split the scores below describe: always `test`.
  public var split: TaskSplit = .test
  /// Test tasks (greedy pass@1 is measured on all of them).
  public var tasks: Int
  /// First attempt, greedy decoding.
  public var greedyPass1: Double
  /// First attempt at the eval temperature, averaged over samples and the sampled tasks.
  public var sampledPass1: Double
  /// Any of the samples passes (k = samples), over the sampled tasks.
  public var passAtK: Double
  public var samples: Int
  /// Test tasks that were sampled (the first `eval.sampled_tasks`).
  public var sampledTasks: Int
  /// Standard error of greedy pass@1 (binomial).
  public var greedyStandardError: Double
  public var validation: Validation

  public init(
    round: Int, family: String, tasks: Int, greedyPass1: Double, sampledPass1: Double, passAtK: Double,
    samples: Int, sampledTasks: Int, greedyStandardError: Double, validation: Validation
  ) {
    self.round = round
    self.family = family
    self.tasks = tasks
    self.greedyPass1 = greedyPass1
    self.sampledPass1 = sampledPass1
    self.passAtK = passAtK
    self.samples = samples
    self.sampledTasks = sampledTasks
    self.greedyStandardError = greedyStandardError
    self.validation = validation
  }

  enum CodingKeys: String, CodingKey {
    case round, family, split, tasks, samples, validation
    case greedyPass1 = "greedy_pass1"
    case sampledPass1 = "sampled_pass1"
    case passAtK = "pass_at_k"
    case sampledTasks = "sampled_tasks"
    case greedyStandardError = "greedy_standard_error"
  }
}

/// Stage `eval`: the round's policy on the validation tasks (greedy) and the test tasks (greedy,
/// and `eval.samples` samples on the first `eval.sampled_tasks`), first attempt, no feedback.
/// Validation shards come first, then test shards; every record names its split.
public struct EvalStage {
  public let run: Run
  public let tasks: TaskSource

  public func execute(round: Int, policy: Policy) throws {
    let spec = run.spec
    let validation = try tasks.validation()
    let test = try tasks.test()
    let validationShards = tasks.shardCount(taskCount: validation.count)
    let builder = ContextBuilder(policy: policy, reserve: spec.rollout.maxTokens)
    let greedy = SamplingSettings.greedy(maxNewTokens: spec.rollout.maxTokens)
    let sampled = SamplingSettings(
      temperature: Float(spec.eval.temperature), maxNewTokens: spec.rollout.maxTokens)
    let shardCount = validationShards + tasks.shardCount(taskCount: test.count)
    try run.runShards(round: round, stage: .eval, shardCount: shardCount) {
      shard, seed -> ShardOutput<EvalRecord> in
      let retries = policy.retries
      let split: TaskSplit = shard < validationShards ? .validation : .test
      let local = split == .validation ? shard : shard - validationShards
      let offset = local * spec.tasks.tasksPerShard
      let slice = Array(tasks.shardSlice(split == .validation ? validation : test, shard: local))
      // Samples only for the first `eval.sampled_tasks` test tasks.
      let k = spec.eval.samples
      let sampledCount = split == .test ? max(0, min(slice.count, spec.eval.sampledTasks - offset)) : 0
      let prompts = try slice.map { try builder.studentPrompt(task: $0.prompt) }
      let first = try policy.generate(prompts: prompts, settings: greedy, seeds: prompts.map { _ in 0 })
      var samplePrompts: [[Int32]] = []
      for prompt in prompts.prefix(sampledCount) { samplePrompts += Array(repeating: prompt, count: k) }
      let seeds = (0..<samplePrompts.count).map { SeedDerivation.derive(seed, [UInt64($0)]) }
      let samples = try policy.generate(prompts: samplePrompts, settings: sampled, seeds: seeds)
      var budget = Budget()
      var records: [EvalRecord] = []
      for (index, task) in slice.enumerated() {
        let text = try builder.answerText(first[index].tokens)
        let passed = tasks.family.execute(task: task, attempt: text).passed
        let drawn = index < sampledCount ? Array(samples[(index * k)..<(index * k + k)]) : []
        let sampledPassed = try drawn.map {
          tasks.family.execute(task: task, attempt: try builder.answerText($0.tokens)).passed
        }
        budget.environmentCalls += 1 + drawn.count
        budget.generatedTokens += first[index].tokens.count + drawn.reduce(0) { $0 + $1.tokens.count }
        budget.modelTokens +=
          (1 + drawn.count) * prompts[index].count + first[index].tokens.count
          + drawn.reduce(0) { $0 + $1.tokens.count }
        records.append(
          EvalRecord(
            taskId: task.id, split: split, greedyPassed: passed, greedyText: text,
            sampledPassed: sampledPassed, policy: policy.servedBy))
      }
      return ShardOutput(records: records, budget: budget, values: policy.retryValues(since: retries))
    }
    try writeSummary(round: round)
  }

  /// Writes `rNNNN/eval.json` once every eval shard of the round is complete (any worker may be
  /// the one that finishes last). Returns nil while shards are missing.
  @discardableResult
  public func writeSummary(round: Int) throws -> EvalSummary? {
    guard try run.isComplete(round: round, stage: .eval) else { return nil }
    let count = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .eval)] ?? 0
    var records: [EvalRecord] = []
    for shard in 0..<count {
      records += try run.readShard(EvalRecord.self, round: round, stage: .eval, shard: shard)
    }
    let summary = Self.summarize(records, round: round, family: run.spec.tasks.family)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let bytes = Array(try encoder.encode(summary)) + [10]
    let name = run.layout.evalName(round: round)
    try AtomicFile.write(bytes, to: run.layout.path(name))
    try run.withManifest { manifest in
      manifest.units[RunManifest.stageKey(round: round, stage: .eval)] = RunManifest.Unit(
        path: name, sha256: SHA256.hex(bytes), records: 0)
    }
    var event = MetricsEvent(stage: "eval-summary", round: round, worker: run.worker.index)
    event.values = [
      "greedy_pass1": summary.greedyPass1, "sampled_pass1": summary.sampledPass1,
      "pass_at_k": summary.passAtK, "validation_greedy_pass1": summary.validation.greedyPass1,
    ]
    try run.record(event)
    return summary
  }

  /// The summary of one eval's records (validation and test together).
  static func summarize(_ records: [EvalRecord], round: Int, family: String) -> EvalSummary {
    func rate(_ passed: Int, _ count: Int) -> Double { count == 0 ? 0 : Double(passed) / Double(count) }
    func standardError(_ p: Double, _ count: Int) -> Double {
      count == 0 ? 0 : (p * (1 - p) / Double(count)).squareRoot()
    }
    let test = records.filter { $0.split == .test }
    let validation = records.filter { $0.split == .validation }
    let sampled = test.filter { !$0.sampledPassed.isEmpty }
    let samples = sampled.first?.sampledPassed.count ?? 0
    let sampledPasses = sampled.reduce(0) { $0 + $1.sampledPassed.filter { $0 }.count }
    let greedy = rate(test.filter(\.greedyPassed).count, test.count)
    let validationGreedy = rate(validation.filter(\.greedyPassed).count, validation.count)
    return EvalSummary(
      round: round, family: family, tasks: test.count, greedyPass1: greedy,
      sampledPass1: rate(sampledPasses, sampled.count * samples),
      passAtK: rate(sampled.filter { $0.sampledPassed.contains(true) }.count, sampled.count),
      samples: samples,
      sampledTasks: sampled.count, greedyStandardError: standardError(greedy, test.count),
      validation: EvalSummary.Validation(
        tasks: validation.count, greedyPass1: validationGreedy,
        greedyStandardError: standardError(validationGreedy, validation.count)))
  }

  /// The summary of a completed eval, or nil.
  public static func summary(run: Run, round: Int) throws -> EvalSummary? {
    let path = run.layout.path(run.layout.evalName(round: round))
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    do {
      return try JSONDecoder().decode(EvalSummary.self, from: Data(try AtomicFile.read(path)))
    } catch {
      throw HindcastError(
        .corruptFile, "eval summary is not valid: \(DecodingErrorText.describe(error))", location: path)
    }
  }
}
