import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// A teacher's next-token distribution at one position, given as natural-log probabilities.
///
/// - `full`: one log-probability per vocabulary id (`V` entries). It is renormalized before use,
///   so float32 rounding in stored values does not matter; its total probability must be within
///   `massTolerance` of 1.
/// - `topK`: the teacher's `K` most likely ids and their log-probabilities. The remaining mass
///   `1 - sum(exp(logprobs))`, clamped to at least `tailFloor`, is one "tail" bucket; the student's
///   distribution is projected onto the same `K` ids plus the tail (the student's tail is the sum
///   of its probabilities over all other ids). Ids must be distinct and in the vocabulary; the
///   total probability of the `K` entries may exceed 1 by at most `massTolerance`.
public enum TeacherDistribution: Sendable, Codable, Equatable {
  case full(logprobs: [Float])
  case topK(ids: [Int32], logprobs: [Float])

  /// Smallest probability a tail bucket (teacher's or student's) is given; keeps logarithms
  /// finite. Where the student's tail is clamped, the loss is flat in it and so is the gradient.
  public static let tailFloor: Double = 1e-10
  /// How far a teacher's total probability may be from 1 (full) or above 1 (top-k) before the
  /// input is rejected as not being log-probabilities.
  public static let massTolerance: Double = 1e-3

  /// Number of ids listed explicitly (`V` for `full`, `K` for `topK`).
  public var count: Int {
    switch self {
    case .full(let logprobs): return logprobs.count
    case .topK(let ids, _): return ids.count
    }
  }

  /// The distribution of `softmax(logits)`: all of it when `topK` is nil (or at least the number
  /// of logits), otherwise its `max(topK, 1)` most likely ids (ties broken by the lower id) in
  /// descending order of probability.
  public static func fromLogits(_ logits: [Float], topK: Int? = nil) -> TeacherDistribution {
    var maxValue = -Double.infinity
    for value in logits where Double(value) > maxValue { maxValue = Double(value) }
    var sum = 0.0
    for value in logits { sum += exp(Double(value) - maxValue) }
    let lse = maxValue + log(sum)
    let logprobs = logits.map { Float(Double($0) - lse) }
    guard let topK, topK < logits.count else { return .full(logprobs: logprobs) }
    let order = logprobs.indices.sorted {
      logprobs[$0] > logprobs[$1] || (logprobs[$0] == logprobs[$1] && $0 < $1)
    }
    let chosen = order.prefix(max(topK, 1))
    return .topK(ids: chosen.map { Int32($0) }, logprobs: chosen.map { logprobs[$0] })
  }

  /// Checks shapes, ids and finiteness against a vocabulary of `vocab` ids. Probability mass is
  /// checked when the distribution is used.
  public func validate(vocab: Int) throws {
    switch self {
    case .full(let logprobs):
      guard logprobs.count == vocab else {
        throw HindcastError(
          .invalidInput,
          "full teacher distribution has \(logprobs.count) log-probabilities, expected \(vocab)")
      }
      try Self.requireFinite(logprobs)
    case .topK(let ids, let logprobs):
      guard !ids.isEmpty, ids.count == logprobs.count else {
        throw HindcastError(
          .invalidInput,
          "top-k teacher distribution has \(ids.count) ids and \(logprobs.count) log-probabilities;"
            + " they must be equal and at least 1")
      }
      guard ids.count <= vocab else {
        throw HindcastError(
          .invalidInput, "top-k teacher distribution lists \(ids.count) ids, vocabulary has \(vocab)")
      }
      if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocab }) {
        throw HindcastError(.invalidInput, "top-k teacher id \(bad) is outside the vocabulary 0..<\(vocab)")
      }
      let sorted = ids.sorted()
      for i in 1..<max(sorted.count, 1) where sorted[i] == sorted[i - 1] {
        throw HindcastError(.invalidInput, "top-k teacher distribution lists id \(sorted[i]) more than once")
      }
      try Self.requireFinite(logprobs)
    }
  }

  private static func requireFinite(_ logprobs: [Float]) throws {
    if let index = logprobs.firstIndex(where: { !$0.isFinite }) {
      throw HindcastError(
        .invalidInput, "teacher log-probability \(logprobs[index]) at index \(index) is not finite",
        hint: "store log-probabilities from a log-softmax, which are always finite")
    }
  }
}

