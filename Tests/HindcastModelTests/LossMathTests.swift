import HindcastModel
import HindcastSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Checks each term's loss and logit-gradient in isolation: the loss against an independent
/// double-precision reference, the gradient against central differences of that reference.
/// Tolerances are tight because the reference is double and the only float rounding is in the
/// stored gradient.
@Suite struct LossMathTests {
  static let vocab = Tokenizer.vocabSize

  /// Checks one term kind at one row of logits; returns the comparison for further assertions.
  @discardableResult
  static func check(
    _ kind: TokenTerm.Kind, logits: [Float], _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> GradientComparison {
    let term = TokenTerm(position: 0, weight: 1, kind: kind)
    let (loss, gradient) = try term.lossAndGradient(logits: logits)
    let base = logits.map { Double($0) }
    let reference = ReferenceLoss.loss(kind, logits: base, detachedLogits: base)
    #expect(
      abs(loss - reference) <= 1e-10 + 1e-8 * abs(reference), "\(label): loss \(loss) reference \(reference)",
      sourceLocation: sourceLocation)
    let numeric = ReferenceLoss.numericGradient(kind, logits: logits)
    let comparison = GradientComparison(
      analytic: gradient.map { Double($0) }, numeric: numeric, absolute: 2e-8, relative: 1e-5)
    #expect(comparison.passed, "\(label): \(comparison.summary)", sourceLocation: sourceLocation)
    return comparison
  }

  static func logprob(_ logits: [Float], _ id: Int32) -> Float {
    Float(ReferenceLoss.logSoftmax(logits.map { Double($0) })[Int(id)])
  }

  @Test func crossEntropyMatchesFiniteDifferences() throws {
    var rng = SeededRandom(seed: 1)
    for (scale, target) in [(Float(1), Int32(5)), (3, 200), (8, 263)] {
      let logits = LossFixtures.logits(Self.vocab, scale: scale, rng: &rng)
      try Self.check(.crossEntropy(target: target), logits: logits, "ce scale \(scale)")
    }
  }

  /// Every branch of the clipped surrogate: inside the trust region, clipped above and below for
  /// each sign of the advantage, and unclipped outside it.
  @Test func policyGradientMatchesFiniteDifferencesOnEveryBranch() throws {
    var rng = SeededRandom(seed: 2)
    let logits = LossFixtures.logits(Self.vocab, scale: 2, rng: &rng)
    let target: Int32 = 17
    let logp = Self.logprob(logits, target)
    let cases: [(ratio: Float, advantage: Float, clipped: Bool)] = [
      (1.0, 1.5, false), (1.1, -0.7, false), (1.6, 2, true), (0.5, 2, false), (0.5, -1, true),
      (1.6, -1, false),
    ]
    for c in cases {
      let kind = TokenTerm.Kind.policyGradient(
        target: target, advantage: c.advantage, oldLogprob: logp - logf(c.ratio), clip: 0.2)
      let label = "pg ratio \(c.ratio) advantage \(c.advantage)"
      try Self.check(kind, logits: logits, label)
      let gradient = try TokenTerm(position: 0, weight: 1, kind: kind).lossAndGradient(logits: logits)
        .gradient
      let norm = gradient.reduce(0) { $0 + abs($1) }
      #expect(c.clipped ? norm == 0 : norm > 1e-3, "\(label): gradient L1 norm \(norm)")
    }
    // Unclipped (clip = infinity) is the importance-weighted policy gradient at any ratio.
    try Self.check(
      .policyGradient(target: target, advantage: 0.8, oldLogprob: logp - logf(3), clip: .infinity),
      logits: logits, "pg unclipped")
  }

  static func teachers(rng: inout SeededRandom) -> [(String, TeacherDistribution)] {
    let v = vocab
    var peaked = [Float](repeating: 0, count: v)
    for id in [3, 99, 250] { peaked[id] = 40 }
    return [
      ("full", .fromLogits(LossFixtures.logits(v, scale: 2, rng: &rng))),
      ("full peaked", .fromLogits(LossFixtures.logits(v, scale: 6, rng: &rng))),
      ("top-8", LossFixtures.topKTeacher(vocab: v, k: 8, scale: 2, rng: &rng)),
      ("top-1", LossFixtures.topKTeacher(vocab: v, k: 1, scale: 2, rng: &rng)),
      ("top-20 broad", LossFixtures.topKTeacher(vocab: v, k: 20, scale: 0.5, rng: &rng)),
      ("top-3 teacher tail clamped", .fromLogits(peaked, topK: 3)),
    ]
  }

