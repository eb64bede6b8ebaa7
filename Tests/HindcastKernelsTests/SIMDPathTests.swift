import HindcastKernels
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Every dispatched kernel on every instruction-set path this machine runs: bit-identical to the
/// Swift reference (`KernelReference`), hence to each other; and close to double-precision
/// formulas.
@Suite(.serialized) struct SIMDPathTests {
  static let widths = [1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 256, 1000]

  /// The bits of `values`, for exact comparison (NaN-safe).
  static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

  /// Runs `kernel` on every available path and checks each result against `reference` bitwise.
  static func expectEveryPath(
    _ name: String, width: Int, reference: [[Float]], kernel: () -> [[Float]]
  ) {
    for path in SIMDPath.available {
      guard let outputs = SIMDPath.with(path, kernel) else {
        Issue.record("path \(path) is listed as available but cannot be selected")
        continue
      }
      #expect(outputs.count == reference.count)
      for (index, (output, expected)) in zip(outputs, reference).enumerated() {
        let same = bits(output) == bits(expected)
        let firstDifference = zip(output, expected).enumerated().first {
          $0.element.0.bitPattern != $0.element.1.bitPattern
        }
        #expect(
          same,
          "\(name), width \(width), output \(index), path \(path): first difference \(String(describing: firstDifference))"
        )
      }
    }
  }

  @Test func theChosenPathRunsOnThisMachine() {
    #expect(SIMDPath.available.contains(SIMDPath.current))
    #expect(SIMDPath.available.first == .baseline)
    #expect(SIMDPath.available.contains(SIMDPath.best))
  }

  @Test func geluMatchesTheReferenceOnEveryPath() {
    var random = TestRandom(seed: 11)
    for n in Self.widths {
      var x = random.floats(n, scale: 3)
      if n > 4 { x[0] = 0; x[1] = -30; x[2] = 30; x[3] = -0.0 }
      let dout = random.floats(n)
      let start = random.floats(n)
      var forward = [Float](repeating: 0, count: n)
      var set = [Float](repeating: 0, count: n)
      var added = start
      KernelReference.geluForward(out: &forward, x: x, count: n)
      KernelReference.geluBackward(dx: &set, x: x, dout: dout, count: n, accumulate: false)
      KernelReference.geluBackward(dx: &added, x: x, dout: dout, count: n, accumulate: true)
      Self.expectEveryPath("gelu", width: n, reference: [forward, set, added]) {
        var forward = [Float](repeating: 0, count: n)
        var set = [Float](repeating: 7, count: n)
        var added = start
        GELU.forward(out: &forward, x: x, count: n)
        GELU.backward(dx: &set, x: x, dout: dout, count: n, accumulate: false)
        GELU.backward(dx: &added, x: x, dout: dout, count: n, accumulate: true)
        return [forward, set, added]
      }
      // Against the tanh form in double precision.
      for i in 0..<n {
        let v = Double(x[i])
        let exact = 0.5 * v * (1 + tanh(0.797_884_560_802_865_4 * (v + 0.044715 * v * v * v)))
        #expect(abs(Double(forward[i]) - exact) <= 1e-6 * max(1, abs(exact)), "gelu(\(v))")
      }
    }
  }

  @Test func softmaxMatchesTheReferenceOnEveryPath() {
    var random = TestRandom(seed: 12)
    for n in Self.widths {
      let logits = random.floats(n, scale: 4)
      for valid in Set([1, max(1, n / 2), n]) {
        var row = logits
        let lse = KernelReference.softmaxInPlace(&row, valid: valid, count: n)
        Self.expectEveryPath("softmax valid \(valid)", width: n, reference: [row, [lse]]) {
          var row = logits
          let lse = Softmax.inPlace(&row, valid: valid, count: n)
          return [row, [lse]]
        }
        let top = logits[..<valid].map(Double.init).max()!
        let sum = logits[..<valid].reduce(0.0) { $0 + exp(Double($1) - top) }
        #expect(abs(Double(lse) - (top + log(sum))) < 1e-5)
        for i in 0..<valid {
          #expect(abs(Double(row[i]) - exp(Double(logits[i]) - top) / sum) < 1e-6)
        }
        #expect(row[valid...].allSatisfy { $0 == 0 })
      }
    }
  }

  @Test func softmaxBackwardMatchesTheReferenceOnEveryPath() {
    var random = TestRandom(seed: 13)
    for t in [1, 5, 8, 9, 33, 64] {
      var p = [Float](repeating: 0, count: t * t)
      for r in 0..<t {
        var row = random.floats(t, scale: 2)
        Softmax.inPlace(&row, valid: r + 1, count: t)
        for j in 0..<t { p[r * t + j] = row[j] }
      }
      let dp = random.floats(t * t)
      var expected = dp
      KernelReference.softmaxBackwardRows(p: p, ds: &expected, t: t)
      Self.expectEveryPath("softmax backward", width: t, reference: [expected]) {
        var ds = dp
        Softmax.backwardRows(p: p, ds: &ds, t: t)
        return [ds]
      }
      for r in 0..<t {
        var dot = 0.0
        for k in 0...r { dot += Double(p[r * t + k]) * Double(dp[r * t + k]) }
        for j in 0..<t {
          let exact = j <= r ? Double(p[r * t + j]) * (Double(dp[r * t + j]) - dot) : 0
          #expect(abs(Double(expected[r * t + j]) - exact) < 1e-5)
        }
      }
    }
  }

  @Test func layerNormMatchesTheReferenceOnEveryPath() {
    var random = TestRandom(seed: 14)
    let rows = 3
    for width in Self.widths {
      let x = random.floats(rows * width, scale: 2, offset: 0.5)
      let weight = random.floats(width, scale: 0.5, offset: 1)
      let bias = random.floats(width, scale: 0.1)
      let dout = random.floats(rows * width)
      let dxStart = random.floats(rows * width)
      let dwStart = random.floats(width)
      let dbStart = random.floats(width)
      var out = [Float](repeating: 0, count: rows * width)
      var mean = [Float](repeating: 0, count: rows)
      var rstd = mean
      KernelReference.layerNormForward(
        out: &out, mean: &mean, rstd: &rstd, x: x, weight: weight, bias: bias, rows: rows, width: width)
      var dx = dxStart
      var dw = dwStart
      var db = dbStart
      KernelReference.layerNormBackward(
        dx: &dx, dweight: &dw, dbias: &db, dout: dout, x: x, weight: weight, mean: mean, rstd: rstd,
        rows: rows,
        width: width)
      Self.expectEveryPath("layer norm", width: width, reference: [out, mean, rstd, dx, dw, db]) {
        var out = [Float](repeating: 0, count: rows * width)
        var mean = [Float](repeating: 0, count: rows)
        var rstd = mean
        LayerNorm.forward(
          out: &out, mean: &mean, rstd: &rstd, x: x, weight: weight, bias: bias, rows: rows, width: width)
        var dx = dxStart
        var dw = dwStart
        var db = dbStart
        LayerNorm.backward(
          dx: &dx, dweight: &dw, dbias: &db, dout: dout, x: x, weight: weight, mean: mean, rstd: rstd,
          rows: rows, width: width)
        return [out, mean, rstd, dx, dw, db]
      }
      // The forward pass against double precision.
      for r in 0..<rows {
        let row = x[(r * width)..<((r + 1) * width)].map(Double.init)
        let m = row.reduce(0, +) / Double(width)
        let variance = row.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(width)
        let s = 1 / (variance + Double(LayerNorm.epsilon)).squareRoot()
        for i in 0..<width {
          let exact = (row[i] - m) * s * Double(weight[i]) + Double(bias[i])
          #expect(abs(Double(out[r * width + i]) - exact) < 1e-4, "layer norm row \(r) column \(i)")
        }
      }
    }
  }

  @Test func rotationMatchesTheReferenceOnEveryPath() {
    var random = TestRandom(seed: 15)
    for half in [1, 4, 8, 16, 32, 33] {
      let x = random.floats(2 * half)
      let angles = (0..<half).map { _ in Float(random.unit() * 6.28) }
      let cs = angles.map { Float(cos(Double($0))) }
      let sn = angles.map { Float(sin(Double($0))) }
      var forward = x
      var inverse = x
      KernelReference.rotate(&forward, cos: cs, sin: sn, half: half, inverse: false)
      KernelReference.rotate(&inverse, cos: cs, sin: sn, half: half, inverse: true)
      Self.expectEveryPath("rotate", width: half, reference: [forward, inverse]) {
        var forward = x
        var inverse = x
        RotaryTable.rotate(&forward, cos: cs, sin: sn, half: half, inverse: false)
        RotaryTable.rotate(&inverse, cos: cs, sin: sn, half: half, inverse: true)
        return [forward, inverse]
      }
      var back = forward
      RotaryTable.rotate(&back, cos: cs, sin: sn, half: half, inverse: true)
      for i in 0..<(2 * half) { #expect(abs(back[i] - x[i]) < 1e-5) }
    }
  }

  @Test func inferenceKernelsMatchTheReferenceOnEveryPath() {
    var random = TestRandom(seed: 16)
    for n in Self.widths {
      let x = random.floats(n, scale: 3)
      let weight = random.floats(n, scale: 0.5, offset: 1)
      let bias = random.floats(n, scale: 0.1)
      var gelu = x
      KernelReference.inferenceGelu(&gelu, count: n)
      let valid = max(1, n - 2)
      var softmax = x
      KernelReference.inferenceSoftmax(&softmax, valid: valid)
      var norm = [Float](repeating: 0, count: n)
      KernelReference.inferenceLayerNorm(
        out: &norm, x: x, weight: weight, bias: bias, width: n, epsilon: LayerNorm.epsilon)
      Self.expectEveryPath("inference kernels", width: n, reference: [gelu, softmax, norm]) {
        var gelu = x
        InferenceMath.gelu(&gelu, count: n)
        var softmax = x
        InferenceMath.softmax(&softmax, valid: valid)
        var norm = [Float](repeating: 0, count: n)
        InferenceMath.layerNorm(
          out: &norm, x: x, weight: weight, bias: bias, width: n, epsilon: LayerNorm.epsilon)
        return [gelu, softmax, norm]
      }
      let top = x[..<valid].map(Double.init).max()!
      let sum = x[..<valid].reduce(0.0) { $0 + exp(Double($1) - top) }
      for i in 0..<n {
        let v = Double(x[i])
        let exact = 0.5 * v * (1 + tanh(0.797_884_560_802_865_4 * (v + 0.044715 * v * v * v)))
        #expect(abs(Double(gelu[i]) - exact) <= 1e-6 * max(1, abs(exact)))
        if i < valid { #expect(abs(Double(softmax[i]) - exp(v - top) / sum) < 1e-6) }
        if i >= valid { #expect(softmax[i] == x[i]) }
      }
    }
  }
}
