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
      let m = Reduce.sum(xr, count: width) / Float(width)
      let v = Reduce.sumOfSquares(xr, around: m, count: width) / Float(width)
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
      // Both row sums with eight lanes each (see `Reduce`).
      var sumDnorm = SIMD8<Float>(repeating: 0)
      var sumDnormNorm = SIMD8<Float>(repeating: 0)
      let mv = SIMD8<Float>(repeating: m)
      let sv = SIMD8<Float>(repeating: s)
      var i = 0
      while i + 8 <= width {
        let norm = (Reduce.load(xr + i) - mv) * sv
        let dnorm = Reduce.load(weight + i) * Reduce.load(dr + i)
        sumDnorm += dnorm
        sumDnormNorm += dnorm * norm
        i += 8
      }
      var meanDnorm = sumDnorm.sum()
      var meanDnormNorm = sumDnormNorm.sum()
      while i < width {
        let norm = (xr[i] - m) * s
        let dnorm = weight[i] * dr[i]
        meanDnorm += dnorm
        meanDnormNorm += dnorm * norm
        i += 1
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
