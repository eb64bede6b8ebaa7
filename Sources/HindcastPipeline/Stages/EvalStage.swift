import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTasks

/// The summary of one eval, written to `rNNNN/eval.json`. No timings: it must be identical for
/// a resumed and an uninterrupted run.
public struct EvalSummary: Codable, Sendable, Equatable {
  public var round: Int
  public var family: String
  public var tasks: Int
  /// First attempt, greedy decoding.
  public var greedyPass1: Double
  /// First attempt at the eval temperature, averaged over samples.
  public var sampledPass1: Double
  /// Any of the samples passes (k = samples).
  public var passAtK: Double
  public var samples: Int
  /// Standard error of greedy pass@1 (binomial).
  public var greedyStandardError: Double

  enum CodingKeys: String, CodingKey {
    case round, family, tasks, samples
    case greedyPass1 = "greedy_pass1"
    case sampledPass1 = "sampled_pass1"
    case passAtK = "pass_at_k"
    case greedyStandardError = "greedy_standard_error"
  }
}

/// Stage `eval`: the round's policy on the held-out tasks, first attempt, no feedback.
public struct EvalStage {
  public let run: Run
  public let tasks: TaskSource

  public func execute(round: Int, policy: Policy) throws {
    let spec = run.spec
    let heldOut = try tasks.heldOut()
    let builder = ContextBuilder(policy: policy, reserve: spec.rollout.maxTokens)
    let greedy = SamplingSettings.greedy(maxNewTokens: spec.rollout.maxTokens)
    let sampled = SamplingSettings(
      temperature: Float(spec.eval.temperature), maxNewTokens: spec.rollout.maxTokens)
    let k = spec.eval.samples
    try run.runShards(round: round, stage: .eval, shardCount: tasks.shardCount(taskCount: heldOut.count)) {
      shard, seed -> ShardOutput<EvalRecord> in
      let slice = Array(tasks.shardSlice(heldOut, shard: shard))
      let prompts = slice.map { builder.student(task: $0.prompt) }
      let first = try policy.generate(prompts: prompts, settings: greedy, seeds: prompts.map { _ in 0 })
      var samplePrompts: [[Int32]] = []
      for prompt in prompts { samplePrompts += Array(repeating: prompt, count: k) }
      let seeds = (0..<samplePrompts.count).map { SeedDerivation.derive(seed, [UInt64($0)]) }
      let samples = try policy.generate(prompts: samplePrompts, settings: sampled, seeds: seeds)
      var budget = Budget()
      var records: [EvalRecord] = []
      for (index, task) in slice.enumerated() {
        let text = Tokenizer.decodeText(first[index].tokens)
        let passed = tasks.family.execute(task: task, attempt: text).passed
        let sampledPassed = (0..<k).map { j in
          tasks.family.execute(task: task, attempt: Tokenizer.decodeText(samples[index * k + j].tokens))
            .passed
        }
        budget.environmentCalls += 1 + k
        budget.generatedTokens +=
          first[index].tokens.count + (0..<k).reduce(0) { $0 + samples[index * k + $1].tokens.count }
        records.append(
          EvalRecord(taskId: task.id, greedyPassed: passed, greedyText: text, sampledPassed: sampledPassed))
      }
      return ShardOutput(records: records, budget: budget)
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
    let n = Double(max(1, records.count))
    let greedy = Double(records.filter(\.greedyPassed).count) / n
    let samples = records.first?.sampledPassed.count ?? 0
    let sampledPasses = records.reduce(0) { $0 + $1.sampledPassed.filter { $0 }.count }
    let summary = EvalSummary(
      round: round, family: run.spec.tasks.family, tasks: records.count, greedyPass1: greedy,
      sampledPass1: samples == 0 ? 0 : Double(sampledPasses) / (n * Double(samples)),
      passAtK: Double(records.filter { $0.sampledPassed.contains(true) }.count) / n, samples: samples,
      greedyStandardError: (greedy * (1 - greedy) / n).squareRoot())
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
      "pass_at_k": summary.passAtK,
    ]
    try run.record(event)
    return summary
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
