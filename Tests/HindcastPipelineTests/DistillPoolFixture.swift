import Foundation
import HindcastModel
import HindcastSupport
import HindcastTasks

@testable import HindcastPipeline

/// A small fixed pool of records for distill-stage tests: real arith tasks and executor feedback
/// on attempts that are the canonical solution or a corruption of it, with seeded log-probs and
/// teacher scores. It includes every case the join must skip (an empty attempt, one too long for
/// the context, a rollout without feedback) and a group whose rewards are all equal.
struct DistillPoolFixture {
  let spec: PipelineSpec
  let tasks: [TaskRecord]
  var rollouts: [RolloutRecord] = []
  var feedback: [FeedbackRecord] = []
  var rewrites: [RewriteRecord] = []
  let contextLength: Int
  let builder: ContextBuilder

  /// `samples` rollouts for each of `taskCount` tasks; task 0's group all pass (equal rewards).
  init(specText: String = TinySpec.text, taskCount: Int = 4, samples: Int = 4, seed: UInt64 = 7) throws {
    spec = try PipelineSpec.parse(text: specText, source: "fixture.toml")
    let source = try TaskSource(spec: spec)
    tasks = Array(try source.train(round: 0).prefix(taskCount))
    contextLength = spec.model.config.contextLength
    builder = ContextBuilder(contextLength: contextLength, reserve: spec.rollout.maxTokens)
    var rng = SeededRandom(seed: seed)
    let family = source.family
    for (t, task) in tasks.enumerated() {
      for k in 0..<samples {
        var text = task.canonical
        // Task 0 always passes; elsewhere sample 0 passes and the others are corrupted.
        if t != 0 && k != 0 {
          var bytes = Array(text.utf8)
          let index = (k * 7 + t) % max(1, bytes.count)
          if bytes.indices.contains(index) {
            bytes[index] = bytes[index] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
          }
          text = String(decoding: bytes, as: UTF8.self)
        }
        var tokens = ContextBuilder.completion(text)
        if t == 1 && k == 3 { tokens = [] }
        if t == 2 && k == 3 { tokens = [Int32](repeating: tokens.first ?? 1, count: contextLength) }
        let id = "r0000/\(task.id)/s\(k)"
        let logprobs = tokens.map { _ in -Float(rng.nextUnitDouble() * 3) }
        rollouts.append(
          RolloutRecord(
            id: id, round: 0, taskId: task.id, sample: k, tokens: tokens, text: text, logprobs: logprobs,
            finish: "stop", temperature: 1, maxTokens: spec.rollout.maxTokens))
        if t == 3 && k == 2 { continue }  // no feedback for this one
        let result = family.execute(task: task, attempt: text)
        let critique = family.critique(task: task, attempt: text, result: result)
        let located: Int? =
          result.passed || tokens.isEmpty || (t == 3 && k == 1) ? nil : min(5, tokens.count - 1)
        feedback.append(
          FeedbackRecord(
            id: "f-" + id, rolloutId: id, taskId: task.id, round: 0, sample: k, passed: result.passed,
            reward: result.passed ? 1 : 0, result: result, critique: critique, firstErrorToken: located))
        let teacherTokens = builder.teacher(
          task: task.prompt,
          hindsight: .init(attempt: text, feedback: result.feedback, critique: critique.rendered)
        ).tokens
        var topIds: [[Int32]] = []
        var topLogprobs: [[Float]] = []
        for j in tokens.indices {
          let first = tokens[j]
          let others = (1...3).map { Int32((Int(first) + $0 * 17) % Tokenizer.vocabSize) }
          topIds.append([first] + others)
          let p = 0.4 + 0.5 * rng.nextUnitDouble()
          let masses: [Double] = [p, (1 - p) / 4, (1 - p) / 5, (1 - p) / 6]
          topLogprobs.append(masses.map { Float(Foundation.log($0)) })
        }
        let hindsight =
          result.passed
          ? []
          : [
            HindsightSample(
              text: task.canonical, tokens: ContextBuilder.completion(task.canonical), verified: true,
              kind: "pass"),
            HindsightSample(text: text, tokens: tokens, verified: false, kind: "wrong"),
          ]
        rewrites.append(
          RewriteRecord(
            id: "w-" + id, feedbackId: "f-" + id, rolloutId: id, taskId: task.id, round: 0,
            teacherContext: Tokenizer.decode(teacherTokens), teacherTokens: teacherTokens,
            siblingRolloutId: nil,
            notes: [], hindsight: hindsight, teacherLogprobs: topLogprobs.map { $0.first ?? 0 },
            teacherTopIds: topIds, teacherTopLogprobs: topLogprobs))
      }
    }
  }

  var tasksById: [String: TaskRecord] { Dictionary(uniqueKeysWithValues: tasks.map { ($0.id, $0) }) }

  /// The joined views of the fixture (one shard).
  func views() -> [RolloutView] {
    DistillStage.join(
      rollouts: rollouts, feedback: feedback, rewrites: rewrites, tasks: tasksById, builder: builder,
      contextLength: contextLength)
  }

  /// The pool the given spec's active objectives build from the fixture.
  func pool(_ spec: PipelineSpec) throws -> [DistillStage.Example] {
    try DistillStage.pool(views: views(), objectives: ObjectiveRegistry.active(spec.distill).map(\.objective))
  }
}
