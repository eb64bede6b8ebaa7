import CHindcastSIMD

/// Layer normalization over the last dimension, forward and backward, on raw row-major buffers.
/// Both passes are dispatched (`SIMDPath`) and equal `KernelReference.layerNormForward` /
/// `layerNormBackward` bit for bit.
public enum LayerNorm {
  public static let epsilon: Float = 1e-5

  /// out (N, C) = (x - mean) * rstd * weight + bias, per row. Saves mean (N) and rstd (N) for the
  /// backward pass.
  public static func forward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int
  ) {
    hc_layer_norm_forward(out, mean, rstd, x, weight, bias, Int64(rows), Int64(width), epsilon)
  }

  /// Accumulates into dx (N, C), dweight (C) and dbias (C) given dout (N, C) and the saved
  /// statistics. `dx` is added to, so a residual stream's gradient can be passed directly.
  public static func backward(
    dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, width: Int
  ) {
    hc_layer_norm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd, Int64(rows), Int64(width))
  }
}
