import HindcastModel
import HindcastSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Finite-difference checks of the whole model for every term kind, through `lossAndGradients`:
/// every layer sits between a parameter and the loss. The loss is recomputed in float32, so the
/// tolerance is that of the existing cross-entropy check.
@Suite struct LossModelGradientTests {
  static let config = ModelConfig(contextLength: 8, layers: 2, width: 16, heads: 2)

  static func tokenSequences() -> [[Int32]] {
    var rng = SeededRandom(seed: 3)
    return (0..<2).map { b in (0..<(6 + b)).map { _ in Int32(rng.nextInt(below: 40) + 60) } }
  }

  /// Perturbs two random coordinates and the largest-gradient coordinate of every parameter tensor;
  /// returns a description of each coordinate whose gradient disagrees with (extrapolated) central
  /// differences.
  static func mismatches(
    _ model: Transformer, _ batch: [TrainingSequence], analytic: [Float]? = nil, seed: UInt64 = 5
  ) throws -> [String] {
    model.zeroGradients()
    _ = try model.lossAndGradients(batch)
    let gradient = analytic ?? model.gradients
    // Coordinates whose gradients are tiny next to the largest one are compared in absolute terms.
    let floor = 2e-3 * (gradient.map { abs($0) }.max() ?? 0)
    var rng = SeededRandom(seed: seed)
    var found: [String] = []
    for entry in model.layout.entries {
      var indices = (0..<2).map { _ in entry.offset + rng.nextInt(below: entry.count) }
      let range = entry.offset..<(entry.offset + entry.count)
      if let top = range.max(by: { abs(gradient[$0]) < abs(gradient[$1]) }) { indices.append(top) }
      for index in indices {
        let saved = model.parameters[index]
        func centralDifference(_ h: Float) throws -> Double {
          model.parameters[index] = saved + h
          let plus = try model.evaluate(batch).loss
          model.parameters[index] = saved - h
          let minus = try model.evaluate(batch).loss
          model.parameters[index] = saved
          return (plus - minus) / Double((saved + h) - (saved - h))
        }
        // Richardson extrapolation cancels the h^2 error term: biases added to the residual
        // stream, whose scale at initialization is ~0.02, are strongly curved at h = 1e-2.
        let numeric = Float((4 * (try centralDifference(5e-3)) - (try centralDifference(1e-2))) / 3)
        let error = abs(numeric - gradient[index]) / max(floor, abs(numeric) + abs(gradient[index]))
        if !(error < 0.02) {
          found.append(
            "\(entry.name)[\(index - entry.offset)]: analytic \(gradient[index]) numeric \(numeric)")
        }
      }
    }
    return found
  }

  /// One term of `kind(position, next token)` at every position of every sequence.
  static func batch(weight: Float = 0.5, _ kind: (Int, Int, Int32) -> TokenTerm.Kind) -> [TrainingSequence] {
    tokenSequences().enumerated().map { b, tokens in
      TrainingSequence(
        tokens: tokens,
        terms: (0..<(tokens.count - 1)).map { t in
          TokenTerm(position: t, weight: weight, kind: kind(b, t, tokens[t + 1]))
        })
    }
  }

  /// Random teachers, one per (sequence, position): full or top-8.
  static func teacher(_ b: Int, _ t: Int, topK: Int?) -> TeacherDistribution {
    var rng = SeededRandom(seed: SeedDerivation.derive(77, [UInt64(b), UInt64(t)]))
    return .fromLogits(LossFixtures.logits(Tokenizer.vocabSize, scale: 2, rng: &rng), topK: topK)
  }

  @Test func crossEntropy() throws {
    let model = try Transformer(config: Self.config, seed: 11)
    let found = try Self.mismatches(model, Self.batch { _, _, next in .crossEntropy(target: next) })
    #expect(found.isEmpty, "\(found)")
  }

