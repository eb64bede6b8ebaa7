#if canImport(Glibc)
  import Glibc
#endif

/// GELU with the tanh approximation (GPT-2's, PyTorch's `gelu(approximate="tanh")`).
public enum GELU {
  static let scale: Float = 0.797_884_56  // sqrt(2 / pi)

  /// out (n) = gelu(x (n)).
  public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
      let v = x[i]
      let inner = scale * (v + 0.044715 * v * v * v)
      out[i] = 0.5 * v * (1 + tanhf(inner))
    }
  }

  /// dx (n) += gelu'(x) * dout (n).
  public static func backward(
    dx: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, dout: UnsafePointer<Float>, count: Int
  ) {
    for i in 0..<count {
      let v = x[i]
      let cube = 0.044715 * v * v * v
      let t = tanhf(scale * (v + cube))
      let sech2 = 1 - t * t
      let local = 0.5 * (1 + t) + v * 0.5 * sech2 * scale * (1 + 3 * 0.044715 * v * v)
      dx[i] += local * dout[i]
    }
  }
}

/// Softmax helpers over rows of logits.
public enum Softmax {
  /// In place: row (n) becomes softmax(row * 1) restricted to the first `valid` entries; entries
  /// at and after `valid` are set to zero (causal masking). Returns log of the normalizer and the
  /// row maximum folded together (the log-sum-exp).
  @discardableResult
  public static func inPlace(_ row: UnsafeMutablePointer<Float>, valid: Int, count: Int) -> Float {
    var maxValue = -Float.infinity
    for i in 0..<valid where row[i] > maxValue { maxValue = row[i] }
    var sum: Float = 0
    for i in 0..<valid {
      let e = expf(row[i] - maxValue)
      row[i] = e
      sum += e
    }
    let inv = 1 / sum
    for i in 0..<valid { row[i] *= inv }
    for i in valid..<count { row[i] = 0 }
    return maxValue + logf(sum)
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
