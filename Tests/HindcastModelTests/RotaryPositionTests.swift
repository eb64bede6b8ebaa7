import Foundation
import HindcastKernels
import HindcastStorage
import HindcastSupport
import HindcastTraining
import Testing

@testable import HindcastModel

/// Rotary position embeddings and packed (unpadded) batches: the rotation is relative, the
/// model's gradients match finite differences, the KV cache matches the full forward pass, packed
/// batches equal sequence-by-sequence runs, and the position encoding survives a checkpoint.
@Suite struct RotaryPositionTests {
  static let rope = ModelConfig(contextLength: 24, layers: 2, width: 32, heads: 4, positionEncoding: .rope)

  /// Rotated query at m dotted with rotated key at n depends on m - n only.
  @Test func rotationIsRelative() {
    let table = RotaryTable(positions: 20, headWidth: 8)
    var rng = SeededRandom(seed: 4)
    let q = (0..<8).map { _ in rng.nextGaussian() }
    let k = (0..<8).map { _ in rng.nextGaussian() }
    func rotated(_ x: [Float], _ pos: Int) -> [Float] {
      var y = x
      table.cosines.withUnsafeBufferPointer { cs in
        table.sines.withUnsafeBufferPointer { sn in
          y.withUnsafeMutableBufferPointer {
            RotaryTable.rotate(
              $0.baseAddress!, cos: cs.baseAddress! + pos * 4, sin: sn.baseAddress! + pos * 4, half: 4,
              inverse: false)
          }
        }
      }
      return y
    }
    func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
    let reference = dot(rotated(q, 3), rotated(k, 1))
    #expect(abs(dot(rotated(q, 17), rotated(k, 15)) - reference) < 1e-4)
    #expect(abs(dot(rotated(q, 2), rotated(k, 0)) - reference) < 1e-4)
    // A different distance gives a different score (the rotation is not the identity).
    #expect(abs(dot(rotated(q, 5), rotated(k, 1)) - reference) > 1e-3)
    // The inverse undoes the rotation.
    var back = rotated(q, 9)
    table.cosines.withUnsafeBufferPointer { cs in
      table.sines.withUnsafeBufferPointer { sn in
        back.withUnsafeMutableBufferPointer {
          RotaryTable.rotate(
            $0.baseAddress!, cos: cs.baseAddress! + 36, sin: sn.baseAddress! + 36, half: 4, inverse: true)
        }
      }
    }
    for i in 0..<8 { #expect(abs(back[i] - q[i]) < 1e-5) }
  }

  @Test func ropeModelHasNoPositionTable() throws {
    let model = try Transformer(config: Self.rope, seed: 1)
    #expect(model.layout.wpe == nil)
    #expect(model.layout.entry(named: "wpe") == nil)
    let learned = try Transformer(
      config: ModelConfig(contextLength: 24, layers: 2, width: 32, heads: 4), seed: 1)
    #expect(learned.layout.totalCount == model.layout.totalCount + 24 * 32)
    var odd = Self.rope
    odd.width = 12
    odd.heads = 4  // head width 3 cannot be rotated in pairs
    #expect(throws: HindcastError.self) { try odd.validate() }
  }

  /// Whole-model gradients of a rope model with sequences of different lengths (packed) against
  /// central differences, for every parameter tensor.
  @Test func ropeGradientsMatchFiniteDifferences() throws {
    let config = ModelConfig(contextLength: 8, layers: 2, width: 16, heads: 2, positionEncoding: .rope)
    let model = try Transformer(config: config, seed: 11)
    var rng = SeededRandom(seed: 3)
    let batch = [7, 4, 6].map { length -> TrainingSequence in
      let tokens = (0..<length).map { _ in Int32(rng.nextInt(below: 40) + 60) }
      return TrainingSequence(
        tokens: tokens,
        terms: (0..<(length - 1)).map {
          TokenTerm(position: $0, weight: 0.5, kind: .crossEntropy(target: tokens[$0 + 1]))
        })
    }
    let found = try LossModelGradientTests.mismatches(model, batch)
    #expect(found.isEmpty, "\(found)")
  }

  /// A packed batch of different lengths gives, row for row, the logits of running each sequence
  /// alone, for both position encodings.
  @Test(arguments: [PositionEncoding.learned, .rope])
  func packedBatchEqualsSequencesAlone(_ encoding: PositionEncoding) throws {
    var config = Self.rope
    config.positionEncoding = encoding
    let model = try SamplerFixtures.model(config: config)
    let v = config.vocabSize
    let sequences = SamplerFixtures.prompts(4, lengths: 3...20, seed: 8)
    let packedLogits = try model.forward(packed: sequences.flatMap { $0 }, lengths: sequences.map(\.count)) {
      Array($0)
    }
    var row = 0
    for sequence in sequences {
      let alone = try model.forward(tokens: sequence, batch: 1, length: sequence.count) { Array($0) }
      var worst: Float = 0
      for i in 0..<(sequence.count * v) { worst = max(worst, abs(alone[i] - packedLogits[row * v + i])) }
      #expect(worst < 1e-4, "sequence of \(sequence.count): packed logits differ by \(worst)")
      row += sequence.count
    }
    #expect(row * v == packedLogits.count)
  }

  /// The KV cache of a rope model (prefill in chunks, then decoding, split over 1-3 parts) gives
  /// the logits of the full forward pass over the whole prefix.
  @Test(arguments: [1, 2, 3])
  func ropeKVCacheEqualsFullForward(parts: Int) throws {
    let model = try SamplerFixtures.model(config: Self.rope)
    let v = model.config.vocabSize
    let cache = try KVCache(config: model.config, slots: 3, capacity: 24, rowCapacity: 4, parts: parts)
    var sequences: [[Int32]] = [[5, 9, 200, 17, 3], [40], (0..<11).map { Int32($0 * 13) }]
    var observed = try cache.append(
      model: model, sequences.enumerated().map { KVCache.Feed(slot: $0, tokens: $1) })
    var rng = SeededRandom(seed: 2)
    for step in 0..<8 {
      for slot in 0..<3 {
        let sequence = sequences[slot]
        let full = try model.forward(tokens: sequence, batch: 1, length: sequence.count) { logits in
          (0..<v).map { logits[(sequence.count - 1) * v + $0] }
        }
        let worst = zip(observed[slot], full).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-4, "step \(step) slot \(slot): cached logits differ by \(worst)")
      }
      let feeds = (0..<3).map { slot in
        KVCache.Feed(slot: slot, tokens: (0..<(step % 2 + 1)).map { _ in Int32(rng.nextInt(below: v)) })
      }
      for feed in feeds { sequences[feed.slot] += feed.tokens }
      observed = try cache.append(model: model, feeds)
    }
  }

