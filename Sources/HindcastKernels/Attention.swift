/// Multi-head causal self-attention over a fused QKV buffer, forward and backward, with every
/// matrix product going through `Gemm.multiply`.
///
/// Layout: `qkv (B, T, 3C)` holds per row the query (columns 0..<C), key (C..<2C) and value
/// (2C..<3C); head `h` uses columns `h*D..<(h+1)*D` of each part, D = C / H.
public enum Attention {
  /// Shapes of one call.
  ///
  /// `queryBlock`: the causal mask is exploited by splitting the T query rows into blocks of this
  /// many rows; a block multiplies only against the keys at or before its last row, so no product
  /// computes the masked upper triangle beyond the diagonal blocks. Smaller blocks skip more
  /// work but issue more, smaller products; `length <= queryBlock` gives one block (the plain
  /// full products). Results equal the unblocked ones up to float rounding.
  public struct Shape: Sendable {
    /// Tokens of each sequence. Sequence b occupies rows `rowOffsets[b] ..< rowOffsets[b] +
    /// lengths[b]` of the row buffers (sequences packed back to back, no padding between them)
    /// and `heads * lengths[b]^2` floats of the probabilities from `probOffsets[b]` on, one
    /// `(T_b, T_b)` matrix per head.
    public let lengths: [Int]
    public let width: Int, heads: Int
    public let queryBlock: Int
    public let rowOffsets: [Int]
    public let probOffsets: [Int]
    /// Rows over all sequences (sum of `lengths`).
    public let rows: Int
    /// Floats of the probabilities over all sequences and heads.
    public let probCount: Int
    /// The longest sequence (0 for none).
    public let maxLength: Int
    /// The default `queryBlock` with multi-threaded BLAS: two blocks at T = 256, where halving the
    /// products no longer pays (two BLAS threads gain little on the smaller products).
    public static let defaultQueryBlock = 128
    /// The `queryBlock` for single-threaded BLAS (one-thread or sharded training steps), where the
    /// smaller products run at nearly full speed and skipping more of the masked triangle wins.
    public static let singleThreadQueryBlock = 32

    /// `singleThreadQueryBlock` when BLAS runs `blasThreads` = 1 thread, else `defaultQueryBlock`.
    public static func queryBlock(blasThreads: Int) -> Int {
      blasThreads <= 1 ? singleThreadQueryBlock : defaultQueryBlock
    }

    /// `batch` sequences of `length` tokens each: rows `(B, T)` and probabilities `(B, H, T, T)`.
    public init(batch: Int, length: Int, width: Int, heads: Int, queryBlock: Int = Shape.defaultQueryBlock) {
      self.init(
        lengths: [Int](repeating: length, count: max(0, batch)), width: width, heads: heads,
        queryBlock: queryBlock)
    }

    /// Sequences of the given lengths (each at least 1), packed back to back.
    public init(lengths: [Int], width: Int, heads: Int, queryBlock: Int = Shape.defaultQueryBlock) {
      self.lengths = lengths
      self.width = width
      self.heads = heads
      self.queryBlock = max(1, queryBlock)
      var rowOffsets: [Int] = []
      var probOffsets: [Int] = []
      rowOffsets.reserveCapacity(lengths.count)
      probOffsets.reserveCapacity(lengths.count)
      var rows = 0
      var probs = 0
      for t in lengths {
        rowOffsets.append(rows)
        probOffsets.append(probs)
        rows += t
        probs += heads * t * t
      }
      self.rowOffsets = rowOffsets
      self.probOffsets = probOffsets
      self.rows = rows
      probCount = probs
      maxLength = lengths.max() ?? 0
    }

    /// Number of sequences.
    public var batch: Int { lengths.count }
    /// The longest sequence (the common length when all are equal).
    public var length: Int { maxLength }
    var headWidth: Int { width / heads }

    /// The query-row blocks of the longest sequence (all of them when lengths are equal).
    public var blocks: [(first: Int, rows: Int, keys: Int)] { blocks(length: maxLength) }

    /// The query-row blocks of a sequence of `length` tokens: `(first row, rows, keys)` where
    /// keys = first row + rows (the causal prefix the block attends to).
    public func blocks(length: Int) -> [(first: Int, rows: Int, keys: Int)] {
      stride(from: 0, to: length, by: queryBlock).map { first in
        let rows = min(queryBlock, length - first)
        return (first, rows, first + rows)
      }
    }
  }

