import Foundation
import HindcastModel
import HindcastSupport
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

  /// A tiny run in `directory` with the given rollback margin and guard reference, its runner and
  /// policy store.
  func makeRun(
    in directory: String, margin: Double, reference: String = "previous"
  ) throws -> (Run, PipelineRunner, PolicyStore) {
    try (TinySpec.text + "\n[guard]\nrollback_margin = \(margin)\nreference = \"\(reference)\"\n").write(
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
    let first = try runner.guardRound(
      1, state: .init(first: summary(0, 0.51), round: 0), current: summary(1, 0.49))
    #expect(first.inForce.validation.greedyPass1 == 0.49)
    let second = try runner.guardRound(2, state: first, current: summary(2, 0.40))
    #expect(second.inForce.validation.greedyPass1 == 0.49, "round 2 lost 9 points and is rolled back")
    let third = try runner.guardRound(3, state: second, current: summary(3, 0.385))
    #expect(
      third.inForce.validation.greedyPass1 == 0.49, "round 3 is 10.5 points below the policy it started from")
    #expect(try run.manifest().rollbacks == [2, 3])
  }

  /// With `reference = "previous"` a slide in steps each within the margin passes; with `"best"`
  /// it is caught once it adds up to more than the margin below the best round, and the rollback
  /// restores that round's policy (not the previous one's).
  @Test func aSlowSlideIsCaughtOnlyAgainstTheBestRound() throws {
    let slide = [0.40, 0.44, 0.41, 0.38, 0.35]
    for reference in ["previous", "best"] {
      let directory = try BinaryRunner.temporaryDirectory("guard-best")
      defer { try? FileManager.default.removeItem(atPath: directory) }
      let (run, runner, store) = try makeRun(in: directory, margin: 0.05, reference: reference)
      var policies: [[Float]] = []
      for round in slide.indices {
        let policy = try Transformer(config: run.spec.model.config, seed: UInt64(round + 1))
        try store.save(policy, round: round)
        policies.append(policy.parameters)
      }
      var state: GuardState?
      for (round, greedy) in slide.enumerated() {
        state = try runner.guardRound(round, state: state, current: summary(round, greedy))
      }
      // A report replaying the recorded rollbacks reaches the same state as the running guard.
      let replayed = GuardState.replay(
        slide.enumerated().map { summary($0.offset, $0.element) },
        rolledBack: Set(try run.manifest().rollbacks), reference: run.spec.guardReference)
      #expect(replayed == state)
      if reference == "previous" {
        #expect(try run.manifest().rollbacks.isEmpty, "no single step loses more than 5 points")
        #expect(state?.inForce.validation.greedyPass1 == 0.35)
      } else {
        // Round 3 is 6 points below round 1 (the best): restored from round 1. Round 4 is then
        // compared with round 1 again (9 points below) and restored from it too.
        #expect(try run.manifest().rollbacks == [3, 4])
        #expect(try store.load(round: 3).parameters == policies[1])
        #expect(try store.load(round: 4).parameters == policies[1])
        #expect(state?.inForce.validation.greedyPass1 == 0.44)
        #expect(state?.bestRound == 1)
        let metrics = String(
          decoding: FileManager.default.contents(atPath: run.layout.metrics) ?? Data(), as: UTF8.self)
        #expect(metrics.contains("\"restored_round\":1"))
      }
    }
  }

  /// Only an earlier round can be restored.
  @Test func aRollbackToTheSameOrALaterRoundIsRefused() throws {
    let directory = try BinaryRunner.temporaryDirectory("guard-source")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (_, runner, _) = try makeRun(in: directory, margin: 0.05)
    #expect(throws: HindcastError.self) { try runner.restoreWholeRound(2, from: 2) }
    #expect(throws: HindcastError.self) { try runner.restoreWholeRound(0) }
  }
}
