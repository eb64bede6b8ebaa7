import Foundation
import HindcastStorage
import HindcastSupport

/// Budget spent by the training stages of one round (everything except eval and pretraining),
/// summed from `metrics.jsonl`, with the environment calls kept apart by purpose.
public struct LedgerTotals: Sendable, Equatable {
  /// Executor/checker invocations charged to training: `rolloutCalls + rewriteCalls`.
  public var environmentCalls = 0
  /// Checks of the policy's rollouts (the feedback stage).
  public var rolloutCalls = 0
  /// Verifications of hindsight rewrites (the rewrite stage).
  public var rewriteCalls = 0
  /// The part of `rewriteCalls` made only to measure memory notes (no objective trains on those
  /// rewrites); charged to the arm because it uses memory.
  public var memoryCalls = 0
  /// Eval checks (validation and test); not charged, every arm evaluates the same tasks.
  public var evalCalls = 0
  public var generatedTokens = 0
  public var teacherScoredTokens = 0
  public var trainingTokens = 0
  /// Compute of the training stages (`MetricsEvent.modelTokens`).
  public var modelTokens = 0
  public var wallSeconds = 0.0

  public init() {}

  public static func += (a: inout LedgerTotals, b: LedgerTotals) {
    a.environmentCalls += b.environmentCalls
    a.rolloutCalls += b.rolloutCalls
    a.rewriteCalls += b.rewriteCalls
    a.memoryCalls += b.memoryCalls
    a.evalCalls += b.evalCalls
    a.generatedTokens += b.generatedTokens
    a.teacherScoredTokens += b.teacherScoredTokens
    a.trainingTokens += b.trainingTokens
    a.modelTokens += b.modelTokens
    a.wallSeconds += b.wallSeconds
  }
}

/// What one pipeline run measured: the eval of every round reached and the budget ledger.
///
/// Round r's eval measures the policy that starts round r, so the environment calls "spent to
/// reach" eval r are the training calls of rounds 0..<r. Eval and pretraining are not charged:
/// every arm evaluates the same validation and test sets and shares the same base policy.
public struct RunRecord: Sendable {
  /// The arm's name (`ExperimentArm.name`).
  public var arm: String
  public var learningRate: Double
  public var seed: UInt64
  public var directory: String
  /// Rounds in the run's spec; eval summaries exist for rounds 0...rounds when complete.
  public var rounds: Int
  /// Eval summaries of rounds 0, 1, ... up to the first missing one.
  public var evals: [EvalSummary]
  /// Training-stage ledger of each round 0..<rounds (zero where nothing was recorded yet).
  public var ledger: [LedgerTotals]
  /// Distill's mean loss per round (the divergence for sdpo, mixed for combined objectives).
  public var distillMeanLoss: [Int: Double]
  /// Per round, the rollouts' per-token entropy estimate (token-weighted over shards).
  public var policyEntropy: [Int: Double] = [:]
  /// Wall seconds spent on eval (all rounds).
  public var evalWallSeconds: Double
  /// Eval checks of all rounds (not charged to training).
  public var evalCalls = 0
  /// Metrics lines that could not be read (torn writes).
  public var skippedMetricsLines: Int
  /// Rounds whose distilled policy the run's collapse guard rolled back (from its manifest).
  public var rollbacks: [Int] = []

  public var isComplete: Bool { evals.count == rounds + 1 }

  public init(
    arm: String, learningRate: Double, seed: UInt64, directory: String, rounds: Int,
    evals: [EvalSummary],
    ledger: [LedgerTotals], distillMeanLoss: [Int: Double] = [:], evalWallSeconds: Double = 0,
    skippedMetricsLines: Int = 0
  ) {
    self.arm = arm
    self.learningRate = learningRate
    self.seed = seed
    self.directory = directory
    self.rounds = rounds
    self.evals = evals
    self.ledger = ledger
    self.distillMeanLoss = distillMeanLoss
    self.evalWallSeconds = evalWallSeconds
    self.skippedMetricsLines = skippedMetricsLines
  }

  /// Training environment calls spent before eval `round`.
  public func cumulativeCalls(beforeRound round: Int) -> Int {
    ledger.prefix(max(0, round)).reduce(0) { $0 + $1.environmentCalls }
  }

  /// Training compute (model tokens) spent before eval `round`.
  public func cumulativeModelTokens(beforeRound round: Int) -> Int {
    ledger.prefix(max(0, round)).reduce(0) { $0 + $1.modelTokens }
  }

  /// The whole run's training ledger.
  public var totals: LedgerTotals {
    var sum = LedgerTotals()
    for round in ledger { sum += round }
    sum.evalCalls = evalCalls
    return sum
  }

