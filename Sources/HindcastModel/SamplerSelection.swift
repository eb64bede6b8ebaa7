import HindcastKernels
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Chooses one token from a row of logits according to `SamplingSettings`, and lists the most
/// likely tokens. Owns its scratch (allocated once, `V` entries each) so choosing allocates
/// nothing. Not thread-safe.
///
/// Random numbers: a non-greedy choice draws exactly one `nextUnitDouble()` from the generator it
/// is given; greedy choices draw none.
final class TokenChooser {
  struct Choice {
    var token: Int32
    /// log softmax(logits)[token], untempered.
    var logprob: Float
    /// Log-probability under the (tempered, truncated, renormalized) sampling distribution.
    var samplingLogprob: Float
    /// Log-sum-exp of the untempered logits (to turn other logits into log-probabilities).
    var logSumExp: Float
  }

  let vocab: Int
  let settings: SamplingSettings
  private let probs: UnsafeMutablePointer<Float>  // (V) unnormalized tempered probabilities
  private let heap: UnsafeMutablePointer<Int32>  // (V) index heap
  private let kept: UnsafeMutablePointer<Int32>  // (V) kept candidates, most likely first
  private let restricts: Bool

  init(vocab: Int, settings: SamplingSettings) {
    self.vocab = vocab
    self.settings = settings
    probs = .allocate(capacity: vocab)
    probs.initialize(repeating: 0, count: vocab)
    heap = .allocate(capacity: vocab)
    heap.initialize(repeating: 0, count: vocab)
    kept = .allocate(capacity: vocab)
    kept.initialize(repeating: 0, count: vocab)
    restricts = (settings.topK.map { $0 < vocab } ?? false) || (settings.topP.map { $0 < 1 } ?? false)
  }

  deinit {
    probs.deallocate()
    heap.deallocate()
    kept.deallocate()
  }

  func choose(logits: UnsafePointer<Float>, rng: inout SeededRandom) -> Choice {
    var maxLogit = -Float.infinity
    var best = 0
    for i in 0..<vocab where logits[i] > maxLogit {
      maxLogit = logits[i]
      best = i
    }
    // probs (V) = exp(logits - max): the untempered weights, reused when temperature is 1.
    for i in 0..<vocab { probs[i] = InferenceKernels.exp(logits[i] - maxLogit) }
    let lse = maxLogit + logf(Reduce.sum(probs, count: vocab))
    if settings.isGreedy {
      return Choice(token: Int32(best), logprob: logits[best] - lse, samplingLogprob: 0, logSumExp: lse)
    }
    if settings.temperature != 1 {
      let inverseTemperature = 1 / settings.temperature
      for i in 0..<vocab { probs[i] = InferenceKernels.exp((logits[i] - maxLogit) * inverseTemperature) }
    }
    let total = Double(Reduce.sum(probs, count: vocab))
    let token: Int
    let mass: Double
    if restricts {
      let count = keepCandidates(total: total)
      var keptMass: Double = 0
      for n in 0..<count { keptMass += Double(probs[Int(kept[n])]) }
      let target = rng.nextUnitDouble() * keptMass
      var chosen = Int(kept[count - 1])
      var cumulative: Double = 0
      for n in 0..<count {
        cumulative += Double(probs[Int(kept[n])])
        if cumulative > target {
          chosen = Int(kept[n])
          break
        }
      }
      token = chosen
      mass = keptMass
    } else {
      let target = rng.nextUnitDouble() * total
      var chosen = best
      var cumulative: Double = 0
      for i in 0..<vocab where probs[i] > 0 {
        cumulative += Double(probs[i])
        chosen = i
        if cumulative > target { break }
      }
      token = chosen
      mass = total
    }
    let samplingLogprob = Float(log(Double(probs[token]) / mass))
    return Choice(
      token: Int32(token), logprob: logits[token] - lse, samplingLogprob: samplingLogprob, logSumExp: lse)
  }

  /// Fills `kept` with the top-k, then top-p candidates of `probs`, most likely first; returns
  /// their number (at least 1).
  private func keepCandidates(total: Double) -> Int {
    for i in 0..<vocab { heap[i] = Int32(i) }
    var heapCount = vocab
    IndexHeap.build(heap, count: heapCount, keys: probs)
    let limit = min(settings.topK ?? vocab, vocab)
    let topP = Double(settings.topP ?? 1)
    var count = 0
    var mass: Double = 0
    while count < limit {
      let index = IndexHeap.pop(heap, count: &heapCount, keys: probs)
      kept[count] = index
      count += 1
      mass += Double(probs[Int(index)])
      // Without top-k the nucleus can stop as soon as it holds enough of the total mass.
      if settings.topK == nil && mass >= topP * total { return count }
    }
    guard settings.topK != nil, topP < 1 else { return count }
    var cumulative: Double = 0
    for n in 0..<count {
      cumulative += Double(probs[Int(kept[n])])
      if cumulative >= topP * mass { return n + 1 }
    }
    return count
  }

  /// The `k` most likely tokens of `logits` (descending, ties by lower id) with log-probabilities
  /// `logit - logSumExp`.
  func top(_ k: Int, logits: UnsafePointer<Float>, logSumExp: Float) -> [TokenLogprob] {
    for i in 0..<vocab { heap[i] = Int32(i) }
    var heapCount = vocab
    IndexHeap.build(heap, count: heapCount, keys: logits)
    var result: [TokenLogprob] = []
    result.reserveCapacity(k)
    for _ in 0..<min(k, vocab) {
      let index = IndexHeap.pop(heap, count: &heapCount, keys: logits)
      result.append(TokenLogprob(token: index, logprob: logits[Int(index)] - logSumExp))
    }
    return result
  }
}

/// A binary max-heap of indices ordered by `keys[index]` (larger first, ties by lower index),
/// over caller-owned storage.
enum IndexHeap {
  @inline(__always)
  static func before(_ a: Int32, _ b: Int32, _ keys: UnsafePointer<Float>) -> Bool {
    let ka = keys[Int(a)]
    let kb = keys[Int(b)]
    return ka > kb || (ka == kb && a < b)
  }

  static func siftDown(
    _ heap: UnsafeMutablePointer<Int32>, from start: Int, count: Int, keys: UnsafePointer<Float>
  ) {
    var i = start
    while true {
      let left = 2 * i + 1
      if left >= count { return }
      var child = left
      if left + 1 < count && before(heap[left + 1], heap[left], keys) { child = left + 1 }
      guard before(heap[child], heap[i], keys) else { return }
      heap.swapAt(i, child)
      i = child
    }
  }

  static func build(_ heap: UnsafeMutablePointer<Int32>, count: Int, keys: UnsafePointer<Float>) {
    var i = count / 2 - 1
    while i >= 0 {
      siftDown(heap, from: i, count: count, keys: keys)
      i -= 1
    }
  }

  /// Removes and returns the first index. `count` must be positive.
  static func pop(_ heap: UnsafeMutablePointer<Int32>, count: inout Int, keys: UnsafePointer<Float>) -> Int32
  {
    let top = heap[0]
    count -= 1
    heap[0] = heap[count]
    siftDown(heap, from: 0, count: count, keys: keys)
    return top
  }
}

extension UnsafeMutablePointer {
  @inline(__always)
  fileprivate func swapAt(_ i: Int, _ j: Int) {
    let t = self[i]
    self[i] = self[j]
    self[j] = t
  }
}
