import Foundation
import HindcastModel
import HindcastTasks
import Logging
import Testing

@testable import HindcastPipeline

/// Stage 0's own-mistake revisions (`pretrain.own_temperature`): greedy attempts do not depend on
/// the sampling seed and are the policy's greedy first attempts; temperature-1 attempts do.
@Suite struct OwnMistakeTests {
  func stage(in directory: String, temperature: String) throws -> PretrainStage {
    let text = TinySpec.text.replacingOccurrences(
      of: "[pretrain]\n", with: "[pretrain]\nown_temperature = \(temperature)\n")
    try text.write(toFile: directory + "/spec.toml", atomically: true, encoding: .utf8)
    let run = try Run(
      directory: directory + "/run", specPath: directory + "/spec.toml", logger: Logger(label: "test"))
    return PretrainStage(run: run, tasks: try TaskSource(spec: run.spec))
  }

  @Test func greedyOwnMistakesAreTheGreedyAttemptsWhateverTheSeed() throws {
    let directory = try BinaryRunner.temporaryDirectory("own-mistakes")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let greedy = try stage(in: directory, temperature: "0")
    #expect(greedy.run.spec.pretrain.ownTemperature == 0)
    let model = try Transformer(config: greedy.run.spec.model.config, seed: 11)
    let builder = ContextBuilder(config: model.config, reserve: greedy.run.spec.rollout.maxTokens)
    let tasks = Array(try greedy.tasks.pretraining(count: 6))
    let first = try greedy.ownMistakes(model: model, tasks: tasks, builder: builder, seed: 1)
    let second = try greedy.ownMistakes(model: model, tasks: tasks, builder: builder, seed: 2)
    // An untrained model fails every task, so every attempt becomes a revision example.
    #expect(first.count == tasks.count)
    #expect(first.map(\.tokens) == second.map(\.tokens))
    // Each example's attempt is the model's greedy generation for its task.
    let settings = SamplingSettings.greedy(maxNewTokens: greedy.run.spec.rollout.maxTokens)
    let prompts = tasks.map { builder.student(task: $0.prompt) }
    let generations = try Sampler.generate(
      model: model, prompts: prompts, settings: settings, seeds: prompts.map { _ in 0 })
    for ((example, generation), task) in zip(zip(first, generations), tasks) {
      let expected = PretrainStage.revision(
        task: task, attempt: Tokenizer.decodeText(generation.tokens), family: greedy.tasks.family,
        builder: builder)
      #expect(example.tokens == expected.tokens)
    }

    let sampledDirectory = directory + "/t1"
    try FileManager.default.createDirectory(atPath: sampledDirectory, withIntermediateDirectories: true)
    let sampled = try stage(in: sampledDirectory, temperature: "1")
    let a = try sampled.ownMistakes(model: model, tasks: tasks, builder: builder, seed: 1)
    let b = try sampled.ownMistakes(model: model, tasks: tasks, builder: builder, seed: 2)
    #expect(a.map(\.tokens) != b.map(\.tokens))
  }
}