  /// Reads a run directory without locking or changing it. Missing eval summaries simply end the
  /// curve; a missing metrics log counts as an empty ledger.
  public static func load(directory: String, arm: String, learningRate: Double, seed: UInt64) throws
    -> RunRecord
  {
    let layout = RunLayout(root: directory)
    let spec = try PipelineSpec.load(path: layout.spec)
    var evals: [EvalSummary] = []
    for round in 0...spec.rounds {
      let path = layout.path(layout.evalName(round: round))
      guard FileManager.default.fileExists(atPath: path) else { break }
      do {
        evals.append(try JSONDecoder().decode(EvalSummary.self, from: Data(try AtomicFile.read(path))))
      } catch let error as HindcastError {
        throw error
      } catch {
        throw HindcastError(
          .corruptFile, "eval summary is not valid: \(DecodingErrorText.describe(error))", location: path)
      }
    }
    var record = RunRecord(
      arm: arm, learningRate: learningRate, seed: seed, directory: directory, rounds: spec.rounds,
      evals: evals,
      ledger: Array(repeating: LedgerTotals(), count: spec.rounds), distillMeanLoss: [:], evalWallSeconds: 0,
      skippedMetricsLines: 0)
    record.rollbacks = try RunManifest.read(path: layout.manifest)?.rollbacks ?? []
    // Only events of committed units, the last of each (a crash-consistent ledger).
    let ledger = try RunLedger.committedEvents(layout: layout)
    record.skippedMetricsLines = ledger.skippedLines
    var entropySums: [Int: (weighted: Double, tokens: Double)] = [:]
    for event in ledger.events {
      switch event.stage {
      case "pretrain", "eval-summary": continue
      case StageName.eval.rawValue:
        record.evalWallSeconds += event.wallSeconds
        record.evalCalls += event.environmentCalls
      default:
        guard event.round >= 0 && event.round < spec.rounds else { continue }
        var totals = LedgerTotals()
        totals.environmentCalls = event.environmentCalls
        if event.stage == StageName.feedback.rawValue { totals.rolloutCalls = event.environmentCalls }
        if event.stage == StageName.rewrite.rawValue {
          totals.rewriteCalls = event.environmentCalls
          totals.memoryCalls = Int(event.values["memory_verification_calls"] ?? 0)
        }
        totals.modelTokens = event.modelTokens
        totals.generatedTokens = event.generatedTokens
        totals.teacherScoredTokens = event.teacherScoredTokens
        totals.trainingTokens = event.trainingTokens
        totals.wallSeconds = event.wallSeconds
        record.ledger[event.round] += totals
        if event.stage == StageName.rollout.rawValue, let entropy = event.values["policy_entropy"] {
          let tokens = Double(event.generatedTokens)
          entropySums[event.round, default: (0, 0)].weighted += entropy * tokens
          entropySums[event.round, default: (0, 0)].tokens += tokens
        }
        if event.stage == StageName.distill.rawValue, let loss = event.values["mean_loss"] {
          record.distillMeanLoss[event.round] = loss
        }
      }
    }
    for (round, sums) in entropySums where sums.tokens > 0 {
      record.policyEntropy[round] = sums.weighted / sums.tokens
    }
    return record
  }
}

/// The learning-rate choice of one arm: every candidate's sweep run and the winner.
///
/// Chosen on the **validation** split only, on runs of the sweep seed, which is never one of the
/// reported seeds: neither the test split nor a reported run influences the choice.
public struct SweepChoice: Codable, Sendable, Equatable {
  public struct Candidate: Codable, Sendable, Equatable {
    public var learningRate: Double
    /// Validation greedy pass@1 of the final round (nil while the run is incomplete).
    public var finalValidationPass1: Double?
    /// Mean validation greedy pass@1 over rounds 1...R (tie-breaker: learns sooner).
    public var meanValidationPass1: Double?

    enum CodingKeys: String, CodingKey {
      case learningRate = "lr"
      case finalValidationPass1 = "final_validation_greedy_pass1"
      case meanValidationPass1 = "mean_validation_greedy_pass1"
    }
  }

  /// The arm's name (`ExperimentArm.name`).
  public var arm: String
  /// The sweep seed (not a reported seed).
  public var seed: UInt64
  public var candidates: [Candidate]
  /// The chosen learning rate, or nil while some candidate is incomplete.
  public var chosen: Double?

  /// Picks the candidate with the best final validation greedy pass@1; ties go to the better
  /// mean over rounds 1...R, then to the earlier entry of the sweep list. Needs every candidate
  /// complete.
  public static func choose(
    arm: String, seed: UInt64, runs: [(learningRate: Double, record: RunRecord?)]
  )
    -> SweepChoice
  {
    let candidates = runs.map { item -> Candidate in
      guard let record = item.record, record.isComplete, let last = record.evals.last else {
        return Candidate(learningRate: item.learningRate, finalValidationPass1: nil, meanValidationPass1: nil)
      }
      let later = record.evals.dropFirst().map(\.validation.greedyPass1)
      let mean = later.isEmpty ? last.validation.greedyPass1 : later.reduce(0, +) / Double(later.count)
      return Candidate(
        learningRate: item.learningRate, finalValidationPass1: last.validation.greedyPass1,
        meanValidationPass1: mean)
    }
    var best: Candidate?
    for candidate in candidates {
      guard let final = candidate.finalValidationPass1, let mean = candidate.meanValidationPass1 else {
        return SweepChoice(arm: arm, seed: seed, candidates: candidates, chosen: nil)
      }
      if let current = best, let bestFinal = current.finalValidationPass1,
        let bestMean = current.meanValidationPass1,
        final < bestFinal || (final == bestFinal && mean <= bestMean)
      {
        continue
      }
      best = candidate
    }
    return SweepChoice(arm: arm, seed: seed, candidates: candidates, chosen: best?.learningRate)
  }

  /// The choice when there is nothing to sweep (one candidate rate): that rate, no runs.
  public static func single(arm: String, learningRate: Double) -> SweepChoice {
    SweepChoice(
      arm: arm, seed: 0,
      candidates: [
        Candidate(learningRate: learningRate, finalValidationPass1: nil, meanValidationPass1: nil)
      ],
      chosen: learningRate)
  }
}
