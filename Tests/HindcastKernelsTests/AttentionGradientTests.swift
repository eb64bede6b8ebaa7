import HindcastKernels
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Causal multi-head attention over a fused QKV buffer: forward (outputs and saved
/// probabilities) against a double reference, backward against central differences of it.
@Suite struct AttentionGradientTests {
  struct Dimensions: Sendable, CustomTestStringConvertible {
    let batch: Int, length: Int, width: Int, heads: Int
    var testDescription: String { "B\(batch) T\(length) C\(width) H\(heads)" }
    var shape: Attention.Shape { Attention.Shape(batch: batch, length: length, width: width, heads: heads) }
  }

  /// Returns `out (B, T, C)` and `probs (B, H, T, T)` of causal attention, in double.
  static func reference(_ qkv: [Double], _ s: Dimensions) -> (out: [Double], probs: [Double]) {
    let (t, c) = (s.length, s.width)
    let d = c / s.heads
    let scale = 1 / Double(d).squareRoot()
    var out = [Double](repeating: 0, count: s.batch * t * c)
    var probs = [Double](repeating: 0, count: s.batch * s.heads * t * t)
    for b in 0..<s.batch {
      for h in 0..<s.heads {
        func element(_ row: Int, _ part: Int, _ i: Int) -> Double {
          qkv[(b * t + row) * 3 * c + part * c + h * d + i]
        }
        for row in 0..<t {
          let scores = (0...row).map { col in
            scale * (0..<d).reduce(0.0) { $0 + element(row, 0, $1) * element(col, 1, $1) }
          }
          let top = scores.max() ?? 0
          let weights = scores.map { exp($0 - top) }
          let total = weights.reduce(0, +)
          for col in 0...row { probs[((b * s.heads + h) * t + row) * t + col] = weights[col] / total }
          for i in 0..<d {
            out[(b * t + row) * c + h * d + i] = (0...row).reduce(0.0) {
              $0 + weights[$1] / total * element($1, 2, i)
            }
          }
        }
      }
    }
    return (out, probs)
  }

  static let dimensions = [
    Dimensions(batch: 2, length: 5, width: 8, heads: 2),
    Dimensions(batch: 1, length: 7, width: 12, heads: 3),
    Dimensions(batch: 2, length: 1, width: 4, heads: 1),
  ]

  @Test(arguments: dimensions)
  func forwardAndBackwardMatchReference(_ s: Dimensions) {
    var rng = TestRandom(seed: UInt64(s.length * 100 + s.width))
    let n = s.batch * s.length
    let qkv = rng.floats(n * 3 * s.width)
    let dout = rng.floats(n * s.width)
    var out = [Float](repeating: 0, count: n * s.width)
    var probs = [Float](repeating: 9, count: s.batch * s.heads * s.length * s.length)
    Attention.forward(out: &out, probs: &probs, qkv: qkv, shape: s.shape)
    let qkvd = qkv.map(Double.init)
    let expected = Self.reference(qkvd, s)
    let forward = mismatches(out, expected.out, absolute: 1e-6, relative: 1e-5)
    #expect(forward.indices.isEmpty, "\(s.testDescription) out: \(forward.summary)")
    let saved = mismatches(probs, expected.probs, absolute: 1e-7, relative: 1e-5)
    #expect(saved.indices.isEmpty, "\(s.testDescription) probs: \(saved.summary)")

    // dqkv is overwritten, so stale values must not leak into it.
    var dqkv = [Float](repeating: 777, count: n * 3 * s.width)
    var scratch = [Float](repeating: -5, count: s.length * s.length)
    Attention.backward(dqkv: &dqkv, dout: dout, qkv: qkv, probs: probs, scratch: &scratch, shape: s.shape)
    let numeric = numericGradient(at: qkvd) { dot(dout, Self.reference($0, s).out) }
    let result = mismatches(dqkv, numeric, absolute: 1e-5, relative: 1e-4)
    #expect(result.indices.isEmpty, "\(s.testDescription) dqkv: \(result.summary)")
  }

  /// Causality: the output at position t must not depend on any later position, so the gradient
  /// of an early output with respect to later keys and values is exactly zero.
  @Test func laterPositionsDoNotInfluenceEarlierOutputs() {
    let s = Dimensions(batch: 1, length: 6, width: 8, heads: 2)
    var rng = TestRandom(seed: 9)
    let qkv = rng.floats(6 * 24)
    var out = [Float](repeating: 0, count: 6 * 8)
    var probs = [Float](repeating: 0, count: 2 * 36)
    Attention.forward(out: &out, probs: &probs, qkv: qkv, shape: s.shape)
    var dout = [Float](repeating: 0, count: 6 * 8)
    for i in 0..<8 { dout[2 * 8 + i] = 1 }  // only position 2's output
    var dqkv = [Float](repeating: 0, count: 6 * 24)
    var scratch = [Float](repeating: 0, count: 36)
    Attention.backward(dqkv: &dqkv, dout: dout, qkv: qkv, probs: probs, scratch: &scratch, shape: s.shape)
    #expect(dqkv[(3 * 24)...].allSatisfy { $0 == 0 })
    #expect(dqkv[(2 * 24)..<(3 * 24)].contains { $0 != 0 })
    for h in 0..<2 {
      for row in 0..<6 {
        for col in (row + 1)..<6 { #expect(probs[(h * 6 + row) * 6 + col] == 0) }
      }
    }
  }

  /// Swapping the key and value blocks (a plausible indexing slip) is caught by the forward check.
  @Test func aWrongHeadLayoutIsCaught() {
    let s = Dimensions(batch: 1, length: 4, width: 8, heads: 2)
    var rng = TestRandom(seed: 10)
    let qkv = rng.floats(4 * 24)
    var swapped = qkv
    for row in 0..<4 {
      for i in 0..<8 { swapped.swapAt(row * 24 + 8 + i, row * 24 + 16 + i) }
    }
    var out = [Float](repeating: 0, count: 4 * 8)
    var probs = [Float](repeating: 0, count: 2 * 16)
    Attention.forward(out: &out, probs: &probs, qkv: swapped, shape: s.shape)
    let expected = Self.reference(qkv.map(Double.init), s).out
    #expect(!mismatches(out, expected, absolute: 1e-6, relative: 1e-5).indices.isEmpty)
  }
}
