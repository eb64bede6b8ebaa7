import Foundation
import HindcastStorage
import HindcastSupport

/// Reads an experiment directory into a `FamilyResult`: every run's eval summaries and metrics,
/// the learning-rate choices (recomputed from the sweep runs with the runner's rule) and the base
/// run. Read-only; works on partial experiments (missing runs are simply absent).
public enum ExperimentResults {
  public static func load(directory: String) throws -> FamilyResult {
    let layout = ExperimentLayout(root: directory)
    guard FileManager.default.fileExists(atPath: layout.spec) else {
      throw HindcastError(
        .missingPrerequisite, "not an experiment directory (no experiment.toml)", location: directory,
        hint: "run `hindcast experiment pipelines/experiment-FAMILY.toml --out \(directory)` first")
    }
    let text = String(decoding: try AtomicFile.read(layout.spec), as: UTF8.self)
    guard FileManager.default.fileExists(atPath: layout.arms) else {
      throw HindcastError(
        .missingPrerequisite, "the experiment directory has no frozen arms (arms.toml)", location: directory,
        hint: "it was started by an older hindcast; rerun `hindcast experiment` with a new --out directory")
    }
    let spec = try ExperimentSpec.parse(text: text, source: layout.spec, frozenArms: layout.arms)
    let baseLayout = RunLayout(root: layout.baseRun)
    guard FileManager.default.fileExists(atPath: baseLayout.spec) else {
      throw HindcastError(
        .missingPrerequisite, "the experiment's base run has not started", location: layout.baseRun,
        hint: "run `hindcast experiment` for this directory first")
    }
    let baseSpec = try PipelineSpec.load(path: baseLayout.spec)
    var basePass1: Double?
    let baseEval = baseLayout.path(baseLayout.evalName(round: 0))
    if FileManager.default.fileExists(atPath: baseEval) {
      basePass1 = try JSONDecoder().decode(EvalSummary.self, from: Data(try AtomicFile.read(baseEval)))
        .greedyPass1
    }
    var pretrainWall = 0.0
    if FileManager.default.fileExists(atPath: baseLayout.metrics) {
      for (_, event) in try MetricsLog.read(MetricsEvent.self, from: baseLayout.metrics).events
      where event.stage == "pretrain" {
        pretrainWall += event.wallSeconds
      }
    }

    func record(_ arm: String, _ learningRate: Double, _ seed: UInt64) throws -> RunRecord? {
      let path = layout.run(arm: arm, learningRate: learningRate, seed: seed)
      guard FileManager.default.fileExists(atPath: RunLayout(root: path).spec) else { return nil }
      return try RunRecord.load(directory: path, arm: arm, learningRate: learningRate, seed: seed)
    }

    var arms: [ArmResult] = []
    var sweeps: [SweepChoice] = []
    for arm in spec.arms {
      let choice: SweepChoice
      if spec.learningRates.count > 1 {
        var candidates: [(learningRate: Double, record: RunRecord?)] = []
        for learningRate in spec.learningRates {
          candidates.append((learningRate, try record(arm.name, learningRate, spec.sweepSeed)))
        }
        choice = SweepChoice.choose(arm: arm.name, seed: spec.sweepSeed, runs: candidates)
      } else {
        choice = SweepChoice.single(arm: arm.name, learningRate: spec.learningRates[0])
      }
      sweeps.append(choice)
      guard let chosen = choice.chosen else { continue }
      let runs = try spec.seeds.compactMap { try record(arm.name, chosen, $0) }
      arms.append(ArmResult(arm: arm, learningRate: chosen, runs: runs))
    }
    var result = FamilyResult(
      name: spec.name, family: baseSpec.tasks.family, directory: directory, spec: spec, arms: arms,
      sweeps: sweeps, basePass1: basePass1, pretrainWallSeconds: pretrainWall,
      testTasks: baseSpec.tasks.test, validationTasks: baseSpec.tasks.validation)
    result.flopsPerModelToken = baseSpec.model.config.trainingFlopsPerToken / 3
    return result
  }
}
