#if canImport(Glibc)
  import Glibc
#endif

/// The Swift reference of every dispatched kernel (`SIMDPath`): the plain loops the C kernels
/// replaced, kept so tests can check that every path returns exactly these bits. Not used on any
/// hot path.
public enum KernelReference {
  /// `GELU.forward`.
  public static func geluForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
      let v = x[i]
      let twiceInner = 2 * GELU.scale * (v + GELU.cubic * v * v * v)
      out[i] = v / (1 + FastMath.exp(-twiceInner))
    }
  }

  /// `GELU.backward`.
  public static func geluBackward(
    dx: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, dout: UnsafePointer<Float>, count: Int,
    accumulate: Bool
  ) {
    if !accumulate {
      for i in 0..<count { dx[i] = GELU.derivative(x[i]) * dout[i] }
      return
    }
    for i in 0..<count { dx[i] += GELU.derivative(x[i]) * dout[i] }
  }

  /// `Softmax.inPlace`.
  public static func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, valid: Int, count: Int) -> Float {
    let maxValue = Reduce.maximum(row, count: valid)
    for i in 0..<valid { row[i] = FastMath.exp(row[i] - maxValue) }
    let sum = Reduce.sum(row, count: valid)
    let inv = 1 / sum
    for i in 0..<valid { row[i] *= inv }
    for i in valid..<count { row[i] = 0 }
    return maxValue + logf(sum)
  }

  /// `Softmax.backwardRows`.
  public static func softmaxBackwardRows(p: UnsafePointer<Float>, ds: UnsafeMutablePointer<Float>, t: Int) {
    for row in 0..<t {
      let pr = p + row * t
      let dr = ds + row * t
      let dot = Reduce.dot(pr, dr, count: row + 1)
      for j in 0...row { dr[j] = pr[j] * (dr[j] - dot) }
      for j in (row + 1)..<t { dr[j] = 0 }
    }
  }

  /// `LayerNorm.forward`.
  public static func layerNormForward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int
  ) {
    for r in 0..<rows {
      let xr = x + r * width
      let m = Reduce.sum(xr, count: width) / Float(width)
      let v = Reduce.sumOfSquares(xr, around: m, count: width) / Float(width)
      let s = 1 / (v + LayerNorm.epsilon).squareRoot()
      let o = out + r * width
      for i in 0..<width { o[i] = (xr[i] - m) * s * weight[i] + bias[i] }
      mean[r] = m
      rstd[r] = s
    }
  }

  /// `LayerNorm.backward`.
  public static func layerNormBackward(
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

  /// `RotaryTable.rotate`.
  public static func rotate(
    _ x: UnsafeMutablePointer<Float>, cos cs: UnsafePointer<Float>, sin sn: UnsafePointer<Float>, half: Int,
    inverse: Bool
  ) {
    let y = x + half
    if inverse {
      for i in 0..<half {
        let (a, b) = (x[i], y[i])
        x[i] = a * cs[i] + b * sn[i]
        y[i] = b * cs[i] - a * sn[i]
      }
    } else {
      for i in 0..<half {
        let (a, b) = (x[i], y[i])
        x[i] = a * cs[i] - b * sn[i]
        y[i] = a * sn[i] + b * cs[i]
      }
    }
  }

  /// `InferenceMath.gelu`.
  public static func inferenceGelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
      let v = x[i]
      let z = 0.797_884_56 * (v + 0.044715 * v * v * v)
      x[i] = v / (1 + InferenceMath.exp(-2 * z))
    }
  }

  /// `InferenceMath.softmax`.
  public static func inferenceSoftmax(_ row: UnsafeMutablePointer<Float>, valid: Int) {
    var partial = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    while i + 8 <= valid {
      let value = Reduce.load(row + i)
      partial.replace(with: value, where: value .> partial)
      i += 8
    }
    var maxValue = partial.max()
    while i < valid {
      maxValue = Swift.max(maxValue, row[i])
      i += 1
    }
    for i in 0..<valid { row[i] = InferenceMath.exp(row[i] - maxValue) }
    let inverse = 1 / Reduce.sum(row, count: valid)
    for i in 0..<valid { row[i] *= inverse }
  }

  /// `InferenceMath.layerNorm`.
  public static func inferenceLayerNorm(
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
