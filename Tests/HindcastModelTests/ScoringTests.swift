import Foundation
import HindcastModel
import HindcastSupport
import Testing

/// The scorer against the uncached full forward pass of each sequence alone, and against the
/// sampler's own log-probabilities.
@Suite struct ScoringTests {
  typealias F = SamplerFixtures

  @Test func scoresEqualPerSequenceFullForward() throws {
    let model = try F.model(seed: 17)
    let v = model.config.vocabSize
    let prompts = F.prompts(7, lengths: 1...10, seed: 9)
    var continuations = F.prompts(7, lengths: 1...12, seed: 10)
    continuations[2] = []
    // A small batch budget forces several chunks.
    let scored = try Scorer.score(
      model: model, prompts: prompts, continuations: continuations, topK: 5, fullDistribution: true,
      maxBatchTokens: 40)
    #expect(scored.count == 7)
    #expect(scored[2].logprobs.isEmpty && scored[2].topK?.isEmpty == true)
    for i in 0..<7 where !continuations[i].isEmpty {
      let reference = try F.referenceRows(model, prompt: prompts[i], generated: continuations[i])
      let result = scored[i]
      #expect(result.logprobs.count == continuations[i].count)
      #expect(result.entropies.count == continuations[i].count)
      let top = try #require(result.topK)
      for (position, row) in reference.enumerated() {
        let token = Int(continuations[i][position])
        #expect(abs(Double(result.logprobs[position]) - row[token]) < 1e-4)
        let entropy = -row.reduce(0) { $0 + exp($1) * $1 }
        #expect(abs(Double(result.entropies[position]) - entropy) < 1e-3)
        let expectedTop = row.indices.sorted { row[$0] > row[$1] }.prefix(5)
        #expect(top[position].map { Int($0.token) } == Array(expectedTop))
        let distribution = try #require(result.distribution(at: position))
        #expect(distribution.count == v)
        let worst = zip(distribution, row).map { abs(Double($0) - $1) }.max() ?? 1
        #expect(worst < 1e-4)
      }
      #expect(abs(result.totalLogprob - result.logprobs.reduce(0) { $0 + Double($1) }) < 1e-9)
    }
  }

  @Test func scoringGeneratedTokensReproducesTheSamplersLogprobs() throws {
    let model = try F.model(seed: 23)
    let prompts = F.prompts(4, lengths: 2...6, seed: 11)
    let settings = SamplingSettings(temperature: 1.3, topP: 0.9, maxNewTokens: 9, stopTokens: [])
    let generations = try Sampler.generate(
      model: model, prompts: prompts, settings: settings, seeds: [1, 2, 3, 4])
    let scored = try Scorer.score(model: model, prompts: prompts, continuations: generations.map(\.tokens))
    for (generation, score) in zip(generations, scored) {
      #expect(score.topK == nil && score.distribution == nil)
      for (a, b) in zip(generation.logprobs, score.logprobs) { #expect(abs(a - b) < 1e-4) }
    }
  }

  @Test func invalidScoringInputsAreRejected() throws {
    let model = try F.model()
    let t = model.config.contextLength
    #expect(throws: HindcastError.self) { try Scorer.score(model: model, prompts: [[1]], continuations: []) }
    #expect(throws: HindcastError.self) {
      try Scorer.score(model: model, prompts: [[1, 2]], continuations: [[Int32](repeating: 3, count: t - 1)])
    }
    #expect(throws: HindcastError.self) {
      try Scorer.score(model: model, prompts: [[]], continuations: [[1]])
    }
    #expect(throws: HindcastError.self) {
      try Scorer.score(model: model, prompts: [[1]], continuations: [[400]])
    }
    #expect(throws: HindcastError.self) {
      try Scorer.score(model: model, prompts: [[1]], continuations: [[2]], topK: 0)
    }
    // Exactly filling the context is allowed.
    let full = try Scorer.score(
      model: model, prompts: [[1, 2]], continuations: [[Int32](repeating: 3, count: t - 2)])
    #expect(full[0].logprobs.count == t - 2)
  }
}
