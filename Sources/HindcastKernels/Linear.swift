/// A fully connected layer with PyTorch's weight orientation: `W (out, in)`, `y = x W^T + b`.
public enum Linear {
  /// y (N, out) = x (N, in) W^T + b (+ residual). `bias` may be nil; `residual (N, out)`, when
  /// given, is added in the same pass that writes the bias (a skip connection without a separate
  /// pass over y). `residual` must not alias `y`.
  public static func forward(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int, inputs: Int, outputs: Int, residual: UnsafePointer<Float>? = nil
  ) {
    if let residual, let bias {
      for r in 0..<rows {
        let out = y + r * outputs
        let skip = residual + r * outputs
        for o in 0..<outputs { out[o] = bias[o] + skip[o] }
      }
    } else if let residual {
      y.update(from: residual, count: rows * outputs)
    } else if let bias {
      for r in 0..<rows { (y + r * outputs).update(from: bias, count: outputs) }
    }
    Gemm.multiply(
      .normal, .transposed, m: rows, n: outputs, k: inputs, a: x, lda: inputs, b: weight, ldb: inputs,
      beta: bias == nil && residual == nil ? 0 : 1, c: y, ldc: outputs)
  }

  /// Backward pass. `dx (N, in)` is overwritten when `accumulateInput` is false and added to
  /// otherwise; `dweight (out, in)` and `dbias (out)` are always accumulated. `dx` may be nil
  /// when the input needs no gradient.
  public static func backward(
    dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>,
    dbias: UnsafeMutablePointer<Float>?,
    dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, inputs: Int,
    outputs: Int, accumulateInput: Bool = false
  ) {
    if let dx {
      // dx (N, in) = dy (N, out) W (out, in)
      Gemm.multiply(
        .normal, .normal, m: rows, n: inputs, k: outputs, a: dy, lda: outputs, b: weight, ldb: inputs,
        beta: accumulateInput ? 1 : 0, c: dx, ldc: inputs)
    }
    // dW (out, in) += dy^T (out, N) x (N, in)
    Gemm.multiply(
      .transposed, .normal, m: outputs, n: inputs, k: rows, a: dy, lda: outputs, b: x, ldb: inputs, beta: 1,
      c: dweight, ldc: inputs)
    if let dbias {
      for r in 0..<rows {
        let row = dy + r * outputs
        for o in 0..<outputs { dbias[o] += row[o] }
      }
    }
  }
}
