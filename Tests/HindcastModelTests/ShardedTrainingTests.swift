import HindcastKernels
import HindcastSupport
import Testing

@testable import HindcastModel

/// A training step sharded over threads (`Transformer.trainingThreads`) must compute the same
/// loss and gradients as the unsharded step up to float rounding, and be bit-identical run to run
/// for a fixed thread count.
@Suite struct ShardedTrainingTests {
  static let config = ModelConfig(contextLength: 24, layers: 2, width: 16, heads: 2)

  /// Five sequences of different lengths (so shards see padding) with cross-entropy,
  /// policy-gradient and top-k divergence terms of different weights.
  static func batch() throws -> [TrainingSequence] {
    var rng = SeededRandom(seed: 11)
    var batch: [TrainingSequence] = []
    for b in 0..<5 {
      let length = 9 + 3 * b
      let tokens = (0..<length).map { _ in Int32(rng.nextInt(below: 250)) }
      var sequence = TrainingSequence.supervised(
        prompt: Array(tokens[0..<3]), completion: Array(tokens[3...]), weight: 0.05 + 0.01 * Float(b))
      let logits = (0..<config.vocabSize).map { _ in rng.nextGaussian() * 2 }
      sequence.terms.append(
        TokenTerm(
          position: 1, weight: 0.3,
          kind: .divergence(
            teacher: TeacherDistribution.fromLogits(logits, topK: 8), kind: .forwardKL, importance: nil)))
      sequence.terms.append(
        TokenTerm(
          position: 2, weight: 0.2,
          kind: .policyGradient(target: tokens[3], advantage: 0.7, oldLogprob: -5.4, clip: 0.2)))
      batch.append(sequence)
    }
    return batch
  }

  /// Loss report and gradients of one step on a fresh model with `threads`, accumulating onto
  /// gradients that start at 0.25.
  static func step(threads: Int) throws -> (LossReport, [Float]) {
    let model = try Transformer(config: config, seed: 9)
    model.trainingThreads = threads
    model.gradients = [Float](repeating: 0.25, count: model.gradients.count)
    let report = try model.lossAndGradients(try batch())
    return (report, model.gradients)
  }

  @Test(arguments: [2, 3, 5, 8])
  func shardedStepMatchesTheUnshardedStep(threads: Int) throws {
    let (reference, referenceGradients) = try Self.step(threads: 1)
    let (report, gradients) = try Self.step(threads: threads)
    #expect(report.terms == reference.terms)
    #expect(report.tokens == reference.tokens)
    #expect(report.crossEntropy.terms == reference.crossEntropy.terms)
    #expect(report.policyGradient.terms == reference.policyGradient.terms)
    #expect(report.divergence.terms == reference.divergence.terms)
    #expect(abs(report.loss - reference.loss) <= 1e-5 * abs(reference.loss))
    let scale = referenceGradients.map { abs($0 - 0.25) }.max() ?? 0
    #expect(scale > 1e-3)
    var worst: Float = 0
    for i in gradients.indices { worst = max(worst, abs(gradients[i] - referenceGradients[i])) }
    #expect(worst <= 1e-5 * scale + 1e-6, "largest difference \(worst) at gradient scale \(scale)")
  }

  @Test(arguments: [2, 3])
  func shardedStepIsBitIdenticalRunToRun(threads: Int) throws {
    let (first, firstGradients) = try Self.step(threads: threads)
    let (second, secondGradients) = try Self.step(threads: threads)
    #expect(first == second)
    #expect(firstGradients.map(\.bitPattern) == secondGradients.map(\.bitPattern))
    // The same model stepping twice (reused shard workspaces) also repeats exactly.
    let model = try Transformer(config: Self.config, seed: 9)
    model.trainingThreads = threads
    model.zeroGradients()
    _ = try model.lossAndGradients(try Self.batch())
    let once = model.gradients
    model.zeroGradients()
    _ = try model.lossAndGradients(try Self.batch())
    #expect(model.gradients.map(\.bitPattern) == once.map(\.bitPattern))
  }

