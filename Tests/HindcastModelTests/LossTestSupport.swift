import HindcastModel
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Compares an analytic gradient with a numeric one, entry by entry: entry i fails when
/// `|analytic - numeric| > absolute + relative * |numeric|`.
struct GradientComparison {
  var failures: [(index: Int, analytic: Double, numeric: Double)] = []
  var worstExcess = 0.0

  init(analytic: [Double], numeric: [Double], absolute: Double, relative: Double) {
    for i in 0..<min(analytic.count, numeric.count) {
      let allowed = absolute + relative * abs(numeric[i])
      let error = abs(analytic[i] - numeric[i])
      worstExcess = max(worstExcess, error / allowed)
      if !(error <= allowed) { failures.append((i, analytic[i], numeric[i])) }
    }
    if analytic.count != numeric.count {
      failures.append((-1, Double(analytic.count), Double(numeric.count)))
    }
  }

  var passed: Bool { failures.isEmpty }
  var summary: String {
    failures.prefix(5).map { "[\($0.index)] analytic \($0.analytic) numeric \($0.numeric)" }.joined(
      separator: "; ")
  }
}

/// Independent double-precision implementations of every term's loss, written from the
/// definitions (bucket masses, then the divergence sums), used as the function that finite
/// differences differentiate.
enum ReferenceLoss {
  static func logSoftmax(_ z: [Double]) -> [Double] {
    let m = z.max() ?? 0
    let lse = m + log(z.reduce(0) { $0 + exp($1 - m) })
    return z.map { $0 - lse }
  }

  /// Log-probabilities of the distribution a sampler with `transform` draws from, written from
  /// its definition: greedy puts all mass on the first maximum; otherwise softmax(z / T), keep the
  /// top k (stable sort, so ties go to the lower id), then the shortest prefix holding top_p of
  /// the kept mass, renormalized; dropped tokens get -infinity.
  static func transformedLogSoftmax(_ z: [Double], _ transform: SamplingTransform) -> [Double] {
    if transform.temperature == 0 {
      let best = z.firstIndex(of: z.max() ?? 0) ?? 0
      return z.indices.map { $0 == best ? 0 : -.infinity }
    }
    let tempered = logSoftmax(z.map { $0 / Double(transform.temperature) })
    let ranked = z.indices.sorted { z[$0] > z[$1] || (z[$0] == z[$1] && $0 < $1) }
    var kept = Array(ranked.prefix(transform.topK ?? z.count))
    if let p = transform.topP, p < 1 {
      let mass = kept.reduce(0.0) { $0 + exp(tempered[$1]) }
      var cumulative = 0.0
      var count = kept.count
      for (n, id) in kept.enumerated() {
        cumulative += exp(tempered[id])
        if cumulative >= Double(p) * mass {
          count = n + 1
          break
        }
      }
      kept = Array(kept.prefix(count))
    }
    let keptSet = Set(kept)
    let logMass = log(kept.reduce(0.0) { $0 + exp(tempered[$1]) })
    return z.indices.map { keptSet.contains($0) ? tempered[$0] - logMass : -.infinity }
  }

  /// The loss of `kind` at `logits`; an importance weight is evaluated at `detachedLogits` (it is
  /// a constant for differentiation).
  static func loss(_ kind: TokenTerm.Kind, logits: [Double], detachedLogits: [Double]) -> Double {
    let ls = logSoftmax(logits)
    switch kind {
    case .crossEntropy(let target):
      return -ls[Int(target)]
    case .policyGradient(let target, let advantage, let oldLogprob, let clip, let sampling):
      let r = exp(transformedLogSoftmax(logits, sampling)[Int(target)] - Double(oldLogprob))
      let a = Double(advantage)
      let clipped = min(max(r, 1 - Double(clip)), 1 + Double(clip))
      return -min(r * a, clipped * a)
    case .divergence(let teacher, let divergenceKind, let importance):
      var weight = 1.0
      if let importance {
        let detached = transformedLogSoftmax(detachedLogits, importance.sampling)
        weight = min(
          exp(detached[Int(importance.target)] - Double(importance.oldLogprob)), Double(importance.clip))
      }
      let (t, q) = buckets(teacher, studentLogprobs: ls)
      return weight * divergence(divergenceKind, teacher: t, student: q)
    }
  }

  /// Teacher and student masses per bucket (every id, or the top-k ids then the tail).
  static func buckets(_ teacher: TeacherDistribution, studentLogprobs ls: [Double]) -> ([Double], [Double]) {
    let p = ls.map { exp($0) }
    switch teacher {
    case .full(let logprobs):
      let t = logprobs.map { exp(Double($0)) }
      let total = t.reduce(0, +)
      return (t.map { $0 / total }, p)
    case .topK(let ids, let logprobs):
      var t = logprobs.map { exp(Double($0)) }
      var q = ids.map { p[Int($0)] }
      let chosen = Set(ids.map { Int($0) })
      let studentTail = p.indices.filter { !chosen.contains($0) }.reduce(0.0) { $0 + p[$1] }
      t.append(max(1 - t.reduce(0, +), TeacherDistribution.tailFloor))
      q.append(max(studentTail, TeacherDistribution.tailFloor))
      return (t, q)
    }
  }

  static func divergence(_ kind: DivergenceKind, teacher t: [Double], student q: [Double]) -> Double {
    func kl(_ a: [Double], _ b: [Double]) -> Double {
      zip(a, b).reduce(0) { $0 + ($1.0 > 0 ? $1.0 * log($1.0 / $1.1) : 0) }
    }
    switch kind {
    case .forwardKL: return kl(t, q)
    case .reverseKL: return kl(q, t)
    case .jsd:
      let m = zip(t, q).map { 0.5 * ($0 + $1) }
      return 0.5 * kl(t, m) + 0.5 * kl(q, m)
    }
  }

  /// Central differences of the reference loss with respect to each logit.
  static func numericGradient(_ kind: TokenTerm.Kind, logits: [Float], step: Double = 1e-5) -> [Double] {
    let base = logits.map { Double($0) }
    return base.indices.map { i in
      var plus = base
      var minus = base
      plus[i] += step
      minus[i] -= step
      return
        (loss(kind, logits: plus, detachedLogits: base) - loss(kind, logits: minus, detachedLogits: base))
        / (2 * step)
    }
  }
}

/// Random inputs for loss tests.
enum LossFixtures {
  static func logits(_ count: Int, scale: Float, rng: inout SeededRandom) -> [Float] {
    (0..<count).map { _ in scale * rng.nextGaussian() }
  }

  /// A top-k teacher: the `k` most likely ids of a random distribution.
  static func topKTeacher(vocab: Int, k: Int, scale: Float, rng: inout SeededRandom) -> TeacherDistribution {
    TeacherDistribution.fromLogits(logits(vocab, scale: scale, rng: &rng), topK: k)
  }
}
