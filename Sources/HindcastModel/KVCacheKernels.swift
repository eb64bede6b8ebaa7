import HindcastKernels

/// Elementwise kernels of the inference path (KV-cache decoding): the dispatched C kernels of
/// `InferenceMath` (see there for accuracy; `expf`/`tanhf` from libm cost 10-20 ns per element,
/// which at decode sizes rivals the matrix products). Every instruction-set path gives the same
/// bits (`SIMDPath`).
enum InferenceKernels {
  /// e^x with a degree-7 polynomial (`InferenceMath.exp`).
  @inline(__always)
  static func exp(_ value: Float) -> Float { InferenceMath.exp(value) }

  /// In place: x (n) = gelu(x), tanh approximation (as `GELU.forward`), in the equivalent form
  /// 0.5 v (1 + tanh(z)) = v / (1 + e^{-2z}).
  @inline(__always)
  static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) { InferenceMath.gelu(x, count: count) }

  /// In place: row (valid) = softmax(row (valid)). Entries at and after `valid` are untouched.
  @inline(__always)
  static func softmax(_ row: UnsafeMutablePointer<Float>, valid: Int) {
    InferenceMath.softmax(row, valid: valid)
  }

  /// out (C) = (x - mean) / sqrt(var + eps) * weight + bias, for one row.
  @inline(__always)
  static func layerNorm(
    out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, width: Int, epsilon: Float
  ) {
    InferenceMath.layerNorm(out: out, x: x, weight: weight, bias: bias, width: width, epsilon: epsilon)
  }
}
