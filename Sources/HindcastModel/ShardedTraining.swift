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

  func activations(config: ModelConfig, batch: Int, length: Int) -> Activations {
    if let existing = activations, existing.batch == batch, existing.length == length { return existing }
    let fresh = Activations(config: config, batch: batch, length: length)
    activations = fresh
    return fresh
  }
}

extension Transformer {
  /// The sequences of each of `shards` shards of a batch of `batch` sequences: consecutive,
  /// fixed ranges, the first `batch % shards` one sequence longer. Empty shards are dropped.
  static func shardRanges(batch: Int, shards: Int) -> [Range<Int>] {
    let count = max(1, min(shards, batch))
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

  /// `lossAndGradients` on `trainingThreads` shards (see there). `tokens (B, length)` is the
  /// packed, validated batch. Every shard runs forward, its terms and backward on its own thread
  /// with BLAS set to one thread (restored afterwards); when all succeeded, the shard gradients
  /// are added to `gradients` as `((g0 + g1) + ...)`, element by element, and the shard reports
  /// are merged in shard order. On an error `gradients` is unchanged and the error of the lowest
  /// failing shard is thrown.
  func shardedLossAndGradients(_ batch: [TrainingSequence], tokens: [Int32], length: Int) throws
    -> LossReport
  {
    let ranges = Self.shardRanges(batch: batch.count, shards: trainingThreads)
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
            let act = shard.activations(config: config, batch: range.count, length: length)
            let shardTokens = Array(tokens[(range.lowerBound * length)..<(range.upperBound * length)])
            runForward(params, tokens: shardTokens, act: act)
            act.dlogits.zero()
            var report = try accumulateTerms(
              Array(batch[range]), length: length, logits: UnsafePointer(act.logits.pointer),
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
