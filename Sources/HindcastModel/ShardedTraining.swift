import Dispatch
import HindcastKernels
import HindcastSupport

/// The workspace of one shard of a sharded training step: activations for the shard's rows and
/// a private gradient buffer, reused by every step. Used by one thread at a time.
final class TrainingShard {
  var activations: Activations?
  let gradients: FloatBuffer

  init(parameterCount: Int) {
    gradients = FloatBuffer(count: parameterCount)
  }

  func activations(config: ModelConfig, lengths: [Int]) -> Activations {
    let shape = Attention.Shape(lengths: lengths, width: config.width, heads: config.heads)
    let act = Activations.reuse(activations, config: config, for: shape)
    activations = act
    return act
  }
}

extension Transformer {
  /// The sequences of each of `shards` shards of a batch of `batch` sequences: consecutive,
  /// fixed ranges, the first `batch % shards` one sequence longer. Empty shards are dropped.
  static func shardRanges(batch: Int, shards: Int) -> [Range<Int>] {
    shardRanges(lengths: [Int](repeating: 1, count: batch), shards: shards)
  }

  /// The sequences of each of `shards` shards of a batch with these token counts: consecutive,
  /// fixed ranges (a function of the lengths only) with about equal tokens each. Shard s ends at
  /// the first sequence whose cumulative tokens reach `s + 1` shares of the total, keeping at least
  /// one sequence per shard; with equal lengths this is the split of `shardRanges(batch:shards:)`.
  static func shardRanges(lengths: [Int], shards: Int) -> [Range<Int>] {
    let batch = lengths.count
    let count = max(1, min(shards, batch))
    if lengths.allSatisfy({ $0 == lengths.first }) { return evenRanges(batch: batch, shards: count) }
    let total = lengths.reduce(0, +)
    var ranges: [Range<Int>] = []
    var start = 0
    var end = 0
    for s in 0..<count {
      if s == count - 1 {
        ranges.append(start..<batch)
        break
      }
      // Leave at least one sequence for every later shard.
      let limit = batch - (count - 1 - s)
      let target = (total * (s + 1) + count / 2) / count
      end = max(end, start + 1)
      var cumulative = lengths[..<end].reduce(0, +)
      while end < limit && cumulative + lengths[end] / 2 < target {
        cumulative += lengths[end]
        end += 1
      }
      ranges.append(start..<end)
      start = end
    }
    return ranges
  }

  static func evenRanges(batch: Int, shards count: Int) -> [Range<Int>] {
    let base = batch / count
    let extra = batch % count
    var ranges: [Range<Int>] = []
    var start = 0
    for s in 0..<count {
      let size = base + (s < extra ? 1 : 0)
      ranges.append(start..<(start + size))
      start += size
    }
    return ranges
  }

  /// `lossAndGradients` on `trainingThreads` shards (see there) of about equal tokens
  /// (`shardRanges(lengths:shards:)`). `tokens` and `lengths` are the packed, validated batch. Every shard runs forward, its terms and backward on its own thread
  /// with BLAS set to one thread (restored afterwards); when all succeeded, the shard gradients
  /// are added to `gradients` as `((g0 + g1) + ...)`, element by element, and the shard reports
  /// are merged in shard order. On an error `gradients` is unchanged and the error of the lowest
  /// failing shard is thrown.
  func shardedLossAndGradients(_ batch: [TrainingSequence], tokens: [Int32], lengths: [Int]) throws
    -> LossReport
  {
    let ranges = Self.shardRanges(lengths: lengths, shards: trainingThreads)
    var tokenStarts = [0]
    for length in lengths { tokenStarts.append(tokenStarts.last! + length) }
    let shardCount = ranges.count
    while trainingShards.count < shardCount {
      trainingShards.append(TrainingShard(parameterCount: layout.totalCount))
    }
    let shards = Array(trainingShards[0..<shardCount])
    let scopeTimer = GemmTimer.current
    let timers: [GemmTimer?] = (0..<shardCount).map { s in
      guard let scopeTimer else { return nil }
      return s == 0 ? scopeTimer : GemmTimer()
    }
    let results = UnsafeMutableBufferPointer<Result<LossReport, Error>?>.allocate(capacity: shardCount)
    results.initialize(repeating: nil)
    defer {
      results.deinitialize()
      results.deallocate()
    }
    let blasThreads = BLASThreads.current
    BLASThreads.set(1)
    defer { BLASThreads.set(blasThreads) }
    parameters.withUnsafeBufferPointer { p in
      let params = p.baseAddress!
      DispatchQueue.concurrentPerform(iterations: shardCount) { s in
        let range = ranges[s]
        let shard = shards[s]
        results[s] = GemmTimer.$current.withValue(timers[s]) {
          Result {
            let act = shard.activations(config: config, lengths: Array(lengths[range]))
            let shardTokens = Array(tokens[tokenStarts[range.lowerBound]..<tokenStarts[range.upperBound]])
            runForward(params, tokens: shardTokens, act: act)
            act.dlogits.pointer.update(repeating: 0, count: act.rows * config.vocabSize)
            var report = try accumulateTerms(
              Array(batch[range]), rowOffsets: act.shape.rowOffsets,
              logits: UnsafePointer(act.logits.pointer),
              dlogits: act.dlogits.pointer)
            report.tokens = shardTokens.count
            shard.gradients.zero()
            runBackward(params, shard.gradients.pointer, act: act)
            return report
          }
        }
      }
    }
    shardGemmTimers = scopeTimer == nil ? [] : timers.dropFirst().compactMap { $0 }
    var report = LossReport()
    for result in results {
      guard let result else {
        throw HindcastError(.internalInvariant, "a training shard did not run")
      }
      report.merge(try result.get())
    }
    let sources = shards.map { UnsafePointer($0.gradients.pointer) }
    gradients.withUnsafeMutableBufferPointer { g in
      Self.addShardSums(into: g.baseAddress!, sources, count: g.count, threads: shardCount)
    }
    return report
  }

  /// `target[i] += ((sources[0][i] + sources[1][i]) + ...)` for every i, on `threads` threads
  /// over fixed index chunks (each element's sum has the same order whatever the timing).
  static func addShardSums(
    into target: UnsafeMutablePointer<Float>, _ sources: [UnsafePointer<Float>], count: Int, threads: Int
  ) {
    let chunks = max(1, threads)
    let chunkSize = (count + chunks - 1) / chunks
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
      let start = chunk * chunkSize
      let end = min(count, start + chunkSize)
      guard start < end else { return }
      let first = sources[0]
      if sources.count == 2 {
        let second = sources[1]
        for i in start..<end { target[i] += first[i] + second[i] }
        return
      }
      for i in start..<end {
        var sum = first[i]
        for source in sources.dropFirst() { sum += source[i] }
        target[i] += sum
      }
    }
  }
}
