import HindcastKernels
import HindcastSupport
import Testing

@testable import HindcastModel

/// The whole model on every instruction-set path this machine runs (`SIMDPath`): a forward and
/// backward pass and a temperature-1 KV-cache generation give the same bits on every path.
@Suite(.serialized) struct SIMDPathModelTests {
  struct Outputs: Equatable {
    var logits: [UInt32]
    var gradients: [UInt32]
    var tokens: [[Int32]]
    var logprobs: [[UInt32]]
  }

  static func outputs(config: ModelConfig) throws -> Outputs {
    let model = try Transformer(config: config, seed: 3)
    var rng = SeededRandom(seed: 5)
    let lengths = [5, 17, 9]
    let tokens = (0..<lengths.reduce(0, +)).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
    let logits = try model.forward(packed: tokens, lengths: lengths) { Array($0) }
    // A gradient that touches every logit: dlogits = logits * 0.01 (the loss 0.005 |logits|^2).
    try model.backward { d in
      for i in 0..<logits.count { d[i] = logits[i] * 0.01 }
    }
    let prompts: [[Int32]] = [[1, 2, 3], Array(tokens[0..<12]), [7]]
    let generations = try Sampler.generate(
      model: model, prompts: prompts,
      settings: SamplingSettings(temperature: 1, maxNewTokens: 6, stopTokens: []),
      seeds: [11, 12, 13], maxBatch: 2)
    return Outputs(
      logits: logits.map(\.bitPattern), gradients: model.gradients.map(\.bitPattern),
      tokens: generations.map(\.tokens), logprobs: generations.map { $0.logprobs.map(\.bitPattern) })
  }

  @Test(arguments: [PositionEncoding.learned, .rope])
  func everyPathGivesTheSameBits(position: PositionEncoding) throws {
    let config = ModelConfig(contextLength: 32, layers: 2, width: 32, heads: 4, positionEncoding: position)
    var results: [(SIMDPath, Outputs)] = []
    for path in SIMDPath.available {
      let outputs = try SIMDPath.with(path) { try Self.outputs(config: config) }
      guard let outputs else {
        Issue.record("path \(path) is available but could not be selected")
        continue
      }
      results.append((path, outputs))
    }
    #expect(!results.isEmpty)
    guard let first = results.first else { return }
    #expect(first.1.gradients.contains { $0 != 0 })
    for (path, outputs) in results.dropFirst() {
      #expect(outputs.logits == first.1.logits, "logits differ between \(first.0) and \(path)")
      #expect(outputs.gradients == first.1.gradients, "gradients differ between \(first.0) and \(path)")
      #expect(outputs.tokens == first.1.tokens, "sampled tokens differ between \(first.0) and \(path)")
      #expect(outputs.logprobs == first.1.logprobs, "log-probs differ between \(first.0) and \(path)")
    }
  }
}
