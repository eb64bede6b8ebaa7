import Foundation
import HindcastSupport
import Testing

@testable import HindcastModel

/// Behaviour log-probs and importance ratios under sampling transforms: the sampler's stored
/// log-prob of each token is that of the distribution it drew from, and the training side's
/// ratio (policy-gradient and importance-weighted terms) is 1 on the sampling weights and equals
/// an independent computation afterwards. The reference is `ReferenceLoss.transformedLogSoftmax`
/// (softmax of logits / T, stable sort for top-k, nucleus prefix, renormalized), applied to the
/// uncached forward pass's rows in double.
@Suite struct SamplingTransformTests {
  typealias F = SamplerFixtures

  static let transforms: [SamplingTransform] = [
    SamplingTransform(temperature: 0.7),
    SamplingTransform(temperature: 1.3),
    SamplingTransform(temperature: 1.3, topK: 5, topP: 0.8),
    SamplingTransform(temperature: 0.7, topP: 0.6),
    SamplingTransform(temperature: 1, topK: 3),
  ]

  struct Sample {
    var prompt: [Int32]
    var generation: Generation
    /// Log-softmax rows (double, uncached forward) that chose each generated token.
    var rows: [[Double]]
  }

  static func sample(_ model: Transformer, _ transform: SamplingTransform, seed: UInt64 = 21) throws
    -> [Sample]
  {
    let settings = SamplingSettings(
      temperature: transform.temperature, topK: transform.topK, topP: transform.topP, maxNewTokens: 8,
      stopTokens: [])
    let prompts = F.prompts(6, lengths: 2...7, seed: 8)
    var rng = SeededRandom(seed: seed)
    let generations = try Sampler.generate(model: model, prompts: prompts, settings: settings, rng: &rng)
    return try zip(prompts, generations).map { prompt, generation in
      Sample(
        prompt: prompt, generation: generation,
        rows: try F.referenceRows(model, prompt: prompt, generated: generation.tokens))
    }
  }

  /// The model's ratio for generated token `i` through the training path (`evaluate`, packed
  /// forward): one unclipped policy-gradient term with advantage 1, whose loss is `-r`.
  static func trainingRatio(
    _ model: Transformer, _ sample: Sample, _ i: Int, oldLogprob: Float, _ transform: SamplingTransform
  ) throws -> Double {
    let tokens = sample.prompt + sample.generation.tokens[...i]
    let term = TokenTerm(
      position: sample.prompt.count - 1 + i, weight: 1,
      kind: .policyGradient(
        target: sample.generation.tokens[i], advantage: 1, oldLogprob: oldLogprob, clip: .infinity,
        sampling: transform))
    return -(try model.evaluate([TrainingSequence(tokens: tokens, terms: [term])])).loss
  }

  /// The model's importance weight for token `i` (unclipped), read as the ratio of an
  /// importance-weighted divergence term's loss to the same term's without the weight.
  static func trainingImportance(
    _ model: Transformer, _ sample: Sample, _ i: Int, oldLogprob: Float, _ transform: SamplingTransform
  ) throws -> Double {
    let tokens = sample.prompt + sample.generation.tokens[...i]
    let target = sample.generation.tokens[i]
    let teacher = TeacherDistribution.topK(ids: [target], logprobs: [Float(Foundation.log(0.5))])
    func loss(_ importance: ImportanceWeight?) throws -> Double {
      let term = TokenTerm(
        position: sample.prompt.count - 1 + i, weight: 1,
        kind: .divergence(teacher: teacher, kind: .reverseKL, importance: importance))
      return try model.evaluate([TrainingSequence(tokens: tokens, terms: [term])]).loss
    }
    let weighted = try loss(
      ImportanceWeight(oldLogprob: oldLogprob, target: target, clip: 1e6, sampling: transform))
    return weighted / (try loss(nil))
  }

