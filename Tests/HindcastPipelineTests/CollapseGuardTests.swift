import Foundation
import HindcastModel
import Logging
import Testing

@testable import HindcastPipeline

@Suite struct CollapseGuardTests {
  /// An eval whose validation greedy pass@1 is `greedy`; its test score is `test` (default: a
  /// constant, so only validation can move the guard).
  func summary(_ round: Int, _ greedy: Double, test: Double = 0.5) -> EvalSummary {
    EvalSummary(
      round: round, family: "arith", tasks: 100, greedyPass1: test, sampledPass1: test, passAtK: test,
      samples: 1, sampledTasks: 100, greedyStandardError: 0.01,
      validation: EvalSummary.Validation(tasks: 50, greedyPass1: greedy, greedyStandardError: 0.01))
  }

  /// A tiny run in `directory` with the given rollback margin, its runner and policy store.
  func makeRun(in directory: String, margin: Double) throws -> (Run, PipelineRunner, PolicyStore) {
    try (TinySpec.text + "\n[guard]\nrollback_margin = \(margin)\n").write(
      toFile: directory + "/spec.toml", atomically: true, encoding: .utf8)
    let run = try Run(
      directory: directory + "/run", specPath: directory + "/spec.toml", logger: Logger(label: "test"))
    return (run, try PipelineRunner(run: run), PolicyStore(run: run))
  }

  @Test func aLargeDropRestoresThePreviousPolicyOnce() throws {
    let directory = try BinaryRunner.temporaryDirectory("guard")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (run, runner, store) = try makeRun(in: directory, margin: 0.1)
    let base = try Transformer(config: run.spec.model.config, seed: 1)
    let distilled = try Transformer(config: run.spec.model.config, seed: 2)
    try store.save(base, round: 0)
    try store.save(distilled, round: 1)

    // A large drop on test alone never triggers it: the guard decides on validation.
    try runner.guardAgainstCollapse(
      round: 1, previous: summary(0, 0.30, test: 0.9), current: summary(1, 0.30, test: 0.1))
    #expect(try run.manifest().rollbacks.isEmpty)

    // A drop within the margin keeps the new policy.
    try runner.guardAgainstCollapse(round: 1, previous: summary(0, 0.30), current: summary(1, 0.25))
    #expect(try store.load(round: 1).parameters == distilled.parameters)
    #expect(try run.manifest().rollbacks.isEmpty)

    // A drop beyond it restores the previous policy and records the rollback, once.
    try runner.guardAgainstCollapse(round: 1, previous: summary(0, 0.30), current: summary(1, 0.15))
    #expect(try store.load(round: 1).parameters == base.parameters)
    #expect(try run.manifest().rollbacks == [1])
    try runner.guardAgainstCollapse(round: 1, previous: summary(0, 0.30), current: summary(1, 0.15))
    #expect(try run.manifest().rollbacks == [1])
    let metrics = String(
      decoding: FileManager.default.contents(atPath: run.layout.metrics) ?? Data(), as: UTF8.self)
    #expect(metrics.contains("\"rolled_back\":1"))
  }

  /// After a rollback, the next round is compared with the restored policy's eval, not with the
  /// rejected one's (which would let a second large loss pass).
  @Test func aRoundAfterARollbackIsComparedWithTheRestoredPolicy() throws {
    let directory = try BinaryRunner.temporaryDirectory("guard-chain")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (run, runner, store) = try makeRun(in: directory, margin: 0.05)
    for round in 0...2 {
      try store.save(try Transformer(config: run.spec.model.config, seed: UInt64(round + 1)), round: round)
    }
    let first = try runner.guardRound(1, inForce: summary(0, 0.51), current: summary(1, 0.49))
    #expect(first.validation.greedyPass1 == 0.49)
    let second = try runner.guardRound(2, inForce: first, current: summary(2, 0.40))
    #expect(second.validation.greedyPass1 == 0.49, "round 2 lost 9 points and is rolled back")
    let third = try runner.guardRound(3, inForce: second, current: summary(3, 0.385))
    #expect(third.validation.greedyPass1 == 0.49, "round 3 is 10.5 points below the policy it started from")
    #expect(try run.manifest().rollbacks == [2, 3])
  }
}
