/// Layer normalization over the last dimension, forward and backward, on raw row-major buffers.
public enum LayerNorm {
  public static let epsilon: Float = 1e-5

  /// out (N, C) = (x - mean) * rstd * weight + bias, per row. Saves mean (N) and rstd (N) for the
  /// backward pass.
  public static func forward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int
  ) {
    for r in 0..<rows {
      let xr = x + r * width
      var m: Float = 0
      for i in 0..<width { m += xr[i] }
      m /= Float(width)
      var v: Float = 0
      for i in 0..<width {
        let d = xr[i] - m
        v += d * d
      }
      v /= Float(width)
      let s = 1 / (v + epsilon).squareRoot()
      let o = out + r * width
      for i in 0..<width { o[i] = (xr[i] - m) * s * weight[i] + bias[i] }
      mean[r] = m
      rstd[r] = s
    }
  }

  /// Accumulates into dx (N, C), dweight (C) and dbias (C) given dout (N, C) and the saved
  /// statistics. `dx` is added to, so a residual stream's gradient can be passed directly.
  public static func backward(
    dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, width: Int
  ) {
    let invWidth = 1 / Float(width)
    for r in 0..<rows {
      let xr = x + r * width
      let dr = dout + r * width
      let m = mean[r]
      let s = rstd[r]
      var meanDnorm: Float = 0
      var meanDnormNorm: Float = 0
      for i in 0..<width {
        let norm = (xr[i] - m) * s
        let dnorm = weight[i] * dr[i]
        meanDnorm += dnorm
        meanDnormNorm += dnorm * norm
      }
      meanDnorm *= invWidth
      meanDnormNorm *= invWidth
      let dxr = dx + r * width
      for i in 0..<width {
        let norm = (xr[i] - m) * s
        let dnorm = weight[i] * dr[i]
        dbias[i] += dr[i]
        dweight[i] += norm * dr[i]
        dxr[i] += (dnorm - meanDnorm - norm * meanDnormNorm) * s
      }
    }
  }
}
