import HindcastKernels

/// Elementwise kernels of the inference path (KV-cache decoding), written as branch-free loops
/// without library calls so the compiler vectorizes them. `expf`/`tanhf` from libm cost 10-20 ns
/// per element, which at decode sizes rivals the matrix products.
///
/// Accuracy: `exp` has a relative error below 2e-7 on [-87, 88] (arguments are clamped to that
/// range); `gelu` differs from `GELU.forward` (libm `tanhf`) by less than 1e-6 absolute for
/// inputs of magnitude up to 100, so the cached decoder matches the training forward pass within
/// float rounding.
enum InferenceKernels {
  /// e^x: x = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2), e^r by its Taylor series
  /// to degree 7 (remainder < 6e-9), 2^k by building the exponent bits.
  @inline(__always)
  static func exp(_ value: Float) -> Float {
    let x = min(max(value, -87), 88)
    // Round x / ln2 to the nearest integer with the 1.5 * 2^23 trick: after the addition the
    // low mantissa bits hold k.
    let shifter: Float = 12_582_912
    let shifted = x * 1.442_695_04 + shifter
    let k = shifted - shifter
    let ln2High: Float = 0.693_145_751_953_125  // ln 2 rounded to 16 significant bits (exact)
    let ln2Low: Float = 1.428_606_820_309_417_2e-6  // ln 2 - ln2High
    let r = (x - k * ln2High) - k * ln2Low
    var p: Float = 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let exponent = Int32(bitPattern: shifted.bitPattern) &- Int32(bitPattern: shifter.bitPattern)
    let scale = Float(bitPattern: UInt32(bitPattern: (exponent &+ 127) &<< 23))
    return p * scale
  }

  /// In place: x (n) = gelu(x), tanh approximation (as `GELU.forward`), in the equivalent form
  /// 0.5 v (1 + tanh(z)) = v / (1 + e^{-2z}).
  static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
      let v = x[i]
      let z = 0.797_884_56 * (v + 0.044715 * v * v * v)
      x[i] = v / (1 + exp(-2 * z))
    }
  }

  /// In place: row (valid) = softmax(row (valid)). Entries at and after `valid` are untouched.
  static func softmax(_ row: UnsafeMutablePointer<Float>, valid: Int) {
    let maxValue = maximum(row, count: valid)
    for i in 0..<valid { row[i] = exp(row[i] - maxValue) }
    let inverse = 1 / Reduce.sum(row, count: valid)
    for i in 0..<valid { row[i] *= inverse }
  }

  /// Largest entry of x (n), -infinity when empty (NaN entries are skipped).
  static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var partial = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    let raw = UnsafeRawPointer(x)
    while i + 8 <= count {
      let value = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      partial.replace(with: value, where: value .> partial)
      i += 8
    }
    var result = partial.max()
    while i < count {
      result = Swift.max(result, x[i])
      i += 1
    }
    return result
  }

  /// out (C) = (x - mean) / sqrt(var + eps) * weight + bias, for one row.
  static func layerNorm(
    out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, width: Int, epsilon: Float
  ) {
    let mean = Reduce.sum(x, count: width) / Float(width)
    var variance = Reduce.sumOfSquares(x, around: mean, count: width)
    variance /= Float(width)
    let rstd = 1 / (variance + epsilon).squareRoot()
    for j in 0..<width { out[j] = (x[j] - mean) * rstd * weight[j] + bias[j] }
  }
}
