/// Multi-head causal self-attention over a fused QKV buffer, forward and backward, with every
/// matrix product going through `Gemm.multiply`.
///
/// Layout: `qkv (B, T, 3C)` holds per row the query (columns 0..<C), key (C..<2C) and value
/// (2C..<3C); head `h` uses columns `h*D..<(h+1)*D` of each part, D = C / H.
public enum Attention {
  /// Shapes of one call.
  public struct Shape: Sendable {
    public let batch: Int, length: Int, width: Int, heads: Int
    public init(batch: Int, length: Int, width: Int, heads: Int) {
      self.batch = batch
      self.length = length
      self.width = width
      self.heads = heads
    }
    var headWidth: Int { width / heads }
  }

  /// out (B, T, C) = concat over heads of softmax(Q K^T / sqrt(D), causal) V. Saves the
  /// probabilities in `probs (B, H, T, T)` for the backward pass (upper triangles are zero).
  public static func forward(
    out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
    shape s: Shape
  ) {
    let (t, c, d) = (s.length, s.width, s.headWidth)
    let scale = 1 / Float(d).squareRoot()
    for b in 0..<s.batch {
      for h in 0..<s.heads {
        let q = qkv + b * t * 3 * c + h * d
        let p = probs + (b * s.heads + h) * t * t
        // scores (T, T) = scale * Q (T, D) K^T (D, T)
        Gemm.multiply(
          .normal, .transposed, m: t, n: t, k: d, alpha: scale, a: q, lda: 3 * c, b: q + c, ldb: 3 * c,
          c: p, ldc: t)
        for row in 0..<t { Softmax.inPlace(p + row * t, valid: row + 1, count: t) }
        // out_h (T, D) = P (T, T) V (T, D)
        Gemm.multiply(
          .normal, .normal, m: t, n: d, k: t, a: p, lda: t, b: q + 2 * c, ldb: 3 * c,
          c: out + b * t * c + h * d, ldc: c)
      }
    }
  }

  /// Writes dqkv (B, T, 3C) from dout (B, T, C), using the saved `probs` and the forward `qkv`.
  /// `scratch` must hold T*T floats. `dqkv` is overwritten, not accumulated.
  public static func backward(
    dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
    probs: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, shape s: Shape
  ) {
    let (t, c, d) = (s.length, s.width, s.headWidth)
    let scale = 1 / Float(d).squareRoot()
    for b in 0..<s.batch {
      for h in 0..<s.heads {
        let q = qkv + b * t * 3 * c + h * d
        let dq = dqkv + b * t * 3 * c + h * d
        let p = probs + (b * s.heads + h) * t * t
        let dy = dout + b * t * c + h * d
        // dP (T, T) = dY (T, D) V^T (D, T)
        Gemm.multiply(
          .normal, .transposed, m: t, n: t, k: d, a: dy, lda: c, b: q + 2 * c, ldb: 3 * c, c: scratch, ldc: t)
        // dV (T, D) = P^T (T, T) dY (T, D)
        Gemm.multiply(
          .transposed, .normal, m: t, n: d, k: t, a: p, lda: t, b: dy, ldb: c, c: dq + 2 * c, ldc: 3 * c)
        // dS = P * (dP - rowsum(P * dP)), in place in scratch; masked entries stay zero.
        for row in 0..<t {
          let pr = p + row * t
          let dr = scratch + row * t
          var dot: Float = 0
          for j in 0...row { dot += pr[j] * dr[j] }
          for j in 0...row { dr[j] = pr[j] * (dr[j] - dot) }
          for j in (row + 1)..<t { dr[j] = 0 }
        }
        // dQ (T, D) = scale * dS (T, T) K (T, D); dK (T, D) = scale * dS^T Q
        Gemm.multiply(
          .normal, .normal, m: t, n: d, k: t, alpha: scale, a: scratch, lda: t, b: q + c, ldb: 3 * c,
          c: dq, ldc: 3 * c)
        Gemm.multiply(
          .transposed, .normal, m: t, n: d, k: t, alpha: scale, a: scratch, lda: t, b: q, ldb: 3 * c,
          c: dq + c, ldc: 3 * c)
      }
    }
  }
}
