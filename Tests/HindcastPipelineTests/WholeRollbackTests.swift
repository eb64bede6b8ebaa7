import Foundation
import HindcastModel
import Logging
import Testing

@testable import HindcastPipeline

/// A rollback restores every piece of state the rejected round changed: the policy, the EMA
/// teacher and the memory snapshot pointer (AdamW starts fresh in each distill stage, so no
/// optimizer state persists between rounds).
@Suite struct WholeRollbackTests {
  /// An eval whose validation greedy pass@1 (what the guard decides on) is `greedy`.
  func summary(_ round: Int, _ greedy: Double) -> EvalSummary {
    EvalSummary(
      round: round, family: "arith", tasks: 100, greedyPass1: 0.5, sampledPass1: 0.5, passAtK: 0.5,
      samples: 1, sampledTasks: 100, greedyStandardError: 0.01,
      validation: EvalSummary.Validation(tasks: 50, greedyPass1: greedy, greedyStandardError: 0.01))
  }

  @Test func aRollbackRestoresPolicyEMATeacherAndMemoryPointer() throws {
    let directory = try BinaryRunner.temporaryDirectory("whole-rollback")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try (TinySpec.text + "\n[guard]\nrollback_margin = 0.05\n").write(
      toFile: directory + "/spec.toml", atomically: true, encoding: .utf8)
    let run = try Run(
      directory: directory + "/run", specPath: directory + "/spec.toml", logger: Logger(label: "test"))
    let runner = try PipelineRunner(run: run)
    let store = PolicyStore(run: run)
    let config = run.spec.model.config
    // Rounds 0-2 as the distill stages would leave them: policies, EMA teachers, pointers.
    for round in 0...2 {
      try store.save(try Transformer(config: config, seed: UInt64(10 + round)), round: round)
      if round > 0 {
        try store.save(try Transformer(config: config, seed: UInt64(20 + round)), round: round, kind: .ema)
      }
    }
    try run.withManifest { manifest in
      manifest.memorySnapshots[run.layout.policyName(round: 1)] = String(repeating: "a", count: 64)
      manifest.memorySnapshots[run.layout.policyName(round: 2)] = String(repeating: "b", count: 64)
    }
    let policy1 = try store.load(round: 1).parameters
    let ema1 = try store.load(round: 1, kind: .ema).parameters

    // Round 2's policy collapses: everything of round 2 becomes round 1's again.
    #expect(try runner.guardAgainstCollapse(round: 2, previous: summary(1, 0.50), current: summary(2, 0.20)))
    #expect(try store.load(round: 2).parameters == policy1)
    #expect(try store.load(round: 2, kind: .ema).parameters == ema1)
    var manifest = try run.manifest()
    #expect(manifest.memorySnapshots[run.layout.policyName(round: 2)] == String(repeating: "a", count: 64))
    #expect(manifest.rollbacks == [2])

    // Round 1 collapses too: its EMA teacher becomes round 0's (the base policy) and its pointer
    // disappears, because the base policy was distilled with no memory.
    let base = try store.load(round: 0).parameters
    #expect(try runner.guardAgainstCollapse(round: 1, previous: summary(0, 0.50), current: summary(1, 0.20)))
    #expect(try store.load(round: 1).parameters == base)
    #expect(try store.load(round: 1, kind: .ema).parameters == base)
    manifest = try run.manifest()
    #expect(manifest.memorySnapshots[run.layout.policyName(round: 1)] == nil)
    #expect(manifest.rollbacks == [2, 1])

    // Repeating a recorded rollback changes nothing.
    let before = try run.manifest()
    #expect(try runner.guardAgainstCollapse(round: 2, previous: summary(1, 0.50), current: summary(2, 0.20)))
    #expect(try run.manifest().units == before.units)
  }
}
