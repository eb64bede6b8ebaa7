/// Float reductions with eight independent partial sums (SIMD lanes), so they run at vector
/// throughput instead of one dependent addition per element. The summation order is fixed by
/// `count` alone: lanes over the first `count / 8 * 8` elements, then the lanes summed, then the
/// remaining elements in order; results are deterministic but differ from a sequential loop by
/// float rounding.
public enum Reduce {
  @inline(__always)
  static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
  }

  /// sum of x (n).
  @inline(__always)
  public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= count {
      acc += load(x + i)
      i += 8
    }
    var total = acc.sum()
    while i < count {
      total += x[i]
      i += 1
    }
    return total
  }

  /// sum of (x - center)^2 over x (n).
  @inline(__always)
  public static func sumOfSquares(_ x: UnsafePointer<Float>, around center: Float, count: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    let c = SIMD8<Float>(repeating: center)
    var i = 0
    while i + 8 <= count {
      let d = load(x + i) - c
      acc += d * d
      i += 8
    }
    var total = acc.sum()
    while i < count {
      let d = x[i] - center
      total += d * d
      i += 1
    }
    return total
  }

  /// sum of a[i] * b[i].
  @inline(__always)
  public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= count {
      acc += load(a + i) * load(b + i)
      i += 8
    }
    var total = acc.sum()
    while i < count {
      total += a[i] * b[i]
      i += 1
    }
    return total
  }

  /// The largest element of x (n), n >= 1 (NaNs are not propagated reliably).
  @inline(__always)
  public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var i = 0
    var result = -Float.infinity
    if count >= 8 {
      var acc = load(x)
      i = 8
      while i + 8 <= count {
        let v = load(x + i)
        // A compare and a blend (the generic `pointwiseMax` is not inlined).
        acc.replace(with: v, where: v .> acc)
        i += 8
      }
      result = acc.max()
    }
    while i < count {
      result = Swift.max(result, x[i])
      i += 1
    }
    return result
  }
}