  /// A copy of `model` with every parameter moved by `scale` times a Gaussian: "after a step".
  static func perturbed(_ model: Transformer, scale: Float, seed: UInt64) throws -> Transformer {
    var rng = SeededRandom(seed: seed)
    let parameters = model.parameters.map { $0 + scale * rng.nextGaussian() }
    return try Transformer(config: model.config, parameters: parameters)
  }

  @Test(arguments: transforms)
  func storedLogprobsAreTheSampledDistributionsAndFirstStepRatiosAreOne(transform: SamplingTransform) throws {
    let model = try F.model(seed: 12)
    var checked = 0
    var untemperedWouldBeWrong = 0
    for sample in try Self.sample(model, transform) {
      for (i, row) in sample.rows.enumerated() {
        let token = Int(sample.generation.tokens[i])
        let naive = ReferenceLoss.transformedLogSoftmax(row, transform)[token]
        #expect(naive.isFinite, "token \(token) was sampled although the transform drops it")
        let stored = sample.generation.samplingLogprobs[i]
        #expect(abs(Double(stored) - naive) < 5e-4, "\(transform): stored \(stored), naive \(naive)")
        // The untempered log-probs stay what they were.
        #expect(abs(Double(sample.generation.logprobs[i]) - row[token]) < 1e-4)
        if abs(exp(row[token] - naive) - 1) > 0.05 { untemperedWouldBeWrong += 1 }
        let ratio = try Self.trainingRatio(model, sample, i, oldLogprob: stored, transform)
        #expect(abs(ratio - 1) < 1e-3, "\(transform): first-step ratio \(ratio)")
        let importance = try Self.trainingImportance(model, sample, i, oldLogprob: stored, transform)
        #expect(abs(importance - 1) < 1e-3, "\(transform): first-step importance weight \(importance)")
        checked += 1
      }
    }
    #expect(checked == 48)
    // The old ratio (untempered current over stored) would have been off by more than 5% on
    // many tokens: the test can tell the two apart.
    #expect(untemperedWouldBeWrong > 10, "\(untemperedWouldBeWrong)")
  }

