import HindcastSupport

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
    case wallSeconds = "wall_seconds"
  }

  public init(stage: String, round: Int, shard: Int? = nil, worker: Int = 0) {
    self.stage = stage
    self.round = round
    self.shard = shard
    self.worker = worker
  }
}

extension MetricsEvent {
  /// The largest counter one event may carry (far above any real shard, far below overflow).
  public static let maxCount = 1 << 50
  /// The longest wall time one event may report (about 30 years).
  public static let maxWallSeconds = 1e9

  /// Rejects counters and times no stage writes (negative, absurd, non-finite), so that sums of
  /// events cannot overflow. `location` is the file and line the event came from.
  public func check(location: String) throws {
    let counters = [
      ("environment_calls", environmentCalls), ("generated_tokens", generatedTokens),
      ("teacher_scored_tokens", teacherScoredTokens), ("training_tokens", trainingTokens),
      ("records", records),
    ]
    for (name, value) in counters where !(0...Self.maxCount).contains(value) {
      throw HindcastError(
        .invalidInput, "metrics event field '\(name)' is \(value); allowed 0...\(Self.maxCount)",
        location: location, hint: "metrics.jsonl is written only by hindcast; restore it or remove the line")
    }
    guard wallSeconds.isFinite, (0...Self.maxWallSeconds).contains(wallSeconds) else {
      throw HindcastError(
        .invalidInput,
        "metrics event field 'wall_seconds' is \(wallSeconds); allowed 0...\(Self.maxWallSeconds)",
        location: location, hint: "metrics.jsonl is written only by hindcast; restore it or remove the line")
    }
    guard round >= -1, worker >= 0, (shard ?? 0) >= 0 else {
      throw HindcastError(
        .invalidInput,
        "metrics event has round \(round), worker \(worker), shard \(shard ?? 0); none may be negative",
        location: location, hint: "metrics.jsonl is written only by hindcast; restore it or remove the line")
    }
  }
}

/// Budget counters a stage accumulates while it works on one shard.
public struct Budget: Sendable, Equatable {
  public var environmentCalls = 0
  public var generatedTokens = 0
  public var teacherScoredTokens = 0
  public var trainingTokens = 0

  public init() {}

  public static func += (a: inout Budget, b: Budget) {
    a.environmentCalls += b.environmentCalls
    a.generatedTokens += b.generatedTokens
    a.teacherScoredTokens += b.teacherScoredTokens
    a.trainingTokens += b.trainingTokens
  }

  func fill(_ event: inout MetricsEvent) {
    event.environmentCalls = environmentCalls
    event.generatedTokens = generatedTokens
    event.teacherScoredTokens = teacherScoredTokens
    event.trainingTokens = trainingTokens
  }
}
