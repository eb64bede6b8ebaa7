import HindcastModel
import HindcastSupport
import HindcastTasks

/// Stage `feedback`: executes every rollout and criticizes it. Shard i reads rollout shard i.
public struct FeedbackStage {
  public let run: Run
  public let tasks: TaskSource

  public func execute(round: Int) throws {
    try run.requireComplete(round: round, stage: .rollout, for: .feedback)
    let byId = Dictionary(try tasks.train(round: round).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let count = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .rollout)] ?? 0
    try run.runShards(round: round, stage: .feedback, shardCount: count) {
      shard, _ -> ShardOutput<FeedbackRecord> in
      let rollouts = try run.readShard(RolloutRecord.self, round: round, stage: .rollout, shard: shard)
      var budget = Budget()
      var passes = 0
      let records = try rollouts.map { rollout -> FeedbackRecord in
        guard let task = byId[rollout.taskId] else {
          throw HindcastError(
            .corruptFile,
            "rollout \(rollout.id) names task \(rollout.taskId), which is not in round \(round)",
            location: run.layout.path(run.layout.shardName(round: round, stage: .rollout, shard: shard)))
        }
        let result = tasks.family.execute(task: task, attempt: rollout.text)
        budget.environmentCalls += 1
        if result.passed { passes += 1 }
        return FeedbackRecord(
          id: rollout.id + "/fb", rolloutId: rollout.id, taskId: task.id, round: round,
          sample: rollout.sample,
          passed: result.passed, reward: result.passed ? 1 : 0, result: result,
          critique: tasks.family.critique(task: task, attempt: rollout.text, result: result),
          firstErrorToken: Self.firstErrorToken(result: result, tokens: rollout.tokens))
      }
      let rate = records.isEmpty ? 0 : Double(passes) / Double(records.count)
      return ShardOutput(records: records, budget: budget, values: ["pass_rate": rate])
    }
  }

  /// The token index of the first located error.
  ///
  /// The executor reports a UTF-8 byte offset into the attempt's text, which is
  /// `Tokenizer.decodeText(tokens)`: special tokens are dropped and an invalid UTF-8 sequence
  /// becomes one U+FFFD (3 bytes), so text offsets and token indices differ as soon as an attempt
  /// holds a special token or a malformed byte. This walks the decoding the same way (the
  /// standard library's UTF-8 parser, which `String(decoding:as:)` uses) and returns the token
  /// that produced the byte at the offset; an offset past the text maps to the last token.
  static func firstErrorToken(result: ExecutionResult, tokens: [Int32]) -> Int? {
    guard !result.passed, let offset = result.errorOffset, !tokens.isEmpty else { return nil }
    return tokenIndex(ofTextByte: max(0, offset), in: tokens)
  }

  /// The index in `tokens` of the token that produced byte `offset` of `decodeText(tokens)`.
  static func tokenIndex(ofTextByte offset: Int, in tokens: [Int32]) -> Int {
    let byteTokens = tokens.indices.filter { (0...255).contains(tokens[$0]) }
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = byteTokens.lazy.map { UInt8(tokens[$0]) }.makeIterator()
    var consumed = 0  // source bytes consumed so far (index into byteTokens)
    var produced = 0  // text bytes produced so far
    while true {
      switch parser.parseScalar(from: &iterator) {
      case .valid(let encoded):
        // A valid scalar is copied byte for byte.
        if offset < produced + encoded.count { return byteTokens[consumed + (offset - produced)] }
        consumed += encoded.count
        produced += encoded.count
      case .error(let length):
        // An invalid sequence of `length` bytes becomes U+FFFD, three bytes of text.
        if offset < produced + 3 { return byteTokens[consumed] }
        consumed += length
        produced += 3
      case .emptyInput:
        return byteTokens.last ?? tokens.count - 1
      }
    }
  }
}