  /// Ratios chosen on every branch of the surrogate and away from its kinks.
  @Test func policyGradient() throws {
    let model = try Transformer(config: Self.config, seed: 11)
    let logprobs = try model.nextTokenLogprobs(Self.tokenSequences())
    let branches: [(ratio: Float, advantage: Float)] = [
      (1, 1), (1.6, 1), (0.5, 1), (0.5, -1), (1.6, -1), (1.05, -2),
    ]
    let batch = Self.batch { b, t, next in
      let branch = branches[(b + t) % branches.count]
      return .policyGradient(
        target: next, advantage: branch.advantage, oldLogprob: logprobs[b][t] - logf(branch.ratio), clip: 0.2)
    }
    let report = try model.evaluate(batch)
    #expect(report.policyClipped == 4, "clipped \(report.policyClipped) of \(report.policyGradient.terms)")
    let found = try Self.mismatches(model, batch)
    #expect(found.isEmpty, "\(found)")
  }

  @Test(arguments: DivergenceKind.allCases)
  func divergence(kind: DivergenceKind) throws {
    let model = try Transformer(config: Self.config, seed: 11)
    for topK in [nil, 8] as [Int?] {
      let batch = Self.batch { b, t, _ in
        .divergence(teacher: Self.teacher(b, t, topK: topK), kind: kind, importance: nil)
      }
      let found = try Self.mismatches(model, batch)
      #expect(found.isEmpty, "\(kind) top-k \(String(describing: topK)): \(found)")
    }
  }

  /// A clipped importance weight is the constant `clip`, so finite differences apply directly;
  /// unclipped weights `w_i` must give the gradient of the same terms with weights scaled by `w_i`.
  @Test(arguments: DivergenceKind.allCases)
  func importanceWeightedDivergence(kind: DivergenceKind) throws {
    let model = try Transformer(config: Self.config, seed: 11)
    let logprobs = try model.nextTokenLogprobs(Self.tokenSequences())
    func ratio(_ b: Int, _ t: Int) -> Float { [0.5, 1.3, 1.9][(b + t) % 3] }
    let clipped = Self.batch { b, t, next in
      .divergence(
        teacher: Self.teacher(b, t, topK: 8), kind: kind,
        importance: ImportanceWeight(oldLogprob: logprobs[b][t] - logf(3), target: next, clip: 2))
    }
    #expect(try model.evaluate(clipped).importanceClipped == 11)
    let found = try Self.mismatches(model, clipped)
    #expect(found.isEmpty, "\(kind) clipped importance: \(found)")

    let weighted = Self.batch { b, t, next in
      .divergence(
        teacher: Self.teacher(b, t, topK: 8), kind: kind,
        importance: ImportanceWeight(oldLogprob: logprobs[b][t] - logf(ratio(b, t)), target: next, clip: 2))
    }
    var scaled = Self.batch { b, t, _ in
      .divergence(teacher: Self.teacher(b, t, topK: 8), kind: kind, importance: nil)
    }
    for b in scaled.indices {
      for i in scaled[b].terms.indices { scaled[b].terms[i].weight *= ratio(b, scaled[b].terms[i].position) }
    }
    model.zeroGradients()
    let weightedReport = try model.lossAndGradients(weighted)
    let weightedGradient = model.gradients
    model.zeroGradients()
    let scaledReport = try model.lossAndGradients(scaled)
    #expect(weightedReport.importanceClipped == 0)
    #expect(abs(weightedReport.loss - scaledReport.loss) <= 1e-5 * abs(scaledReport.loss))
    let scale = model.gradients.map { abs($0) }.max() ?? 0
    let worst = zip(weightedGradient, model.gradients).map { abs($0 - $1) }.max() ?? 0
    #expect(scale > 0 && worst <= 1e-4 * scale, "worst \(worst) of \(scale)")
  }

  /// The model-level checker catches a gradient that is wrong in a single coordinate.
  @Test func checkerFlagsAPerturbedParameterGradient() throws {
    let model = try Transformer(config: Self.config, seed: 11)
    let batch = Self.batch { b, t, _ in
      .divergence(teacher: Self.teacher(b, t, topK: 8), kind: .jsd, importance: nil)
    }
    model.zeroGradients()
    _ = try model.lossAndGradients(batch)
    var wrong = model.gradients
    let top = try #require(wrong.indices.max(by: { abs(wrong[$0]) < abs(wrong[$1]) }))
    let entry = try #require(
      model.layout.entries.first { ($0.offset..<($0.offset + $0.count)).contains(top) })
    wrong[top] *= 1.2
    let found = try Self.mismatches(model, batch, analytic: wrong)
    #expect(found.count == 1 && found.first?.hasPrefix(entry.name) == true, "\(found)")
  }
}