/// Which divergence between teacher `t` and student `s` a term minimizes.
public enum DivergenceKind: String, Sendable, Codable, CaseIterable {
  /// KL(t || s) = sum t log(t / s): mass-covering, the usual distillation loss.
  case forwardKL = "forward_kl"
  /// KL(s || t) = sum s log(s / t): mode-seeking.
  case reverseKL = "reverse_kl"
  /// Generalized Jensen-Shannon with beta = 0.5: 0.5 KL(t || m) + 0.5 KL(s || m), m = (t + s) / 2.
  case jsd
}

/// A detached importance weight for an off-policy divergence term: the term is multiplied by
/// `w = min(exp(logp(target) - oldLogprob), clip)`, where `logp` is the current student's
/// log-probability (natural log) at the term's position under `sampling` (the transform the
/// token was drawn with, see `SamplingTransform`), `target` the sampled token and `oldLogprob`
/// the behaviour policy's log-probability of it under the same transform when it was sampled.
/// No gradient flows through `w`. SDPO uses `clip = 2`.
public struct ImportanceWeight: Sendable, Codable, Equatable {
  public var oldLogprob: Float
  public var target: Int32
  public var clip: Float
  public var sampling: SamplingTransform

  public init(oldLogprob: Float, target: Int32, clip: Float = 2, sampling: SamplingTransform = .identity) {
    self.oldLogprob = oldLogprob
    self.target = target
    self.clip = clip
    self.sampling = sampling
  }

  func validate(vocab: Int) throws {
    guard target >= 0 && Int(target) < vocab else {
      throw HindcastError(
        .invalidInput, "importance-weight target \(target) is outside the vocabulary 0..<\(vocab)")
    }
    guard oldLogprob.isFinite else {
      throw HindcastError(.invalidInput, "importance-weight old log-probability \(oldLogprob) is not finite")
    }
    guard clip > 0 else {
      throw HindcastError(.invalidInput, "importance-weight clip \(clip) must be positive")
    }
    do { try sampling.validate() } catch let error as HindcastError {
      throw HindcastError(.invalidInput, "importance weight: \(error.message)")
    }
  }
}

