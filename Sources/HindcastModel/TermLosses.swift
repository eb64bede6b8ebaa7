import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Scratch space for evaluating terms on rows of logits, allocated once per batch call. It caches
/// the log-softmax of the most recent row, so several terms at one position share it.
///
/// Not thread-safe. All buffers hold `vocab` entries.
final class LossWorkspace {
  let vocab: Int
  /// Student log-probabilities of the prepared row, in double. (V)
  let logprobs: UnsafeMutablePointer<Double>
  /// Student probabilities of the prepared row. (V)
  let probs: UnsafeMutablePointer<Double>
  /// Per-bucket values of a divergence. (V)
  let bucketScratch: UnsafeMutablePointer<Double>
  /// Bucket index of each id for top-k teachers, -1 for the tail; kept all -1 between calls. (V)
  let bucketOf: UnsafeMutablePointer<Int32>
  /// Log-probabilities and probabilities of the row under the sampling transform last prepared
  /// with `prepareSampled` (-infinity and 0 for dropped tokens). (V)
  let sampledLogprobs: UnsafeMutablePointer<Double>
  let sampledProbs: UnsafeMutablePointer<Double>
  /// Sort scratch of `SamplingTransform.apply`. (V)
  private let order: UnsafeMutablePointer<Int32>
  private var preparedRow: UnsafePointer<Float>?
  private var sampledRow: UnsafePointer<Float>?
  private var sampledTransform: SamplingTransform?

  init(vocab: Int) {
    self.vocab = vocab
    logprobs = .allocate(capacity: vocab)
    probs = .allocate(capacity: vocab)
    bucketScratch = .allocate(capacity: vocab)
    bucketOf = .allocate(capacity: vocab)
    sampledLogprobs = .allocate(capacity: vocab)
    sampledProbs = .allocate(capacity: vocab)
    order = .allocate(capacity: vocab)
    logprobs.initialize(repeating: 0, count: vocab)
    probs.initialize(repeating: 0, count: vocab)
    bucketScratch.initialize(repeating: 0, count: vocab)
    bucketOf.initialize(repeating: -1, count: vocab)
    sampledLogprobs.initialize(repeating: 0, count: vocab)
    sampledProbs.initialize(repeating: 0, count: vocab)
    order.initialize(repeating: 0, count: vocab)
  }

  deinit {
    logprobs.deallocate()
    probs.deallocate()
    bucketScratch.deallocate()
    bucketOf.deallocate()
    sampledLogprobs.deallocate()
    sampledProbs.deallocate()
    order.deallocate()
  }

  /// Fills `sampledLogprobs` and `sampledProbs` with the row's distribution under `transform`
  /// (`SamplingTransform.apply`), unless this row and transform were the last ones prepared.
  func prepareSampled(_ logits: UnsafePointer<Float>, transform: SamplingTransform) {
    if sampledRow == logits && sampledTransform == transform { return }
    sampledRow = logits
    sampledTransform = transform
    transform.apply(
      logits: logits, vocab: vocab, logprobs: sampledLogprobs, probs: sampledProbs, order: order)
  }

  /// The current policy's log-probability of `target` under `transform` and the distribution
  /// its gradient uses, `d log q(target) / d logits = scale * (onehot(target) - probs)`.
  /// The identity reads the prepared row itself (bit for bit the untransformed values); a greedy
  /// transform has scale 0 (its log-probabilities are piecewise constant).
  func sampled(_ target: Int, _ logits: UnsafePointer<Float>, transform: SamplingTransform) -> (
    logprob: Double, probs: UnsafeMutablePointer<Double>, scale: Double
  ) {
    if transform.isIdentity { return (logprobs[target], probs, 1) }
    prepareSampled(logits, transform: transform)
    let scale = transform.isGreedy ? 0 : 1 / Double(transform.temperature)
    return (sampledLogprobs[target], sampledProbs, scale)
  }

  /// Computes the log-softmax and softmax of `logits (V)` in double, unless this row (the same
  /// pointer, unchanged since) was the last one prepared. Call `invalidate()` when the memory
  /// behind a pointer may have changed.
  func prepare(_ logits: UnsafePointer<Float>) {
    if preparedRow == logits { return }
    preparedRow = logits
    var maxValue = -Float.infinity
    for i in 0..<vocab where logits[i] > maxValue { maxValue = logits[i] }
    let shift = Double(maxValue)
    var sum = 0.0
    for i in 0..<vocab {
      let e = exp(Double(logits[i]) - shift)
      probs[i] = e
      sum += e
    }
    let logSum = log(sum)
    let inverse = 1 / sum
    for i in 0..<vocab {
      logprobs[i] = Double(logits[i]) - shift - logSum
      probs[i] *= inverse
    }
  }

  func invalidate() {
    preparedRow = nil
    sampledRow = nil
    sampledTransform = nil
  }
}

/// What evaluating one term produced, besides its gradient.
struct TermOutcome {
  /// The term's unweighted loss (for an importance-weighted divergence, `w * D`).
  var loss: Double
  /// A policy-gradient term whose clipped branch was active (zero gradient).
  var policyClipped = false
  /// An importance-weighted term whose ratio hit its clip.
  var importanceClipped = false
}

/// Loss and logit-gradient of single terms.
enum TermLoss {
  /// Largest log-ratio used in `exp(logp - oldLogprob)`; keeps ratios finite (about 5e21).
  static let maxLogRatio = 50.0