  @Test(arguments: transforms)
  func ratiosAfterAStepMatchANaiveComputation(transform: SamplingTransform) throws {
    let model = try F.model(seed: 12)
    let stepped = try Self.perturbed(model, scale: 0.05, seed: 31)
    var moved = 0
    for sample in try Self.sample(model, transform) {
      let after = try F.referenceRows(stepped, prompt: sample.prompt, generated: sample.generation.tokens)
      for (i, row) in sample.rows.enumerated() {
        let token = Int(sample.generation.tokens[i])
        let before = ReferenceLoss.transformedLogSoftmax(row, transform)[token]
        let now = ReferenceLoss.transformedLogSoftmax(after[i], transform)[token]
        let naive = exp(now - before)
        let stored = sample.generation.samplingLogprobs[i]
        let ratio = try Self.trainingRatio(stepped, sample, i, oldLogprob: stored, transform)
        #expect(abs(ratio - naive) <= 2e-3 * max(1, naive), "\(transform): ratio \(ratio), naive \(naive)")
        let importance = try Self.trainingImportance(stepped, sample, i, oldLogprob: stored, transform)
        #expect(
          abs(importance - naive) <= 2e-3 * max(1, naive),
          "\(transform): weight \(importance), naive \(naive)")
        if abs(naive - 1) > 0.01 { moved += 1 }
      }
    }
    #expect(moved > 10, "the step must move the ratios for the comparison to mean anything")
  }

  /// Greedy decoding stores 0 (the chosen token has probability 1); the current policy's greedy
  /// probability is 1 while the token stays its argmax and 0 once another token is.
  @Test func greedyStoresZeroAndItsRatioIsWhetherTheArgmaxHolds() throws {
    let model = try F.model(seed: 12)
    let greedy = SamplingTransform(temperature: 0)
    let stepped = try Self.perturbed(model, scale: 0.3, seed: 5)
    var changed = 0
    for sample in try Self.sample(model, greedy) {
      let after = try F.referenceRows(stepped, prompt: sample.prompt, generated: sample.generation.tokens)
      for i in sample.rows.indices {
        #expect(sample.generation.samplingLogprobs[i] == 0)
        #expect(try Self.trainingRatio(model, sample, i, oldLogprob: 0, greedy) == 1)
        let holds = F.argmax(after[i]).index == Int(sample.generation.tokens[i])
        if !holds { changed += 1 }
        #expect(try Self.trainingRatio(stepped, sample, i, oldLogprob: 0, greedy) == (holds ? 1 : 0))
      }
    }
    #expect(changed > 0, "the perturbation must move some argmax")
  }

  /// The policy-gradient term's gradient under a transform, `-A r (onehot - q) / T` with `q` the
  /// transformed distribution, against central differences of the reference loss.
  @Test func policyGradientUnderATransformMatchesFiniteDifferences() throws {
    var rng = SeededRandom(seed: 4)
    let cases: [(SamplingTransform, Float, Float)] = [
      (SamplingTransform(temperature: 0.7), 1.3, 0.2),
      (SamplingTransform(temperature: 1.3, topK: 40), -0.8, .infinity),
      (SamplingTransform(temperature: 0.5, topP: 0.9), 2, 0.2),
      (SamplingTransform(temperature: 1, topK: 10, topP: 0.95), -1, 0.2),
    ]
    for (transform, advantage, clip) in cases {
      let logits = LossFixtures.logits(Tokenizer.vocabSize, scale: 2, rng: &rng)
      let row = logits.map { Double($0) }
      let q = ReferenceLoss.transformedLogSoftmax(row, transform)
      let target = Int32(row.indices.max { row[$0] < row[$1] } ?? 0)
      // An old log-prob that keeps the ratio inside the clip range, so the gradient is active.
      let old = Float(q[Int(target)] + 0.05)
      let kind = TokenTerm.Kind.policyGradient(
        target: target, advantage: advantage, oldLogprob: old, clip: clip, sampling: transform)
      let term = TokenTerm(position: 0, weight: 1, kind: kind)
      let (loss, gradient) = try term.lossAndGradient(logits: logits)
      let reference = ReferenceLoss.loss(kind, logits: row, detachedLogits: row)
      #expect(abs(loss - reference) <= 1e-9 + 1e-7 * abs(reference), "\(transform): \(loss) vs \(reference)")
      let numeric = ReferenceLoss.numericGradient(kind, logits: logits)
      let comparison = GradientComparison(
        analytic: gradient.map { Double($0) }, numeric: numeric, absolute: 1e-7, relative: 1e-4)
      #expect(comparison.passed, "\(transform): \(comparison.summary)")
      #expect(gradient.contains { $0 != 0 })
      // Tokens the transform drops get no gradient.
      for i in q.indices where q[i] == -.infinity { #expect(gradient[i] == 0) }
    }
  }

  @Test func transformsValidateAndDescribeTheIdentity() throws {
    #expect(SamplingTransform.identity.isIdentity)
    #expect(SamplingTransform(temperature: 1, topP: 1).isIdentity)
    #expect(!SamplingTransform(temperature: 1, topK: 264).isIdentity)
    #expect(!SamplingTransform(temperature: 0.7).isIdentity)
    #expect(
      SamplingSettings(temperature: 0.7, topK: 3).transform == SamplingTransform(temperature: 0.7, topK: 3))
    for bad in [
      SamplingTransform(temperature: -1), SamplingTransform(temperature: 0.0001),
      SamplingTransform(temperature: .nan), SamplingTransform(temperature: 1, topK: 0),
      SamplingTransform(temperature: 1, topP: 0), SamplingTransform(temperature: 1, topP: 1.5),
    ] {
      #expect(throws: HindcastError.self) { try bad.validate() }
      let term = TokenTerm(
        position: 0, weight: 1,
        kind: .policyGradient(target: 1, advantage: 1, oldLogprob: -1, clip: 0.2, sampling: bad))
      #expect(throws: HindcastError.self) { _ = try term.lossAndGradient(logits: [0, 1, 2]) }
    }
  }
}
