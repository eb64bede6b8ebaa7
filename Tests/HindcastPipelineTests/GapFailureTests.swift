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
}
