import CHindcastSIMD

/// Element-wise kernels of the KV-cache decode path, dispatched (`SIMDPath`).
///
/// `exp` here uses a degree-7 polynomial after the range reduction `x = k ln2 + r`, |r| <= ln2/2
/// (relative error below 2e-7 on [-87, 88]; arguments are clamped to that range), one degree more
/// than `FastMath.exp` of the training kernels. `gelu` is the tanh approximation in the form
/// `v / (1 + e^{-2z})`, within 1e-6 absolute of `GELU.forward` for |v| <= 100, so the cached
/// decoder matches the training forward pass within float rounding. Each kernel equals its
/// `KernelReference.inference...` counterpart bit for bit on every path.
public enum InferenceMath {
  /// e^x: x = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2), e^r by its Taylor series
  /// to degree 7 (remainder < 6e-9), 2^k by building the exponent bits. Scalar Swift (the C
  /// kernels carry their own copy with the same operations).
  @inlinable @inline(__always)
  public static func exp(_ value: Float) -> Float {
    let x = min(max(value, -87), 88)
    let shifter: Float = 12_582_912
    let shifted = x * 1.442_695_04 + shifter
    let k = shifted - shifter
    let ln2High: Float = 0.693_145_751_953_125
    let ln2Low: Float = 1.428_606_820_309_417_2e-6
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

  /// In place: x (n) = gelu(x).
  public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
    hc_inference_gelu(x, Int64(count))
  }

  /// In place: row (valid) = softmax(row (valid)). Entries at and after `valid` are untouched.
  public static func softmax(_ row: UnsafeMutablePointer<Float>, valid: Int) {
    hc_inference_softmax(row, Int64(valid))
  }

  /// out (C) = (x - mean) / sqrt(var + eps) * weight + bias, for one row.
  public static func layerNorm(
    out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, width: Int, epsilon: Float
  ) {
    hc_inference_layer_norm(out, x, weight, bias, Int64(width), epsilon)
  }
}
