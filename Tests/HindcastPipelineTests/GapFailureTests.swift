import Foundation
import HindcastModel
import HindcastTasks
import Testing

@testable import HindcastPipeline

/// `hindcast gap --dump`: the per-failure records agree with the report they were counted into.
@Suite struct GapFailureTests {
  @Test func failuresAddUpToTheReport() throws {
    let spec = try PipelineSpec.parse(text: TinySpec.text, source: "tiny.toml")
    let source = try TaskSource(spec: spec)
    let model = try Transformer(config: spec.model.config, seed: 3)
    let policy = EmbeddedPolicy(model: model)
    let tasks = Array(try source.pretraining(count: 8))
    let measurement = GapMeasurement(tasks: source, maxTokens: spec.rollout.maxTokens)
    let (report, failures) = try measurement.measureWithFailures(policy: policy, seed: 9, on: tasks)
    // The plain report is the same measurement.
    let plain = try measurement.measure(policy: policy, seed: 9, on: tasks)
    #expect(
      plain.logprobGain == report.logprobGain && plain.feedbackGreedy.fixed == report.feedbackGreedy.fixed)
    #expect(failures.count == report.feedbackGreedy.of)
    #expect(failures.count == tasks.count - report.firstAttemptPassed)
    #expect(failures.filter(\.feedbackGreedyPassed).count == report.feedbackGreedy.fixed)
    #expect(failures.filter(\.feedbackSampledPassed).count == report.feedbackSampled.fixed)
    #expect(failures.filter(\.resamplePassed).count == report.resampleNoFeedback.fixed)
    #expect(failures.filter { $0.feedbackGreedy == $0.attempt }.count == report.repeatedAttempt)
    let mean = failures.map(\.logprobGain).reduce(0, +) / Double(max(1, failures.count))
    #expect(abs(mean - report.logprobGain) < 1e-9)
    for failure in failures {
      let task = try #require(tasks.first { $0.id == failure.taskId })
      let result = source.family.execute(task: task, attempt: failure.attempt)
      #expect(!result.passed && failure.canonical == task.canonical)
      #expect(failure.feedback == result.feedbackText(level: .full))
      #expect(source.family.execute(task: task, attempt: failure.resample).passed == failure.resamplePassed)
    }
  }

  /// With `critique: false` (the spec's `rewrite.critique = false`) the feedback tries' contexts
  /// hold no critique segment; with the default they do.
  @Test func theCritiqueSwitchReachesTheFeedbackTries() throws {
    let spec = try PipelineSpec.parse(text: TinySpec.text, source: "tiny.toml")
    let source = try TaskSource(spec: spec)
    let tasks = Array(try source.pretraining(count: 8))
    let critique = Tokenizer.Special.critique.rawValue
    func prompts(critique shown: Bool) throws -> [[Int32]] {
      let policy = PromptRecorder(EmbeddedPolicy(model: try Transformer(config: spec.model.config, seed: 3)))
      _ = try GapMeasurement(tasks: source, maxTokens: spec.rollout.maxTokens, critique: shown)
        .measure(policy: policy, seed: 9, on: tasks)
      return policy.prompts
    }
    let with = try prompts(critique: true)
    let without = try prompts(critique: false)
    #expect(with.contains { $0.contains(critique) }, "a fresh model fails, so some contexts hold critiques")
    #expect(!without.contains { $0.contains(critique) })
    #expect(with.count == without.count)
  }
}

/// A policy that records every prompt it is asked to continue, then asks `inner`.
final class PromptRecorder: Policy {
  let inner: Policy
  var prompts: [[Int32]] = []
  init(_ inner: Policy) { self.inner = inner }
  var contextLength: Int { inner.contextLength }
  var alignsAnswers: Bool { inner.alignsAnswers }
  var reportsSamplingLogprobs: Bool { inner.reportsSamplingLogprobs }
  func generate(prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64]) throws -> [Generation] {
    self.prompts += prompts
    return try inner.generate(prompts: prompts, settings: settings, seeds: seeds)
  }
  func score(prompts: [[Int32]], continuations: [[Int32]], topK: Int?) throws -> [ScoredSequence] {
    self.prompts += prompts
    return try inner.score(prompts: prompts, continuations: continuations, topK: topK)
  }
}
