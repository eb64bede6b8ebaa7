import HindcastModel
import HindcastSupport

/// The embedded transformer as a `GradientSource`: next-token cross-entropy averaged over every
/// predicted position of the batch.
extension Transformer: GradientSource {
  /// Each sequence of `T + 1` tokens runs the model over its first `T` tokens; position `t`
  /// predicts token `t + 1` with weight `1 / (B * T)`. Overwrites `gradients`.
  public func lossAndGradients(batch: [[Int32]]) throws -> Float {
    guard let length = batch.first?.count, length >= 2, batch.allSatisfy({ $0.count == length }) else {
      throw HindcastError(
        .internalInvariant, "a training batch needs sequences of equal length of at least 2 tokens")
    }
    let predicted = length - 1
    let weight = 1 / Float(batch.count * predicted)
    let sequences = batch.map { window in
      TrainingSequence(
        tokens: Array(window[0..<predicted]),
        terms: (0..<predicted).map {
          TokenTerm(position: $0, weight: weight, kind: .crossEntropy(target: window[$0 + 1]))
        })
    }
    zeroGradients()
    return Float(try lossAndGradients(sequences).loss)
  }
}

extension LanguageModelTraining {
  /// Builds freshly initialized transformers whose training steps run on `threads` threads
  /// (`Transformer.trainingThreads`; the BLAS thread count is set by the caller through
  /// `BLASThreads`, once per process).
  public static let transformerFactory: ModelFactory = { config, seed, threads in
    let model = try Transformer(config: config, seed: seed)
    model.trainingThreads = threads
    return model
  }
}
