import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Log-probabilities of a given continuation under a prompt, position by position.
public struct ScoredSequence: Codable, Sendable, Equatable {
  /// Per continuation token `i`: log p(c_i | prompt, c_<i) under the untempered model.
  public var logprobs: [Float]
  /// Per continuation position: the entropy (nats) of the model's next-token distribution there.
  public var entropies: [Float]
  /// Per continuation position, when asked: the most likely tokens (descending, ties by lower id)
  /// with their log-probabilities.
  public var topK: [[TokenLogprob]]?
  /// When asked: the full log-probability distribution at every continuation position,
  /// row-major `(positions, V)`.
  public var distribution: [Float]?

  public init(logprobs: [Float], entropies: [Float], topK: [[TokenLogprob]]?, distribution: [Float]?) {
    self.logprobs = logprobs
    self.entropies = entropies
    self.topK = topK
    self.distribution = distribution
  }

  /// Sum of `logprobs`: the log-probability of the whole continuation.
  public var totalLogprob: Double { logprobs.reduce(0) { $0 + Double($1) } }

  /// The log-probabilities `(V)` at continuation position `position`, if the full distribution
  /// was requested and the position exists.
  public func distribution(at position: Int) -> ArraySlice<Float>? {
    guard let distribution, (0..<logprobs.count).contains(position) else { return nil }
    let v = distribution.count / max(logprobs.count, 1)
    return distribution[(position * v)..<((position + 1) * v)]
  }
}

/// Scores given continuations without sampling, through the model's full forward pass.
///
/// Sequences `prompt + continuation` (all but the last continuation token, which is only a
/// target) are sorted by length and packed back to back, without padding
/// (`Transformer.forward(packed:lengths:)`), into batches of at most `maxBatchTokens` tokens (or
/// one sequence), so memory stays bounded however many sequences are scored.
/// Uses (and reshapes) the model's activation buffers: do not interleave with a training step
/// between its forward and backward passes.
public enum Scorer {
  /// Default bound on the tokens of one forward batch.
  public static let defaultMaxBatchTokens = 4096

  /// Returns, for each pair `(prompts[i], continuations[i])`, the log-probabilities of every
  /// continuation token. Prompts need at least one token, `prompt + continuation` at most the
  /// context length; an empty continuation gives an empty result. `topK` (1...V) adds the top-k
  /// tokens per position, `fullDistribution` the whole log-probability row.
  public static func score(
    model: Transformer, prompts: [[Int32]], continuations: [[Int32]], topK: Int? = nil,
    fullDistribution: Bool = false, maxBatchTokens: Int = defaultMaxBatchTokens
  ) throws -> [ScoredSequence] {
    let config = model.config
    let v = config.vocabSize
    guard prompts.count == continuations.count else {
      throw HindcastError(
        .invalidInput, "got \(prompts.count) prompts but \(continuations.count) continuations")
    }
    if let topK, !(1...v).contains(topK) {
      throw HindcastError(.invalidConfig, "scoring top_k must be in 1...\(v); got \(topK)")
    }
    guard maxBatchTokens >= 1 else {
      throw HindcastError(.invalidConfig, "maxBatchTokens must be >= 1; got \(maxBatchTokens)")
    }
    try Sampler.validate(prompts: prompts, config: config)
    for (i, continuation) in continuations.enumerated() {
      guard prompts[i].count + continuation.count <= config.contextLength else {
        throw HindcastError(
          .invalidInput,
          "prompt \(i) plus its continuation hold \(prompts[i].count + continuation.count) tokens; the context length is \(config.contextLength)"
        )
      }
      if let bad = continuation.first(where: { $0 < 0 || Int($0) >= v }) {
        throw HindcastError(
          .invalidInput, "continuation \(i) holds token id \(bad), outside the vocabulary 0..<\(v)")
      }
    }
    var results = [ScoredSequence](
      repeating: ScoredSequence(logprobs: [], entropies: [], topK: topK == nil ? nil : [], distribution: nil),
      count: prompts.count)
    if fullDistribution {
      for i in results.indices { results[i].distribution = [] }
    }
    // Fed length of item i: the prompt and all continuation tokens but the last.
    func fed(_ i: Int) -> Int { prompts[i].count + continuations[i].count - 1 }
    let order = prompts.indices.filter { !continuations[$0].isEmpty }.sorted { fed($0) > fed($1) }
    var heap = [Int32](repeating: 0, count: v)
    var start = 0
    while start < order.count {
      var total = fed(order[start])
      var end = start + 1
      while end < order.count && total + fed(order[end]) <= maxBatchTokens {
        total += fed(order[end])
        end += 1
      }
      let chunk = Array(order[start..<end])
      var tokens: [Int32] = []
      tokens.reserveCapacity(total)
      var rowOffsets: [Int] = []
      for i in chunk {
        rowOffsets.append(tokens.count)
        tokens += prompts[i]
        tokens += continuations[i].dropLast()
      }
      try model.forward(packed: tokens, lengths: chunk.map(fed)) { logits in
        heap.withUnsafeMutableBufferPointer { heap in
          for (b, i) in chunk.enumerated() {
            for (position, target) in continuations[i].enumerated() {
              let row = logits.baseAddress! + (rowOffsets[b] + prompts[i].count - 1 + position) * v
              score(
                row: row, target: target, vocab: v, topK: topK, fullDistribution: fullDistribution,
                heap: heap.baseAddress!, into: &results[i])
            }
          }
        }
      }
      start = end
    }
    return results
  }

  /// Appends one position's log-probability, entropy and optional extras to `result`.
  private static func score(
    row: UnsafePointer<Float>, target: Int32, vocab v: Int, topK: Int?, fullDistribution: Bool,
    heap: UnsafeMutablePointer<Int32>, into result: inout ScoredSequence
  ) {
    var maxLogit = -Float.infinity
    for j in 0..<v where row[j] > maxLogit { maxLogit = row[j] }
    var sum: Double = 0
    var weighted: Double = 0
    for j in 0..<v {
      let e = Double(expf(row[j] - maxLogit))
      sum += e
      weighted += e * Double(row[j] - maxLogit)
    }
    // lse = max + log(sum); entropy = lse - E[logit] = log(sum) - E[logit - max].
    let lse = maxLogit + Float(log(sum))
    result.logprobs.append(row[Int(target)] - lse)
    result.entropies.append(Float(log(sum) - weighted / sum))
    if let topK {
      for j in 0..<v { heap[j] = Int32(j) }
      var count = v
      IndexHeap.build(heap, count: count, keys: row)
      var top: [TokenLogprob] = []
      top.reserveCapacity(topK)
      for _ in 0..<topK {
        let index = IndexHeap.pop(heap, count: &count, keys: row)
        top.append(TokenLogprob(token: index, logprob: row[Int(index)] - lse))
      }
      result.topK?.append(top)
    }
    if fullDistribution {
      result.distribution?.append(contentsOf: UnsafeBufferPointer(start: row, count: v).lazy.map { $0 - lse })
    }
  }
}
