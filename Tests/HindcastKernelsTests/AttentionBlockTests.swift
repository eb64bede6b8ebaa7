import HindcastKernels
import Testing

/// Causal query blocks (`Attention.Shape.queryBlock`) skip the masked products; every block size
/// must give the results of one full block, forward (outputs, probabilities) and backward.
@Suite struct AttentionBlockTests {
  static func run(_ shape: Attention.Shape, qkv: [Float], dout: [Float]) -> (
    out: [Float], probs: [Float], dqkv: [Float]
  ) {
    let (b, t, c) = (shape.batch, shape.length, shape.width)
    var out = [Float](repeating: .nan, count: b * t * c)
    var probs = [Float](repeating: .nan, count: b * shape.heads * t * t)
    var dqkv = [Float](repeating: .nan, count: b * t * 3 * c)
    var scratch = [Float](repeating: .nan, count: t * t)
    Attention.forward(out: &out, probs: &probs, qkv: qkv, shape: shape)
    Attention.backward(dqkv: &dqkv, dout: dout, qkv: qkv, probs: probs, scratch: &scratch, shape: shape)
    return (out, probs, dqkv)
  }

  @Test(arguments: [1, 3, 4, 6, 11])
  func blockedEqualsUnblocked(queryBlock: Int) {
    let (batch, length, width, heads) = (2, 11, 8, 2)
    var rng = TestRandom(seed: 41)
    let qkv = rng.floats(batch * length * 3 * width)
    let dout = rng.floats(batch * length * width)
    let whole = Self.run(
      Attention.Shape(batch: batch, length: length, width: width, heads: heads, queryBlock: length), qkv: qkv,
      dout: dout)
    let blocked = Self.run(
      Attention.Shape(batch: batch, length: length, width: width, heads: heads, queryBlock: queryBlock),
      qkv: qkv, dout: dout)
    for (name, a, b) in [
      ("out", blocked.out, whole.out), ("probs", blocked.probs, whole.probs),
      ("dqkv", blocked.dqkv, whole.dqkv),
    ] {
      let result = mismatches(a, b.map { Double($0) }, absolute: 1e-5, relative: 1e-5)
      #expect(result.indices.isEmpty, "block \(queryBlock) \(name): \(result.summary)")
      #expect(a.allSatisfy { $0.isFinite }, "block \(queryBlock) \(name) left entries unwritten")
    }
  }

  @Test func blocksCoverTheRowsInOrder() {
    let shape = Attention.Shape(batch: 1, length: 10, width: 4, heads: 1, queryBlock: 4)
    let blocks = shape.blocks.map { [$0.first, $0.rows, $0.keys] }
    #expect(blocks == [[0, 4, 4], [4, 4, 8], [8, 2, 10]])
    #expect(Attention.Shape(batch: 1, length: 256, width: 4, heads: 1).blocks.count == 2)
  }
}