/// Divergence losses between a stored teacher distribution and the student's softmax, with the
/// exact gradient with respect to the student's logits.
///
/// Both distributions are seen as buckets `b` (every id for `full`; the `K` ids plus the tail for
/// `topK`), with student bucket masses `q_b` and teacher masses `t_b`. With `g_b = dD/dq_b` and
/// `dq_b/dz_j = p_j (1[j in b] - q_b)`, the gradient is `dD/dz_j = p_j g_b(j) - p_j sum_b q_b g_b`.
/// Each kind supplies the per-bucket divergence `d_b` and `q_b g_b`, computed from logarithms:
/// forward KL `d = t (log t - log q)`, `q g = -t`; reverse KL `d = q (log q - log t)`, `q g = d + q`;
/// JSD `d = (t (log t - log m) + q (log q - log m)) / 2`, `q g = q (log q - log m) / 2`.
enum DivergenceMath {
  /// Returns the divergence and, when `dlogits (V)` is given, adds `scale * dD/dlogits` into it.
  /// `workspace` must hold the student's log-softmax of the row (see `LossWorkspace.prepare`).
  static func apply(
    teacher: TeacherDistribution, kind: DivergenceKind, workspace w: LossWorkspace, scale: Double,
    dlogits: UnsafeMutablePointer<Float>?
  ) throws -> Double {
    let v = w.vocab
    let ls = w.logprobs
    let p = w.probs
    let qg = w.bucketScratch
    switch teacher {
    case .full(let logprobs):
      let lseTeacher = logprobs.withUnsafeBufferPointer { logSumExp($0) }
      guard abs(exp(lseTeacher) - 1) <= TeacherDistribution.massTolerance else {
        throw HindcastError(
          .invalidInput,
          "full teacher distribution has total probability \(exp(lseTeacher)), expected 1",
          hint: "pass log-probabilities (log-softmax), not logits")
      }
      var total = 0.0
      var meanGradient = 0.0
      for j in 0..<v {
        let (d, g) = bucket(kind, logq: ls[j], q: p[j], logt: Double(logprobs[j]) - lseTeacher)
        total += d
        meanGradient += g
        qg[j] = g
      }
      if let dlogits {
        for j in 0..<v { dlogits[j] += Float(scale * (qg[j] - p[j] * meanGradient)) }
      }
      return total

    case .topK(let ids, let logprobs):
      var teacherMass = 0.0
      for value in logprobs { teacherMass += exp(Double(value)) }
      guard teacherMass <= 1 + TeacherDistribution.massTolerance else {
        throw HindcastError(
          .invalidInput, "top-k teacher log-probabilities sum to probability \(teacherMass), more than 1",
          hint: "pass log-probabilities (log-softmax), not logits")
      }
      let bucketOf = w.bucketOf
      for (k, id) in ids.enumerated() { bucketOf[Int(id)] = Int32(k) }
      defer { for id in ids { bucketOf[Int(id)] = -1 } }
      var studentTail = 0.0
      for j in 0..<v where bucketOf[j] < 0 { studentTail += p[j] }
      let teacherTail = max(1 - teacherMass, TeacherDistribution.tailFloor)
      let tailClamped = studentTail < TeacherDistribution.tailFloor
      let q = max(studentTail, TeacherDistribution.tailFloor)
      var (total, tailQG) = bucket(kind, logq: log(q), q: q, logt: log(teacherTail))
      if tailClamped { tailQG = 0 }
      var meanGradient = tailQG
      for (k, id) in ids.enumerated() {
        let j = Int(id)
        let (d, g) = bucket(kind, logq: ls[j], q: p[j], logt: Double(logprobs[k]))
        total += d
        meanGradient += g
        qg[k] = g
      }
      if let dlogits {
        let tailGradient = tailClamped ? 0 : tailQG / q
        for j in 0..<v {
          let k = Int(bucketOf[j])
          let local = k >= 0 ? qg[k] : p[j] * tailGradient
          dlogits[j] += Float(scale * (local - p[j] * meanGradient))
        }
      }
      return total
    }
  }

  /// Per-bucket divergence `d` and `q * dD/dq` for student mass `q` (log `logq`) and teacher log
  /// mass `logt`.
  @inline(__always)
  static func bucket(_ kind: DivergenceKind, logq: Double, q: Double, logt: Double) -> (Double, Double) {
    switch kind {
    case .forwardKL:
      let t = exp(logt)
      return (t * (logt - logq), -t)
    case .reverseKL:
      let d = q * (logq - logt)
      return (d, d + q)
    case .jsd:
      let high = max(logq, logt)
      let logm = high + log1p(exp(-abs(logq - logt))) - M_LN2
      let studentPart = q * (logq - logm)
      return (0.5 * (exp(logt) * (logt - logm) + studentPart), 0.5 * studentPart)
    }
  }

  static func logSumExp(_ values: UnsafeBufferPointer<Float>) -> Double {
    var maxValue = -Double.infinity
    for value in values where Double(value) > maxValue { maxValue = Double(value) }
    var sum = 0.0
    for value in values { sum += exp(Double(value) - maxValue) }
    return maxValue + log(sum)
  }
}