  /// out (rows, C) = per sequence, concat over heads of softmax(Q K^T / sqrt(D), causal) V. Saves
  /// the probabilities (layout of `Shape`) for the backward pass (upper triangles are zero).
  /// Each sequence attends only to its own rows.
  public static func forward(
    out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
    shape s: Shape
  ) {
    let (c, d) = (s.width, s.headWidth)
    let scale = 1 / Float(d).squareRoot()
    var blocksByLength: [Int: [(first: Int, rows: Int, keys: Int)]] = [:]
    for b in 0..<s.batch {
      let t = s.lengths[b]
      let first0 = s.rowOffsets[b]
      let blocks = blocksByLength[t] ?? s.blocks(length: t)
      blocksByLength[t] = blocks
      for h in 0..<s.heads {
        let q = qkv + first0 * 3 * c + h * d
        let p = probs + s.probOffsets[b] + h * t * t
        let out = out + first0 * c
        for block in blocks {
          let (first, rows, keys) = block
          // scores[first..., ..<keys] = scale * Q[first...] (rows, D) K[..<keys]^T (D, keys)
          Gemm.multiply(
            .normal, .transposed, m: rows, n: keys, k: d, alpha: scale, a: q + first * 3 * c, lda: 3 * c,
            b: q + c, ldb: 3 * c, c: p + first * t, ldc: t)
          for row in first..<keys { Softmax.inPlace(p + row * t, valid: row + 1, count: t) }
          // out_h[first...] (rows, D) = P[first..., ..<keys] V[..<keys] (keys, D)
          Gemm.multiply(
            .normal, .normal, m: rows, n: d, k: keys, a: p + first * t, lda: t, b: q + 2 * c, ldb: 3 * c,
            c: out + first * c + h * d, ldc: c)
        }
      }
    }
  }

  /// Writes dqkv (rows, 3C) from dout (rows, C), using the saved `probs` and the forward `qkv`.
  /// `scratch` must hold `maxLength^2` floats. `dqkv` is overwritten, not accumulated.
  public static func backward(
    dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
    probs: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, shape s: Shape
  ) {
    let (c, d) = (s.width, s.headWidth)
    let scale = 1 / Float(d).squareRoot()
    var blocksByLength: [Int: [(first: Int, rows: Int, keys: Int)]] = [:]
    for b in 0..<s.batch {
      let t = s.lengths[b]
      let first0 = s.rowOffsets[b]
      let blocks = blocksByLength[t] ?? s.blocks(length: t)
      blocksByLength[t] = blocks
      for h in 0..<s.heads {
        let q = qkv + first0 * 3 * c + h * d
        let dq = dqkv + first0 * 3 * c + h * d
        let p = probs + s.probOffsets[b] + h * t * t
        let dy = dout + first0 * c + h * d
        for (first, rows, keys) in blocks {
          // dP[first..., ..<keys] = dY[first...] (rows, D) V[..<keys]^T (D, keys)
          Gemm.multiply(
            .normal, .transposed, m: rows, n: keys, k: d, a: dy + first * c, lda: c, b: q + 2 * c, ldb: 3 * c,
            c: scratch + first * t, ldc: t)
          // dV for the keys of this block: only query rows from `first` on attend to them.
          // dV[first..<keys] (rows, D) = P[first..., first..<keys]^T dY[first...] (T - first, D)
          Gemm.multiply(
            .transposed, .normal, m: rows, n: d, k: t - first, a: p + first * t + first, lda: t,
            b: dy + first * c, ldb: c, c: dq + first * 3 * c + 2 * c, ldc: 3 * c)
        }
        // dS = P * (dP - rowsum(P * dP)), in place in scratch; masked entries stay zero.
        Softmax.backwardRows(p: p, ds: scratch, t: t)
        for (first, rows, keys) in blocks {
          // dQ[first...] (rows, D) = scale * dS[first..., ..<keys] K[..<keys] (keys, D)
          Gemm.multiply(
            .normal, .normal, m: rows, n: d, k: keys, alpha: scale, a: scratch + first * t, lda: t, b: q + c,
            ldb: 3 * c, c: dq + first * 3 * c, ldc: 3 * c)
          // dK[first..<keys] (rows, D) = scale * dS[first..., first..<keys]^T Q[first...] (T - first, D)
          Gemm.multiply(
            .transposed, .normal, m: rows, n: d, k: t - first, alpha: scale, a: scratch + first * t + first,
            lda: t, b: q + first * 3 * c, ldb: 3 * c, c: dq + first * 3 * c + c, ldc: 3 * c)
        }
      }
    }
  }
}
