import Foundation
import HindcastModel
import HindcastSupport
import Testing

/// Per-kind sums, forward-only evaluation and next-token scoring.
@Suite struct LossReportTests {
  static let config = ModelConfig(contextLength: 16, layers: 1, width: 16, heads: 4)

  static let sequences: [[Int32]] = [
    Tokenizer.encode(segments: [(.task, "3+4="), (.answer, "7")]) + [Tokenizer.Special.end.rawValue],
    Tokenizer.encode(segments: [(.task, "12+30="), (.answer, "42")]),
    Tokenizer.encode(segments: [(.task, "1+1=")]),
  ]

  /// A batch whose sequences carry cross-entropy, policy-gradient and divergence terms.
  static func mixedBatch(_ model: Transformer) throws -> [TrainingSequence] {
    let logprobs = try model.nextTokenLogprobs(sequences)
    var rng = SeededRandom(seed: 21)
    return sequences.enumerated().map { b, tokens in
      var terms: [TokenTerm] = []
      for t in 0..<(tokens.count - 1) {
        let next = tokens[t + 1]
        switch (b + t) % 3 {
        case 0:
          terms.append(TokenTerm(position: t, weight: 0.5, kind: .crossEntropy(target: next)))
        case 1:
          let ratio: Float = t % 2 == 0 ? 1.5 : 1
          terms.append(
            TokenTerm(
              position: t, weight: 0.25,
              kind: .policyGradient(
                target: next, advantage: 1, oldLogprob: logprobs[b][t] - logf(ratio), clip: 0.2)))
        default:
          let teacher = TeacherDistribution.fromLogits(
            LossFixtures.logits(Tokenizer.vocabSize, scale: 2, rng: &rng), topK: 4)
          let importance = ImportanceWeight(
            oldLogprob: logprobs[b][t] - logf(t % 2 == 0 ? 2.5 : 0.9), target: next)
          terms.append(
            TokenTerm(
              position: t, weight: 2,
              kind: .divergence(teacher: teacher, kind: .reverseKL, importance: importance)))
          // A second term at the same position shares the cached log-softmax.
          terms.append(TokenTerm(position: t, weight: 0.1, kind: .crossEntropy(target: next)))
        }
      }
      return TrainingSequence(tokens: tokens, terms: terms)
    }
  }

  static func only(_ batch: [TrainingSequence], _ keep: (TokenTerm.Kind) -> Bool) -> [TrainingSequence] {
    batch.map { TrainingSequence(tokens: $0.tokens, terms: $0.terms.filter { keep($0.kind) }) }
  }

  @Test func perKindSumsAddUpAndMatchSeparateEvaluations() throws {
    let model = try Transformer(config: Self.config, seed: 4)
    let batch = try Self.mixedBatch(model)
    model.zeroGradients()
    let report = try model.lossAndGradients(batch)
    let mixedGradient = model.gradients

    let parts: [(LossReport.Part, (TokenTerm.Kind) -> Bool)] = [
      (report.crossEntropy, { if case .crossEntropy = $0 { return true } else { return false } }),
      (report.policyGradient, { if case .policyGradient = $0 { return true } else { return false } }),
      (report.divergence, { if case .divergence = $0 { return true } else { return false } }),
    ]
    var summed = [Float](repeating: 0, count: model.parameters.count)
    var merged = LossReport()
    for (part, keep) in parts {
      let subset = Self.only(batch, keep)
      let expectedWeight = subset.flatMap(\.terms).reduce(0.0) { $0 + Double($1.weight) }
      #expect(part.terms == subset.flatMap(\.terms).count && part.terms > 0)
      #expect(abs(part.weight - expectedWeight) < 1e-9)
      model.zeroGradients()
      let alone = try model.lossAndGradients(subset)
      merged.merge(alone)
      #expect(abs(alone.loss - part.loss) <= 1e-9 * max(1, abs(part.loss)))
      for i in summed.indices { summed[i] += model.gradients[i] }
    }
    #expect(
      abs(report.loss - (report.crossEntropy.loss + report.policyGradient.loss + report.divergence.loss))
        < 1e-9)
    #expect(report.terms == batch.flatMap(\.terms).count)
    // Packed batches: the tokens of the sequences, no padding.
    #expect(report.tokens == batch.reduce(0) { $0 + $1.tokens.count })
    #expect(abs(merged.loss - report.loss) < 1e-9 && merged.terms == report.terms)
    #expect(
      merged.policyClipped == report.policyClipped && merged.importanceClipped == report.importanceClipped)
    #expect(report.policyClipped > 0 && report.policyClipped < report.policyGradient.terms)
    #expect(report.importanceClipped > 0 && report.importanceClipped < report.divergence.terms)
    let scale = mixedGradient.map { abs($0) }.max() ?? 0
    let worst = zip(mixedGradient, summed).map { abs($0 - $1) }.max() ?? 0
    #expect(scale > 0 && worst <= 1e-5 * scale, "gradients of the parts do not add up: \(worst) of \(scale)")
  }

  @Test func evaluateMatchesTrainingLossAndLeavesGradientsAlone() throws {
    let model = try Transformer(config: Self.config, seed: 4)
    let batch = try Self.mixedBatch(model)
    model.zeroGradients()
    let trained = try model.lossAndGradients(batch)
    let gradients = model.gradients
    let evaluated = try model.evaluate(batch)
    #expect(evaluated == trained)
    #expect(model.gradients == gradients)
  }

  /// Scores agree with cross-entropy, and padding a sequence in a batch does not change its scores.
  @Test func nextTokenLogprobsMatchCrossEntropyAndIgnorePadding() throws {
    let model = try Transformer(config: Self.config, seed: 4)
    let together = try model.nextTokenLogprobs(Self.sequences)
    #expect(together.map(\.count) == Self.sequences.map { $0.count - 1 })
    for (b, tokens) in Self.sequences.enumerated() {
      let alone = try model.nextTokenLogprobs([tokens])[0]
      for t in alone.indices { #expect(abs(alone[t] - together[b][t]) < 1e-5) }
      let ce = try model.evaluate([.supervised(prompt: [tokens[0]], completion: Array(tokens.dropFirst()))])
      let sum = together[b].reduce(0.0) { $0 - Double($1) }
      #expect(abs(ce.loss - sum) < 1e-4 * sum)
      #expect(together[b].allSatisfy { $0 < 0 })
    }
    #expect(throws: HindcastError.self) { try model.nextTokenLogprobs([[1, 2], []]) }
  }

  @Test func termsAndReportsRoundTripThroughJSON() throws {
    let model = try Transformer(config: Self.config, seed: 4)
    let batch = try Self.mixedBatch(model)
    let encoded = try JSONEncoder().encode(batch)
    #expect(try JSONDecoder().decode([TrainingSequence].self, from: encoded) == batch)
    let report = try model.evaluate(batch)
    #expect(try JSONDecoder().decode(LossReport.self, from: JSONEncoder().encode(report)) == report)
    #expect(try JSONDecoder().decode(DivergenceKind.self, from: Data("\"reverse_kl\"".utf8)) == .reverseKL)
  }
}