  @Test func shardedStepRestoresBLASThreadsAndLeavesGradientsOnError() throws {
    let model = try Transformer(config: Self.config, seed: 9)
    model.trainingThreads = 2
    let before = BLASThreads.current
    _ = try model.lossAndGradients(try Self.batch())
    #expect(BLASThreads.current == before)
    let gradients = model.gradients
    // A teacher whose probabilities do not sum to 1 fails only when the last shard evaluates it.
    var bad = try Self.batch()
    let wrongMass = [Float](repeating: -1, count: Self.config.vocabSize)
    bad[4].terms.append(
      TokenTerm(
        position: 4, weight: 1,
        kind: .divergence(teacher: .full(logprobs: wrongMass), kind: .forwardKL, importance: nil)))
    #expect(throws: HindcastError.self) { _ = try model.lossAndGradients(bad) }
    #expect(model.gradients == gradients)
    #expect(BLASThreads.current == before)
  }

  @Test func shardRangesAreConsecutiveAndBalanced() {
    #expect(Transformer.shardRanges(batch: 16, shards: 2) == [0..<8, 8..<16])
    #expect(Transformer.shardRanges(batch: 5, shards: 3) == [0..<2, 2..<4, 4..<5])
    #expect(Transformer.shardRanges(batch: 2, shards: 8) == [0..<1, 1..<2])
    // Packed batches split by tokens: one long sequence balances three short ones.
    #expect(Transformer.shardRanges(lengths: [10, 10, 10, 30], shards: 2) == [0..<3, 3..<4])
    #expect(Transformer.shardRanges(lengths: [30, 10, 10, 10], shards: 2) == [0..<1, 1..<4])
    #expect(Transformer.shardRanges(lengths: [100, 1, 1], shards: 3) == [0..<1, 1..<2, 2..<3])
  }

  /// Issue 12's first check: a pretraining-shaped step (direct and revision examples of very
  /// different lengths) on 2 threads computes the gradients of the 1-thread step up to rounding.
  /// The yardstick of "rounding" is measured, not assumed: the 1-thread step on the same batch in
  /// reverse order differs from the forward-order step only by the order of float sums. The
  /// 2-thread difference must stay within a small multiple of that, for both position encodings.
  @Test(arguments: [PositionEncoding.learned, .rope])
  func twoThreadsDifferFromOneOnlyByRounding(_ encoding: PositionEncoding) throws {
    var config = ModelConfig(contextLength: 96, layers: 2, width: 32, heads: 4)
    config.positionEncoding = encoding
    var rng = SeededRandom(seed: 21)
    let batch = (0..<12).map { b -> TrainingSequence in
      let promptLength = b % 4 == 0 ? 8 : 50 + rng.nextInt(below: 30)
      let tokens = (0..<(promptLength + 14)).map { _ in Int32(rng.nextInt(below: 250)) }
      return .supervised(
        prompt: Array(tokens[..<promptLength]), completion: Array(tokens[promptLength...]), weight: 1 / 168)
    }
    func gradients(_ batch: [TrainingSequence], threads: Int) throws -> [Float] {
      let model = try Transformer(config: config, seed: 4)
      model.trainingThreads = threads
      model.zeroGradients()
      _ = try model.lossAndGradients(batch)
      return model.gradients
    }
    let one = try gradients(batch, threads: 1)
    let reordered = try gradients(batch.reversed(), threads: 1)
    let two = try gradients(batch, threads: 2)
    let scale = one.map { abs($0) }.max() ?? 0
    #expect(scale > 1e-3)
    var rounding: Float = 0
    var sharded: Float = 0
    for i in one.indices {
      rounding = max(rounding, abs(reordered[i] - one[i]))
      sharded = max(sharded, abs(two[i] - one[i]))
    }
    #expect(sharded <= 1e-5 * scale, "2 vs 1 thread: \(sharded) at gradient scale \(scale)")
    #expect(
      sharded <= 8 * rounding + 1e-7 * scale,
      "2 vs 1 thread differ by \(sharded); reordering the batch on 1 thread moves them by \(rounding)")
  }
}
