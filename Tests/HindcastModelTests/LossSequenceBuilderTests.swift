import HindcastModel
import HindcastSupport
import Testing

/// The sequence builders put each completion token's term at the position that predicts it.
@Suite struct LossSequenceBuilderTests {
  static let config = ModelConfig(contextLength: 16, layers: 1, width: 16, heads: 2)
  static let prompt = Tokenizer.encode(segments: [(.task, "2+2="), (.answer, "")])
  static let completion = Tokenizer.encode("4") + [Tokenizer.Special.end.rawValue, 10, 11]

  /// A model whose next-token distributions differ clearly between positions: the tied embedding
  /// is scaled up from its 0.02 initialization.
  static func distinctiveModel() throws -> Transformer {
    let model = try Transformer(config: config, seed: 3)
    let wte = try #require(model.layout.entries.first { $0.name == "wte" })
    for i in wte.offset..<(wte.offset + wte.count) { model.parameters[i] *= 25 }
    return model
  }

  /// The model's own next-token distributions over the completion, one per completion token.
  static func ownDistributions(_ model: Transformer, topK: Int?) throws -> [TeacherDistribution] {
    let tokens = prompt + completion
    let v = config.vocabSize
    return try model.forward(tokens: tokens, batch: 1, length: tokens.count) { logits in
      completion.indices.map { i in
        let row = (prompt.count + i - 1) * v
        return TeacherDistribution.fromLogits(Array(logits[row..<(row + v)]), topK: topK)
      }
    }
  }

  @Test func distillationTermsAlignWithTheTokensTheyPredict() throws {
    let model = try Self.distinctiveModel()
    let own = try Self.ownDistributions(model, topK: 6)
    let behaviour = try model.nextTokenLogprobs([Self.prompt + Self.completion])[0].suffix(
      Self.completion.count)
    let aligned = try TrainingSequence.distillation(
      prompt: Self.prompt, completion: Self.completion, teachers: own, kind: .jsd,
      behaviourLogprobs: Array(behaviour), weight: 0.5)
    #expect(aligned.tokens == Self.prompt + Self.completion)
    #expect(aligned.terms.map(\.position) == Self.completion.indices.map { Self.prompt.count + $0 - 1 })
    for (i, term) in aligned.terms.enumerated() {
      guard case .divergence(let teacher, .jsd, let importance?) = term.kind else {
        Issue.record("unexpected term \(term.kind)")
        continue
      }
      #expect(teacher == own[i] && importance.target == Self.completion[i] && importance.clip == 2)
    }
    // The model matches its own distributions at the right positions (ratio 1, divergence 0) ...
    let report = try model.evaluate([aligned])
    #expect(report.divergence.terms == Self.completion.count && report.loss < 1e-6)
    // ... and not when the teachers are shifted by one token.
    let shifted = try TrainingSequence.distillation(
      prompt: Self.prompt, completion: Self.completion, teachers: Array(own.dropFirst()) + [own[0]],
      kind: .jsd)
    let shiftedLoss = try model.evaluate([shifted]).loss
    #expect(shiftedLoss > 0.1, "shifted teachers give \(shiftedLoss)")
  }

  @Test func distillationCanStopAfterTheFirstError() throws {
    let model = try Transformer(config: Self.config, seed: 3)
    let own = try Self.ownDistributions(model, topK: nil)
    let firstError = 1
    let sequence = try TrainingSequence.distillation(
      prompt: Self.prompt, completion: Self.completion, teachers: Array(own.prefix(firstError + 1)),
      kind: .forwardKL, coveredTokens: firstError + 1)
    #expect(sequence.terms.map(\.position) == [Self.prompt.count - 1, Self.prompt.count])
    let emptyPrompt = try TrainingSequence.distillation(
      prompt: [], completion: Self.completion, teachers: own, kind: .reverseKL)
    #expect(emptyPrompt.terms.map(\.position) == [0, 1, 2])
  }

  @Test func mismatchedCountsAreRejected() throws {
    let model = try Transformer(config: Self.config, seed: 3)
    let own = try Self.ownDistributions(model, topK: 4)
    #expect(throws: HindcastError.self) {
      try TrainingSequence.distillation(
        prompt: Self.prompt, completion: Self.completion, teachers: Array(own.prefix(2)), kind: .jsd)
    }
    #expect(throws: HindcastError.self) {
      try TrainingSequence.distillation(
        prompt: Self.prompt, completion: Self.completion, teachers: own, kind: .jsd, behaviourLogprobs: [-1])
    }
    #expect(throws: HindcastError.self) {
      try TrainingSequence.distillation(
        prompt: Self.prompt, completion: Self.completion, teachers: own, kind: .jsd, coveredTokens: 9)
    }
    #expect(throws: HindcastError.self) {
      try TrainingSequence.policyGradient(
        prompt: Self.prompt, completion: Self.completion, advantage: 1, oldLogprobs: [])
    }
  }

  /// On-policy (ratio 1), the surrogate's gradient is `-A` times the gradient of the completion's
  /// log-likelihood, i.e. `A` times the cross-entropy gradient.
  @Test func onPolicyGradientIsAdvantageTimesCrossEntropyGradient() throws {
    let model = try Transformer(config: Self.config, seed: 3)
    let logprobs = try model.nextTokenLogprobs([Self.prompt + Self.completion])[0].suffix(
      Self.completion.count)
    let advantage: Float = -0.75
    let pg = try TrainingSequence.policyGradient(
      prompt: Self.prompt, completion: Self.completion, advantage: advantage, oldLogprobs: Array(logprobs),
      weight: 0.5)
    model.zeroGradients()
    let report = try model.lossAndGradients([pg])
    let pgGradient = model.gradients
    model.zeroGradients()
    _ = try model.lossAndGradients([
      .supervised(prompt: Self.prompt, completion: Self.completion, weight: 0.5)
    ])
    let scale = model.gradients.map { abs($0) }.max() ?? 0
    let worst = zip(pgGradient, model.gradients).map { abs($0 - advantage * $1) }.max() ?? 0
    #expect(scale > 0 && worst <= 1e-5 * scale, "worst \(worst) of \(scale)")
    #expect(abs(report.loss - Double(-advantage * 0.5 * Float(Self.completion.count))) < 1e-5)
    #expect(report.policyClipped == 0)
  }
}