  @Test(arguments: DivergenceKind.allCases)
  func divergenceMatchesFiniteDifferencesForEveryTeacher(kind: DivergenceKind) throws {
    var rng = SeededRandom(seed: 3)
    for (name, teacher) in Self.teachers(rng: &rng) {
      let logits = LossFixtures.logits(Self.vocab, scale: 2, rng: &rng)
      try Self.check(
        .divergence(teacher: teacher, kind: kind, importance: nil), logits: logits, "\(kind) \(name)")
    }
  }

  /// A student sure of the teacher's top-k ids has a tail below the floor: the loss is flat in
  /// the tail there, and the gradient must be too.
  @Test(arguments: DivergenceKind.allCases)
  func divergenceWithClampedStudentTail(kind: DivergenceKind) throws {
    var rng = SeededRandom(seed: 4)
    let teacher = LossFixtures.topKTeacher(vocab: Self.vocab, k: 4, scale: 2, rng: &rng)
    guard case .topK(let ids, _) = teacher else { throw HindcastError(.internalInvariant, "expected top-k") }
    var logits = LossFixtures.logits(Self.vocab, scale: 0.5, rng: &rng)
    for (i, id) in ids.enumerated() { logits[Int(id)] = 40 + Float(i) }
    try Self.check(
      .divergence(teacher: teacher, kind: kind, importance: nil), logits: logits, "\(kind) clamped")
  }

  /// The importance weight scales loss and gradient and is itself constant (detached).
  @Test(arguments: DivergenceKind.allCases)
  func importanceWeightScalesTheTermAndIsDetached(kind: DivergenceKind) throws {
    var rng = SeededRandom(seed: 5)
    let teacher = LossFixtures.topKTeacher(vocab: Self.vocab, k: 8, scale: 2, rng: &rng)
    let logits = LossFixtures.logits(Self.vocab, scale: 2, rng: &rng)
    let target: Int32 = 42
    let logp = Self.logprob(logits, target)
    let plain = try TokenTerm(
      position: 0, weight: 1, kind: .divergence(teacher: teacher, kind: kind, importance: nil)
    )
    .lossAndGradient(logits: logits)
    for (ratio, expected) in [(Float(0.6), 0.6), (1.5, 1.5), (3.0, 2.0)] {
      let importance = ImportanceWeight(oldLogprob: logp - logf(ratio), target: target, clip: 2)
      let kindWithWeight = TokenTerm.Kind.divergence(teacher: teacher, kind: kind, importance: importance)
      try Self.check(kindWithWeight, logits: logits, "\(kind) ratio \(ratio)")
      let weighted = try TokenTerm(position: 0, weight: 1, kind: kindWithWeight).lossAndGradient(
        logits: logits)
      #expect(abs(weighted.loss - expected * plain.loss) <= 1e-5 * plain.loss)
      for i in 0..<Self.vocab {
        #expect(abs(Double(weighted.gradient[i]) - expected * Double(plain.gradient[i])) <= 1e-6)
      }
    }
  }

  @Test(arguments: DivergenceKind.allCases)
  func divergenceIsZeroWhenTeacherEqualsStudent(kind: DivergenceKind) throws {
    var rng = SeededRandom(seed: 6)
    let logits = LossFixtures.logits(Self.vocab, scale: 3, rng: &rng)
    for teacher in [TeacherDistribution.fromLogits(logits), .fromLogits(logits, topK: 10)] {
      let (loss, gradient) = try TokenTerm(
        position: 0, weight: 1, kind: .divergence(teacher: teacher, kind: kind, importance: nil)
      ).lossAndGradient(logits: logits)
      #expect(abs(loss) < 1e-6, "\(kind) \(teacher.count): loss \(loss)")
      #expect(gradient.allSatisfy { abs($0) < 1e-6 }, "\(kind): max \(gradient.map { abs($0) }.max() ?? 0)")
    }
  }

