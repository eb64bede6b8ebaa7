#if canImport(Glibc)
  import Glibc
#endif

/// A small deterministic generator for kernel tests (this test target sees only the kernels).
struct TestRandom {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  /// SplitMix64.
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [0, 1).
  mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

  /// Standard normal (Box-Muller).
  mutating func gaussian() -> Float {
    let u = max(unit(), 1e-300)
    return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * unit()))
  }

  mutating func floats(_ count: Int, scale: Float = 1, offset: Float = 0) -> [Float] {
    (0..<count).map { _ in offset + scale * gaussian() }
  }
}

/// Central differences of a double-precision function at `point`.
func numericGradient(at point: [Double], step: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
  var probe = point
  return point.indices.map { i in
    probe[i] = point[i] + step
    let plus = f(probe)
    probe[i] = point[i] - step
    let minus = f(probe)
    probe[i] = point[i]
    return (plus - minus) / (2 * step)
  }
}

/// Indices where `actual` and `expected` differ by more than
/// `absolute * max|expected| + relative * |expected|`, with a description of the first few.
func mismatches(
  _ actual: [Float], _ expected: [Double], absolute: Double, relative: Double
) -> (indices: [Int], summary: String) {
  let scale = expected.map { abs($0) }.max() ?? 0
  var indices: [Int] = []
  if actual.count != expected.count { return ([-1], "count \(actual.count) vs \(expected.count)") }
  for i in actual.indices {
    let allowed = absolute * scale + relative * abs(expected[i])
    if !(abs(Double(actual[i]) - expected[i]) <= allowed) { indices.append(i) }
  }
  let summary = indices.prefix(4).map { "[\($0)] \(actual[$0]) vs \(expected[$0])" }.joined(separator: "; ")
  return (indices, summary)
}

/// `sum(weights * values)` in double: the scalar whose gradient a backward pass computes when it is
/// given `weights` as the output gradient.
func dot(_ weights: [Float], _ values: [Double]) -> Double {
  zip(weights, values).reduce(0) { $0 + Double($1.0) * $1.1 }
}
