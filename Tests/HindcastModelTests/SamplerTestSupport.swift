import Foundation
import HindcastModel
import HindcastSupport

/// Models and uncached references shared by the sampler and scorer tests.
enum SamplerFixtures {
  static let config = ModelConfig(contextLength: 24, layers: 2, width: 32, heads: 4)

  /// A model whose every parameter (biases and LayerNorm terms included) is random and large
  /// enough that next-token distributions are peaked, so greedy choices are not near-ties and a
  /// wrong bias or position would show.
  static func model(seed: UInt64 = 7, config: ModelConfig = config) throws -> Transformer {
    var rng = SeededRandom(seed: seed)
    let layout = ParameterLayout(config: config)
    var parameters = [Float](repeating: 0, count: layout.totalCount)
    for entry in layout.entries {
      let isGain =
        entry.name.hasSuffix("ln1.weight") || entry.name.hasSuffix("ln2.weight")
        || entry.name == "lnf.weight"
      for i in entry.offset..<(entry.offset + entry.count) {
        parameters[i] = (isGain ? 1 : 0) + 0.3 * rng.nextGaussian()
      }
    }
    return try Transformer(config: config, parameters: parameters)
  }

  /// `count` random byte prompts with lengths in `lengths`.
  static func prompts(_ count: Int, lengths: ClosedRange<Int>, seed: UInt64) -> [[Int32]] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { _ in
      let length = lengths.lowerBound + rng.nextInt(below: lengths.count)
      return (0..<length).map { _ in Int32(rng.nextInt(below: 256)) }
    }
  }

  /// Log-softmax rows `(T, V)` of the uncached full forward pass over `tokens`, in double.
  static func logSoftmaxRows(_ model: Transformer, _ tokens: [Int32]) throws -> [[Double]] {
    let v = model.config.vocabSize
    return try model.forward(tokens: tokens, batch: 1, length: tokens.count) { logits in
      (0..<tokens.count).map { t in
        let row = (0..<v).map { Double(logits[t * v + $0]) }
        let maxValue = row.max() ?? 0
        let lse = maxValue + log(row.reduce(0) { $0 + exp($1 - maxValue) })
        return row.map { $0 - lse }
      }
    }
  }

  /// Log-probability rows, from the uncached model, at the positions that chose each generated
  /// token: row `i` is the distribution of `generated[i]` given the prompt and `generated[..<i]`.
  static func referenceRows(_ model: Transformer, prompt: [Int32], generated: [Int32]) throws -> [[Double]] {
    guard !generated.isEmpty else { return [] }
    let rows = try logSoftmaxRows(model, prompt + generated.dropLast())
    return Array(rows[(prompt.count - 1)...])
  }

  /// Index of the largest entry (lowest index on ties) and its margin over the runner-up.
  static func argmax(_ row: [Double]) -> (index: Int, margin: Double) {
    var best = 0
    for i in row.indices where row[i] > row[best] { best = i }
    let runnerUp = row.indices.filter { $0 != best }.map { row[$0] }.max() ?? -.infinity
    return (best, row[best] - runnerUp)
  }
}
