import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTraining
import Logging
import Testing

@testable import HindcastPipeline

/// The stable `best` teacher's refresh rule and the optimizer moments kept across rounds.
@Suite struct TeacherAndMomentsTests {
  func makeRun(in directory: String, extra: String = "") throws -> Run {
    try (TinySpec.text + "\n" + extra).write(
      toFile: directory + "/spec.toml", atomically: true, encoding: .utf8)
    return try Run(
      directory: directory + "/run", specPath: directory + "/spec.toml", logger: Logger(label: "test"))
  }

  func writeEval(_ run: Run, round: Int, greedy: Double) throws {
    // The test scores move the other way: only validation may choose the teacher.
    let test = 1 - greedy
    let summary = EvalSummary(
      round: round, family: "arith", tasks: 100, greedyPass1: test, sampledPass1: test, passAtK: test,
      samples: 1, sampledTasks: 100, greedyStandardError: 0.01,
      validation: EvalSummary.Validation(tasks: 50, greedyPass1: greedy, greedyStandardError: 0.01))
    try AtomicFile.write(
      Array(try JSONEncoder().encode(summary)), to: run.layout.path(run.layout.evalName(round: round)))
  }

  @Test func bestTeacherChangesOnlyOnStrictImprovementAndNeverToARolledBackRound() throws {
    let directory = try BinaryRunner.temporaryDirectory("best-teacher")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let run = try makeRun(in: directory, extra: "")
    try writeEval(run, round: 0, greedy: 0.30)
    #expect(try TeacherSelection.bestRound(run: run, round: 0) == 0)
    try writeEval(run, round: 1, greedy: 0.30)
    #expect(try TeacherSelection.bestRound(run: run, round: 1) == 0, "a tie does not refresh")
    try writeEval(run, round: 2, greedy: 0.34)
    #expect(try TeacherSelection.bestRound(run: run, round: 2) == 2)
    try writeEval(run, round: 3, greedy: 0.33)
    #expect(try TeacherSelection.bestRound(run: run, round: 3) == 2)
    // Round 4 has no eval yet; round 5 scored best but was rolled back.
    try writeEval(run, round: 5, greedy: 0.50)
    try run.withManifest { $0.rollbacks.append(5) }
    #expect(try TeacherSelection.bestRound(run: run, round: 5) == 2)
  }

  @Test func momentsSavedWithAPolicyAreReadBackAndAbsentAfterAPlainSave() throws {
    let directory = try BinaryRunner.temporaryDirectory("moments")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let run = try makeRun(in: directory, extra: "")
    let store = PolicyStore(run: run)
    let model = try Transformer(config: run.spec.model.config, seed: 4)
    let count = model.parameters.count
    let state = AdamWState(
      m: (0..<count).map { Float($0 % 7) * 0.01 }, v: (0..<count).map { Float($0 % 5) * 0.001 }, step: 8)
    try store.save(
      model, round: 1, training: DistillStage.snapshot(state, rng: SeededRandom(seed: 1), threads: 1))
    #expect(try DistillStage.savedMoments(run: run, round: 1) == state)
    #expect(try DistillStage.savedMoments(run: run, round: 0) == nil)
    // A rollback saves the previous policy without moments: the next round starts fresh.
    try store.save(model, round: 1)
    #expect(try DistillStage.savedMoments(run: run, round: 1) == nil)
  }
}