  /// Scoring a rope model equals the log-softmax of the full forward pass.
  @Test func ropeScoringMatchesFullForward() throws {
    let model = try SamplerFixtures.model(config: Self.rope)
    let prompts = SamplerFixtures.prompts(5, lengths: 1...9, seed: 3)
    let continuations = SamplerFixtures.prompts(5, lengths: 1...10, seed: 4)
    let scored = try Scorer.score(
      model: model, prompts: prompts, continuations: continuations, maxBatchTokens: 20)
    for i in prompts.indices {
      let whole = prompts[i] + continuations[i]
      let rows = try SamplerFixtures.logSoftmaxRows(model, whole)
      for (j, target) in continuations[i].enumerated() {
        let expected = rows[prompts[i].count - 1 + j][Int(target)]
        #expect(abs(Double(scored[i].logprobs[j]) - expected) < 1e-4)
      }
    }
  }

  /// `config.json` names the position encoding; a config written before the field existed loads
  /// as a learned-position model (which is what those checkpoints are); a rope checkpoint round
  /// trips, and a learned checkpoint relabelled rope is refused (its `wpe` tensor is unexpected).
  @Test func checkpointsRecordThePositionEncoding() throws {
    let old = """
      {"vocab_size": 264, "context_length": 24, "layers": 2, "width": 32, "heads": 4, "mlp_multiplier": 4}
      """
    let decoded = try JSONDecoder().decode(ModelConfig.self, from: Data(old.utf8))
    #expect(decoded.positionEncoding == .learned)
    let encoded = String(decoding: try JSONEncoder().encode(Self.rope), as: UTF8.self)
    #expect(encoded.contains("\"position_encoding\":\"rope\""))

    let root = NSTemporaryDirectory() + "rope-ckpt-\(ProcessInfo.processInfo.processIdentifier)"
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try Transformer(config: Self.rope, seed: 5)
    try CheckpointIO.write(
      Checkpoint(weights: try ModelWeights(config: Self.rope, parameters: model.parameters)), to: root + "/r")
    let back = try CheckpointIO.readWeights(root + "/r")
    #expect(back.config == Self.rope)
    #expect(back.parameters == model.parameters)

    var learned = Self.rope
    learned.positionEncoding = .learned
    let learnedModel = try Transformer(config: learned, seed: 5)
    try CheckpointIO.write(
      Checkpoint(weights: try ModelWeights(config: learned, parameters: learnedModel.parameters)),
      to: root + "/l")
    try FileManager.default.removeItem(atPath: root + "/l/DONE")
    try AtomicFile.write(JSONEncoder().encode(Self.rope).map { $0 }, to: root + "/l/config.json")
    #expect(throws: HindcastError.self) { _ = try CheckpointIO.readWeights(root + "/l") }
  }
}
