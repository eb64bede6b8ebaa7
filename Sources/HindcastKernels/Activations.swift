import CHindcastSIMD

#if canImport(Glibc)
  import Glibc
#endif

/// GELU with the tanh approximation (GPT-2's, PyTorch's `gelu(approximate="tanh")`).
///
/// Computed as `x * sigmoid(2u)` with `u = sqrt(2/pi) (x + 0.044715 x^3)`, which equals
/// `0.5 x (1 + tanh(u))`, using `FastMath.exp`: branch-free, so the loops vectorize, and within a
/// few float ulps of the tanh form.
public enum GELU {
  static let scale: Float = 0.797_884_56  // sqrt(2 / pi)
  static let cubic: Float = 0.044715

  /// out (n) = gelu(x (n)). `out` may be `x` (in place). Dispatched (`SIMDPath`); equals
  /// `KernelReference.geluForward` bit for bit.
  public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
    hc_gelu_forward(out, x, Int64(count))
  }

  /// dx (n) += gelu'(x) * dout (n), or `=` when `accumulate` is false (no zeroing pass needed).
  /// Dispatched (`SIMDPath`); equals `KernelReference.geluBackward` bit for bit.
  public static func backward(
    dx: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, dout: UnsafePointer<Float>, count: Int,
    accumulate: Bool = true
  ) {
    hc_gelu_backward(dx, x, dout, Int64(count), accumulate ? 1 : 0)
  }

  /// gelu'(v).
  @inline(__always)
  static func derivative(_ v: Float) -> Float {
    let v2 = v * v
    let twiceInner = 2 * scale * (v + cubic * v2 * v)
    let sigmoid = 1 / (1 + FastMath.exp(-twiceInner))
    // d/dv [v sigmoid(2u)] = sigmoid + v sigmoid (1 - sigmoid) 2 u'(v)
    return sigmoid + v * sigmoid * (1 - sigmoid) * (2 * scale) * (1 + 3 * cubic * v2)
  }
}

/// Branch-free elementary functions that LLVM can vectorize inside element-wise loops.
public enum FastMath {
  /// `e^x` for float `x`, within about 2 ulp of `expf` for x in [-87, 88]; inputs outside are
  /// clamped to that range (so the result is never 0 or infinite; NaN stays NaN only when the
  /// platform's min/max keep it, so callers should not rely on NaN propagation).
  ///
  /// Range reduction `x = n ln2 + r`, |r| <= ln2 / 2, then a degree-6 Taylor polynomial for e^r
  /// and 2^n built from its exponent bits. Only wrapping integer operations and selects.
  @inline(__always)
  public static func exp(_ x: Float) -> Float {
    let clamped = Swift.min(Swift.max(x, -87), 88)
    // Adding 1.5 * 2^23 rounds x / ln2 to an integer held in the low mantissa bits.
    let magic: Float = 12_582_912
    let shifted = clamped * 1.442_695_04 + magic
    let n = shifted - magic
    let r = (clamped - n * 0.693_145_75) - n * 1.428_606_8e-6
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let exponent = (shifted.bitPattern &- magic.bitPattern &+ 127) &<< 23
    return p * Float(bitPattern: exponent)
  }
}

/// Softmax helpers over rows of logits.
public enum Softmax {
  /// In place: row (n) becomes softmax(row * 1) restricted to the first `valid` entries; entries
  /// at and after `valid` are set to zero (causal masking). Returns log of the normalizer and the
  /// row maximum folded together (the log-sum-exp). Uses `FastMath.exp`; `valid >= 1`.
  /// Dispatched (`SIMDPath`); equals `KernelReference.softmaxInPlace` bit for bit.
  @discardableResult
  public static func inPlace(_ row: UnsafeMutablePointer<Float>, valid: Int, count: Int) -> Float {
    hc_softmax_in_place(row, Int64(valid), Int64(count))
  }

  /// The softmax backward step of causal attention over one `(t, t)` block in place: with `p`
  /// the probabilities and `ds` holding dP, row r becomes `p[r][j] * (ds[r][j] - sum_k<=r
  /// p[r][k] ds[r][k])` for j <= r and 0 after. Dispatched (`SIMDPath`); equals
  /// `KernelReference.softmaxBackwardRows` bit for bit.
  public static func backwardRows(p: UnsafePointer<Float>, ds: UnsafeMutablePointer<Float>, t: Int) {
    hc_softmax_backward_rows(p, ds, Int64(t))
  }

  /// log-softmax of `logits (n)` into `out (n)`; returns the log-sum-exp.
  @discardableResult
  public static func logSoftmax(out: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, count: Int)
    -> Float
  {
    var maxValue = -Float.infinity
    for i in 0..<count where logits[i] > maxValue { maxValue = logits[i] }
    var sum: Float = 0
    for i in 0..<count { sum += expf(logits[i] - maxValue) }
    let lse = maxValue + logf(sum)
    for i in 0..<count { out[i] = logits[i] - lse }
    return lse
  }
}