  @Test func divergencesAreNonNegativeAndJSDIsBounded() throws {
    var rng = SeededRandom(seed: 7)
    for trial in 0..<20 {
      let logits = LossFixtures.logits(Self.vocab, scale: 5, rng: &rng)
      let teacher =
        trial % 2 == 0
        ? .fromLogits(LossFixtures.logits(Self.vocab, scale: 5, rng: &rng))
        : LossFixtures.topKTeacher(vocab: Self.vocab, k: 5, scale: 5, rng: &rng)
      for kind in DivergenceKind.allCases {
        let loss = try TokenTerm(
          position: 0, weight: 1, kind: .divergence(teacher: teacher, kind: kind, importance: nil)
        )
        .lossAndGradient(logits: logits).loss
        #expect(loss > 0)
        if kind == .jsd { #expect(loss <= log(2.0) + 1e-12) }
      }
    }
  }

  /// The closed forms for a full teacher: forward KL's gradient is `p - t`, cross-entropy's is
  /// `p - onehot`.
  @Test func closedFormGradients() throws {
    var rng = SeededRandom(seed: 8)
    let logits = LossFixtures.logits(Self.vocab, scale: 2, rng: &rng)
    let teacherLogits = LossFixtures.logits(Self.vocab, scale: 2, rng: &rng)
    let p = ReferenceLoss.logSoftmax(logits.map { Double($0) }).map { exp($0) }
    let t = ReferenceLoss.logSoftmax(teacherLogits.map { Double($0) }).map { exp($0) }
    let forward = try TokenTerm(
      position: 0, weight: 1,
      kind: .divergence(teacher: .fromLogits(teacherLogits), kind: .forwardKL, importance: nil)
    ).lossAndGradient(logits: logits).gradient
    let ce = try TokenTerm(position: 0, weight: 1, kind: .crossEntropy(target: 9)).lossAndGradient(
      logits: logits
    )
    .gradient
    for i in 0..<Self.vocab {
      #expect(abs(Double(forward[i]) - (p[i] - t[i])) < 1e-7)
      #expect(abs(Double(ce[i]) - (p[i] - (i == 9 ? 1 : 0))) < 1e-7)
    }
  }

  // MARK: The checks can fail

  /// A gradient off by 1e-4 in one entry, the reverse-KL gradient offered as the forward-KL one,
  /// and a policy gradient that ignores the clip are all flagged by the comparison used above.
  @Test func checkerFlagsWrongGradients() throws {
    var rng = SeededRandom(seed: 9)
    let logits = LossFixtures.logits(Self.vocab, scale: 2, rng: &rng)
    let teacher = LossFixtures.topKTeacher(vocab: Self.vocab, k: 8, scale: 2, rng: &rng)
    func compare(_ analytic: [Float], against kind: TokenTerm.Kind) -> GradientComparison {
      GradientComparison(
        analytic: analytic.map { Double($0) }, numeric: ReferenceLoss.numericGradient(kind, logits: logits),
        absolute: 2e-8, relative: 1e-5)
    }
    let ce = TokenTerm.Kind.crossEntropy(target: 3)
    var perturbed = try TokenTerm(position: 0, weight: 1, kind: ce).lossAndGradient(logits: logits).gradient
    perturbed[100] += 1e-4
    let flagged = compare(perturbed, against: ce)
    #expect(flagged.failures.map(\.index) == [100])

    let forward = TokenTerm.Kind.divergence(teacher: teacher, kind: .forwardKL, importance: nil)
    let reverse = TokenTerm.Kind.divergence(teacher: teacher, kind: .reverseKL, importance: nil)
    let reverseGradient = try TokenTerm(position: 0, weight: 1, kind: reverse).lossAndGradient(logits: logits)
      .gradient
    #expect(!compare(reverseGradient, against: forward).passed)

    let logp = Self.logprob(logits, 7)
    let clipped = TokenTerm.Kind.policyGradient(
      target: 7, advantage: 1, oldLogprob: logp - logf(1.6), clip: 0.2)
    let ignoringClip = TokenTerm.Kind.policyGradient(
      target: 7, advantage: 1, oldLogprob: logp - logf(1.6), clip: .infinity)
    let unclippedGradient = try TokenTerm(position: 0, weight: 1, kind: ignoringClip).lossAndGradient(
      logits: logits
    )
    .gradient
    #expect(!compare(unclippedGradient, against: clipped).passed)
  }
}