  /// Evaluates `term` on `logits (V)`. When `dlogits (V)` is given, adds
  /// `term.weight * dloss/dlogits` into it. The term must have passed `validate(vocab:)`.
  static func apply(
    _ term: TokenTerm, logits: UnsafePointer<Float>, dlogits: UnsafeMutablePointer<Float>?,
    workspace w: LossWorkspace
  ) throws -> TermOutcome {
    w.prepare(logits)
    let v = w.vocab
    let ls = w.logprobs
    let p = w.probs
    let weight = Double(term.weight)
    switch term.kind {
    case .crossEntropy(let target):
      let y = Int(target)
      if let dlogits {
        for i in 0..<v { dlogits[i] += Float(weight * p[i]) }
        dlogits[y] -= term.weight
      }
      return TermOutcome(loss: -ls[y])

    case .policyGradient(let target, let advantage, let oldLogprob, let clip, let sampling):
      let y = Int(target)
      // logp and q are the current policy's under the rollout's sampling transform (p itself
      // for the identity); a token the transform drops has logp = -inf, so ratio 0.
      let (logp, q, scale) = w.sampled(y, logits, transform: sampling)
      let ratio = exp(min(logp - Double(oldLogprob), maxLogRatio))
      let a = Double(advantage)
      let low = 1 - Double(clip)
      let high = 1 + Double(clip)
      let clipped = (a > 0 && ratio > high) || (a < 0 && ratio < low)
      let clippedRatio = min(max(ratio, low), high)
      let loss = -min(ratio * a, clippedRatio * a)
      if let dlogits, !clipped, scale != 0 {
        // dloss/dlogp = -A r; dlogp/dz = (onehot(y) - q) / temperature.
        let coefficient = -a * ratio * weight * scale
        for i in 0..<v { dlogits[i] -= Float(coefficient * q[i]) }
        dlogits[y] += Float(coefficient)
      }
      return TermOutcome(loss: loss, policyClipped: clipped)

    case .divergence(let teacher, let kind, let importance):
      var factor = 1.0
      var importanceClipped = false
      if let importance {
        let current = w.sampled(Int(importance.target), logits, transform: importance.sampling).logprob
        let ratio = exp(min(current - Double(importance.oldLogprob), maxLogRatio))
        importanceClipped = ratio > Double(importance.clip)
        factor = min(ratio, Double(importance.clip))
      }
      let divergence = try DivergenceMath.apply(
        teacher: teacher, kind: kind, workspace: w, scale: weight * factor, dlogits: dlogits)
      return TermOutcome(loss: factor * divergence, importanceClipped: importanceClipped)
    }
  }
}

extension TokenTerm {
  /// Checks the term's ids, shapes and numbers against a vocabulary of `vocab` ids, throwing a
  /// `HindcastError` that names the problem. (Positions are checked against their sequence by the
  /// batch calls.) A teacher's probability mass is checked when the term is evaluated.
  public func validate(vocab: Int) throws {
    guard weight.isFinite else {
      throw HindcastError(.invalidInput, "loss term at position \(position) has non-finite weight \(weight)")
    }
    func requireTarget(_ target: Int32, _ what: String) throws {
      guard target >= 0 && Int(target) < vocab else {
        throw HindcastError(
          .invalidInput,
          "\(what) target \(target) at position \(position) is outside the vocabulary 0..<\(vocab)")
      }
    }
    switch kind {
    case .crossEntropy(let target):
      try requireTarget(target, "cross-entropy")
    case .policyGradient(let target, let advantage, let oldLogprob, let clip, let sampling):
      try requireTarget(target, "policy-gradient")
      do { try sampling.validate() } catch let error as HindcastError {
        throw HindcastError(.invalidInput, "policy-gradient term at position \(position): \(error.message)")
      }
      guard advantage.isFinite, oldLogprob.isFinite else {
        throw HindcastError(
          .invalidInput,
          "policy-gradient term at position \(position) has advantage \(advantage) and old log-probability"
            + " \(oldLogprob); both must be finite")
      }
      guard clip > 0 else {
        throw HindcastError(
          .invalidInput, "policy-gradient clip \(clip) at position \(position) must be positive",
          hint: "use a value like 0.2, or .infinity for an unclipped policy gradient")
      }
    case .divergence(let teacher, _, let importance):
      try teacher.validate(vocab: vocab)
      try importance?.validate(vocab: vocab)
    }
  }

  /// The term's unweighted loss on one row of `logits (V)` and its gradient `dloss/dlogits (V)`
  /// (the batch calls multiply both by `weight`). Validates the term first. Meant for tests and
  /// diagnostics; the batch calls avoid its allocations.
  public func lossAndGradient(logits: [Float]) throws -> (loss: Double, gradient: [Float]) {
    guard !logits.isEmpty else { throw HindcastError(.invalidInput, "empty row of logits") }
    try validate(vocab: logits.count)
    var unit = self
    unit.weight = 1
    let workspace = LossWorkspace(vocab: logits.count)
    var gradient = [Float](repeating: 0, count: logits.count)
    let outcome = try logits.withUnsafeBufferPointer { l in
      try gradient.withUnsafeMutableBufferPointer { g in
        try TermLoss.apply(unit, logits: l.baseAddress!, dlogits: g.baseAddress!, workspace: workspace)
      }
    }
    return (outcome.loss, gradient)
  }
}
