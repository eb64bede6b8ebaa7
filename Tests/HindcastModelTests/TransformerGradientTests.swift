import HindcastModel
import HindcastSupport
import Testing

/// Finite-difference checks of the whole model's backward pass (every layer sits on the path from
/// a parameter to the loss). Parameters are perturbed one at a time; the loss is recomputed in
/// float32, so tolerances are loose-ish but still catch any wrong term.
@Suite struct TransformerGradientTests {
  static let config = ModelConfig(
    vocabSize: Tokenizer.vocabSize, contextLength: 8, layers: 2, width: 16, heads: 2)

  static func batch() -> [TrainingSequence] {
    var rng = SeededRandom(seed: 3)
    return (0..<2).map { b in
      let tokens = (0..<(6 + b)).map { _ in Int32(rng.nextInt(below: 40) + 60) }
      return .supervised(
        prompt: Array(tokens.prefix(2)), completion: Array(tokens.dropFirst(2)), weight: 0.25)
    }
  }

  @Test func everyParameterTensorMatchesFiniteDifferences() throws {
    let model = try Transformer(config: Self.config, seed: 11)
    let batch = Self.batch()
    model.zeroGradients()
    _ = try model.lossAndGradients(batch)
    let analytic = model.gradients
    var rng = SeededRandom(seed: 5)
    var worst: Float = 0
    for entry in model.layout.entries {
      // Three random coordinates of each tensor, plus the largest-gradient one.
      var indices = (0..<3).map { _ in entry.offset + rng.nextInt(below: entry.count) }
      let slice = analytic[entry.offset..<(entry.offset + entry.count)]
      if let top = slice.indices.max(by: { abs(analytic[$0]) < abs(analytic[$1]) }) { indices.append(top) }
      for index in indices {
        let saved = model.parameters[index]
        let h: Float = 1e-2
        model.parameters[index] = saved + h
        model.zeroGradients()
        let plus = try model.lossAndGradients(batch).loss
        model.parameters[index] = saved - h
        model.zeroGradients()
        let minus = try model.lossAndGradients(batch).loss
        model.parameters[index] = saved
        let numeric = Float((plus - minus) / Double(2 * h))
        let error = abs(numeric - analytic[index]) / max(1e-3, abs(numeric) + abs(analytic[index]))
        worst = max(worst, error)
        #expect(
          error < 0.05,
          "\(entry.name)[\(index - entry.offset)]: analytic \(analytic[index]) numeric \(numeric)")
      }
    }
    #expect(worst < 0.05)
  }

  @Test func tinyModelOverfitsOneBatch() throws {
    let model = try Transformer(config: Self.config, seed: 1)
    let batch = Self.batch()
    var first = 0.0
    var last = 0.0
    for step in 0..<400 {
      model.zeroGradients()
      let report = try model.lossAndGradients(batch)
      if step == 0 { first = report.loss }
      last = report.loss
      for i in 0..<model.parameters.count { model.parameters[i] -= 0.05 * model.gradients[i] }
    }
    #expect(first > 2.0)
    #expect(last < 0.1, "loss went from \(first) to \(last)")
  }
}
