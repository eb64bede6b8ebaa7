import Foundation
import HindcastModel
import HindcastSupport
import Testing

/// Sampling frequencies of the first generated token, over many independently seeded sequences,
/// against the distribution computed from the uncached model (fixed seeds, so deterministic).
@Suite struct SamplerStatisticsTests {
  typealias F = SamplerFixtures
  static let prompt: [Int32] = [256, 49, 43, 50, 61]
  static let draws = 4000

  /// The expected sampling distribution from a log-softmax row.
  static func expected(_ row: [Double], temperature: Double, topK: Int?, topP: Double?) -> [Double] {
    let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
    var weights = row.map { exp(($0 - row[order[0]]) / temperature) }
    var kept = Array(order.prefix(topK ?? row.count))
    if let topP {
      let mass = kept.reduce(0) { $0 + weights[$1] }
      var cumulative = 0.0
      var count = 0
      for index in kept {
        cumulative += weights[index]
        count += 1
        if cumulative >= topP * mass { break }
      }
      kept = Array(kept.prefix(count))
    }
    let keptSet = Set(kept)
    for i in weights.indices where !keptSet.contains(i) { weights[i] = 0 }
    let total = weights.reduce(0, +)
    return weights.map { $0 / total }
  }

  static func frequencies(_ model: Transformer, _ settings: SamplingSettings) throws -> [Double] {
    let prompts = [[Int32]](repeating: prompt, count: draws)
    let out = try Sampler.generate(
      model: model, prompts: prompts, settings: settings, seeds: (0..<draws).map { UInt64($0) + 1000 },
      maxBatch: 64)
    var counts = [Double](repeating: 0, count: model.config.vocabSize)
    for generation in out { counts[Int(generation.tokens[0])] += 1 }
    return counts.map { $0 / Double(draws) }
  }

  /// Every sampled token is in the expected support, and every token's frequency is within about
  /// four standard errors of its expected probability.
  static func check(temperature: Float, topK: Int?, topP: Float?) throws {
    let model = try F.model(seed: 31)
    let row = try F.logSoftmaxRows(model, prompt).last ?? []
    let expected = expected(row, temperature: Double(temperature), topK: topK, topP: topP.map(Double.init))
    let settings = SamplingSettings(temperature: temperature, topK: topK, topP: topP, maxNewTokens: 1)
    let observed = try frequencies(model, settings)
    let n = Double(draws)
    for (token, (p, f)) in zip(expected, observed).enumerated() {
      if p == 0 {
        #expect(f == 0, "token \(token) is outside the support but was sampled with frequency \(f)")
      } else {
        let tolerance = 4 * (p * (1 - p) / n).squareRoot() + 0.002
        #expect(abs(f - p) < tolerance, "token \(token): frequency \(f), expected \(p)")
      }
    }
    // The test must be able to see a restriction: the support is a strict subset when asked.
    let support = expected.filter { $0 > 0 }.count
    if topK != nil || topP != nil { #expect(support < row.count && support > 1) }
  }

  @Test func plainSamplingMatchesTheSoftmax() throws { try Self.check(temperature: 1, topK: nil, topP: nil) }

  @Test func temperatureSharpensTheDistribution() throws {
    try Self.check(temperature: 0.5, topK: nil, topP: nil)
  }

  @Test func topKRestrictsTheSupport() throws { try Self.check(temperature: 1, topK: 3, topP: nil) }

  @Test func topPRestrictsTheSupport() throws { try Self.check(temperature: 1, topK: nil, topP: 0.6) }

  @Test func topKThenTopP() throws { try Self.check(temperature: 1.5, topK: 8, topP: 0.7) }
}
