/// One line of `metrics.jsonl`: the budget ledger of one unit of work. Environment calls,
/// generated, teacher-scored and trained tokens are counted the same way for every objective,
/// so "equal budget" comparisons between arms can be audited from this file alone.
public struct MetricsEvent: Codable, Sendable, Equatable {
  public var stage: String
  public var round: Int
  public var shard: Int?
  public var worker: Int
  /// Executor or checker invocations (rollout checks, rewrite verifications, eval checks).
  public var environmentCalls: Int = 0
  /// Tokens sampled from a policy.
  public var generatedTokens: Int = 0
  /// Tokens scored by a teacher (re-scoring of student attempts).
  public var teacherScoredTokens: Int = 0
  /// Tokens that received a training loss.
  public var trainingTokens: Int = 0
  /// Compute: tokens processed through the model, in forward-pass equivalents (prompt and
  /// generated tokens of sampling, context and continuation of scoring, and 3 × the sequence
  /// tokens of a training step, whose backward pass costs about two forwards). FLOPs ≈ this ×
  /// 2 × parameters (`ModelConfig.trainingFlopsPerToken / 3` per token).
  public var modelTokens: Int = 0
  public var records: Int = 0
  public var wallSeconds: Double = 0
  /// Stage-specific numbers (loss, pass rate, divergence, entropy, ...).
  public var values: [String: Double] = [:]

  enum CodingKeys: String, CodingKey {
    case stage, round, shard, worker, records, values
    case environmentCalls = "environment_calls"
    case generatedTokens = "generated_tokens"
    case teacherScoredTokens = "teacher_scored_tokens"
    case trainingTokens = "training_tokens"
    case modelTokens = "model_tokens"
    case wallSeconds = "wall_seconds"
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    stage = try c.decode(String.self, forKey: .stage)
    round = try c.decode(Int.self, forKey: .round)
    shard = try c.decodeIfPresent(Int.self, forKey: .shard)
    worker = try c.decode(Int.self, forKey: .worker)
    environmentCalls = try c.decodeIfPresent(Int.self, forKey: .environmentCalls) ?? 0
    generatedTokens = try c.decodeIfPresent(Int.self, forKey: .generatedTokens) ?? 0
    teacherScoredTokens = try c.decodeIfPresent(Int.self, forKey: .teacherScoredTokens) ?? 0
    trainingTokens = try c.decodeIfPresent(Int.self, forKey: .trainingTokens) ?? 0
    // Logs written before compute was counted read as zero.
    modelTokens = try c.decodeIfPresent(Int.self, forKey: .modelTokens) ?? 0
    records = try c.decodeIfPresent(Int.self, forKey: .records) ?? 0
    wallSeconds = try c.decodeIfPresent(Double.self, forKey: .wallSeconds) ?? 0
    values = try c.decodeIfPresent([String: Double].self, forKey: .values) ?? [:]
  }

  public init(stage: String, round: Int, shard: Int? = nil, worker: Int = 0) {
    self.stage = stage
    self.round = round
    self.shard = shard
    self.worker = worker
  }
}

/// Budget counters a stage accumulates while it works on one shard.
public struct Budget: Sendable, Equatable {
  public var environmentCalls = 0
  public var generatedTokens = 0
  public var teacherScoredTokens = 0
  public var trainingTokens = 0
  /// See `MetricsEvent.modelTokens`.
  public var modelTokens = 0

  public init() {}

  public static func += (a: inout Budget, b: Budget) {
    a.environmentCalls += b.environmentCalls
    a.generatedTokens += b.generatedTokens
    a.teacherScoredTokens += b.teacherScoredTokens
    a.trainingTokens += b.trainingTokens
    a.modelTokens += b.modelTokens
  }

  func fill(_ event: inout MetricsEvent) {
    event.environmentCalls = environmentCalls
    event.generatedTokens = generatedTokens
    event.teacherScoredTokens = teacherScoredTokens
    event.trainingTokens = trainingTokens
    event.modelTokens = modelTokens
  }
}
