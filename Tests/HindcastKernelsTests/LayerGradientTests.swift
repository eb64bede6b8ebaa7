import HindcastKernels
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Per-layer checks: each float kernel's forward pass against a double reference written from
/// the definition, and its backward pass against central differences of that reference (of the
/// scalar `sum(dout * out)` for a random `dout`). Also the accumulate/overwrite contracts.
@Suite struct LayerGradientTests {
  // MARK: Linear

  static func linearReference(
    x: [Double], weight: [Double], bias: [Double]?, rows: Int, inputs: Int, outputs: Int
  )
    -> [Double]
  {
    var y = [Double](repeating: 0, count: rows * outputs)
    for r in 0..<rows {
      for o in 0..<outputs {
        var sum = bias?[o] ?? 0
        for i in 0..<inputs { sum += x[r * inputs + i] * weight[o * inputs + i] }
        y[r * outputs + o] = sum
      }
    }
    return y
  }

  @Test(arguments: [true, false])
  func linear(withBias: Bool) {
    var rng = TestRandom(seed: 1)
    let (rows, inputs, outputs) = (5, 7, 6)
    let x = rng.floats(rows * inputs)
    let weight = rng.floats(outputs * inputs, scale: 0.5)
    let bias = rng.floats(outputs)
    let dy = rng.floats(rows * outputs)
    var y = [Float](repeating: 0, count: rows * outputs)
    bias.withUnsafeBufferPointer { b in
      Linear.forward(
        y: &y, x: x, weight: weight, bias: withBias ? b.baseAddress : nil, rows: rows, inputs: inputs,
        outputs: outputs)
    }
    let xd = x.map(Double.init)
    let wd = weight.map(Double.init)
    let bd = withBias ? bias.map(Double.init) : nil
    let forward = mismatches(
      y, Self.linearReference(x: xd, weight: wd, bias: bd, rows: rows, inputs: inputs, outputs: outputs),
      absolute: 1e-6, relative: 1e-6)
    #expect(forward.indices.isEmpty, "forward: \(forward.summary)")

    // dx is overwritten by default and added to with accumulateInput; dW and db always accumulate.
    let start: Float = 0.25
    var dx = [Float](repeating: 777, count: rows * inputs)
    var dxAccumulated = [Float](repeating: start, count: rows * inputs)
    var dweight = [Float](repeating: start, count: outputs * inputs)
    var dbias = [Float](repeating: start, count: outputs)
    var unusedWeight = [Float](repeating: 0, count: outputs * inputs)
    dbias.withUnsafeMutableBufferPointer { db in
      Linear.backward(
        dx: &dx, dweight: &dweight, dbias: withBias ? db.baseAddress : nil, dy: dy, x: x, weight: weight,
        rows: rows, inputs: inputs, outputs: outputs)
    }
    Linear.backward(
      dx: &dxAccumulated, dweight: &unusedWeight, dbias: nil, dy: dy, x: x, weight: weight, rows: rows,
      inputs: inputs, outputs: outputs, accumulateInput: true)
    let numericX = numericGradient(at: xd) {
      dot(dy, Self.linearReference(x: $0, weight: wd, bias: bd, rows: rows, inputs: inputs, outputs: outputs))
    }
    let numericW = numericGradient(at: wd) {
      dot(dy, Self.linearReference(x: xd, weight: $0, bias: bd, rows: rows, inputs: inputs, outputs: outputs))
    }
    let checks: [(String, [Float], [Double])] = [
      ("dx", dx, numericX),
      ("dx accumulated", dxAccumulated.map { $0 - start }, numericX),
      ("dweight", dweight.map { $0 - start }, numericW),
      ("dweight without dx", unusedWeight, numericW),
    ]
    for (name, analytic, numeric) in checks {
      let result = mismatches(analytic, numeric, absolute: 1e-5, relative: 1e-4)
      #expect(result.indices.isEmpty, "\(name): \(result.summary)")
    }
    if withBias {
      let numericB = numericGradient(at: bias.map(Double.init)) {
        dot(
          dy, Self.linearReference(x: xd, weight: wd, bias: $0, rows: rows, inputs: inputs, outputs: outputs))
      }
      let result = mismatches(dbias.map { $0 - start }, numericB, absolute: 1e-5, relative: 1e-4)
      #expect(result.indices.isEmpty, "dbias: \(result.summary)")
    }
  }

  // MARK: LayerNorm

  static func layerNormReference(x: [Double], weight: [Double], bias: [Double], rows: Int, width: Int)
    -> [Double]
  {
    var out = [Double](repeating: 0, count: rows * width)
    for r in 0..<rows {
      let row = x[(r * width)..<((r + 1) * width)]
      let mean = row.reduce(0, +) / Double(width)
      let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
      let rstd = 1 / (variance + Double(LayerNorm.epsilon)).squareRoot()
      for i in 0..<width { out[r * width + i] = (x[r * width + i] - mean) * rstd * weight[i] + bias[i] }
    }
    return out
  }

  /// Rows at the residual stream's initial scale (0.02), at unit scale, and offset far from zero.
  @Test(arguments: [(Float(0.02), Float(0)), (1, 0), (0.5, 3)])
  func layerNorm(_ shape: (Float, Float)) {
    let (scale, offset) = shape
    var rng = TestRandom(seed: 2)
    let (rows, width) = (4, 12)
    let x = rng.floats(rows * width, scale: scale, offset: offset)
    let weight = rng.floats(width, scale: 0.3, offset: 1)
    let bias = rng.floats(width, scale: 0.1)
    let dout = rng.floats(rows * width)
    var out = [Float](repeating: 0, count: rows * width)
    var mean = [Float](repeating: 0, count: rows)
    var rstd = [Float](repeating: 0, count: rows)
    LayerNorm.forward(
      out: &out, mean: &mean, rstd: &rstd, x: x, weight: weight, bias: bias, rows: rows, width: width)
    let (xd, wd, bd) = (x.map(Double.init), weight.map(Double.init), bias.map(Double.init))
    let forward = mismatches(
      out, Self.layerNormReference(x: xd, weight: wd, bias: bd, rows: rows, width: width), absolute: 1e-5,
      relative: 1e-5)
    #expect(forward.indices.isEmpty, "forward: \(forward.summary)")

    let start: Float = -0.5
    var dx = [Float](repeating: start, count: rows * width)
    var dweight = [Float](repeating: start, count: width)
    var dbias = [Float](repeating: start, count: width)
    LayerNorm.backward(
      dx: &dx, dweight: &dweight, dbias: &dbias, dout: dout, x: x, weight: weight, mean: mean, rstd: rstd,
      rows: rows, width: width)
    let numeric: [(String, [Float], [Double])] = [
      (
        "dx", dx,
        numericGradient(at: xd) {
          dot(dout, Self.layerNormReference(x: $0, weight: wd, bias: bd, rows: rows, width: width))
        }
      ),
      (
        "dweight", dweight,
        numericGradient(at: wd) {
          dot(dout, Self.layerNormReference(x: xd, weight: $0, bias: bd, rows: rows, width: width))
        }
      ),
      (
        "dbias", dbias,
        numericGradient(at: bd) {
          dot(dout, Self.layerNormReference(x: xd, weight: wd, bias: $0, rows: rows, width: width))
        }
      ),
    ]
    for (name, analytic, expected) in numeric {
      let result = mismatches(analytic.map { $0 - start }, expected, absolute: 1e-4, relative: 1e-4)
      #expect(result.indices.isEmpty, "scale \(scale) offset \(offset) \(name): \(result.summary)")
    }
  }

  // MARK: GELU

  static func geluReference(_ x: Double) -> Double {
    0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
  }

  @Test func gelu() {
    var rng = TestRandom(seed: 3)
    let x = rng.floats(64, scale: 2.5) + [0, -10, 10, 1e-4, -3.2, 5.5]
    let dout = rng.floats(x.count)
    var out = [Float](repeating: 0, count: x.count)
    GELU.forward(out: &out, x: x, count: x.count)
    let forward = mismatches(out, x.map { Self.geluReference(Double($0)) }, absolute: 1e-6, relative: 1e-5)
    #expect(forward.indices.isEmpty, "forward: \(forward.summary)")
    let start: Float = 2
    var dx = [Float](repeating: start, count: x.count)
    GELU.backward(dx: &dx, x: x, dout: dout, count: x.count)
    let numeric = x.indices.map { i -> Double in
      let v = Double(x[i])
      let h = 1e-6
      return Double(dout[i]) * (Self.geluReference(v + h) - Self.geluReference(v - h)) / (2 * h)
    }
    let result = mismatches(dx.map { $0 - start }, numeric, absolute: 1e-6, relative: 1e-5)
    #expect(result.indices.isEmpty, "backward: \(result.summary)")
  }

  // MARK: Softmax

  @Test func softmaxRowsAndLogSoftmax() {
    var rng = TestRandom(seed: 4)
    let logits = rng.floats(20, scale: 4)
    for valid in [1, 7, 20] {
      var row = logits
      let lse = Softmax.inPlace(&row, valid: valid, count: row.count)
      let shift = logits.prefix(valid).map(Double.init).max() ?? 0
      let referenceLSE = shift + log(logits.prefix(valid).reduce(0.0) { $0 + exp(Double($1) - shift) })
      #expect(abs(Double(lse) - referenceLSE) < 1e-5)
      let expected = logits.indices.map { $0 < valid ? exp(Double(logits[$0]) - referenceLSE) : 0 }
      let result = mismatches(row, expected, absolute: 1e-7, relative: 1e-5)
      #expect(result.indices.isEmpty, "valid \(valid): \(result.summary)")
      #expect(row[valid...].allSatisfy { $0 == 0 })
    }
    var out = [Float](repeating: 0, count: logits.count)
    Softmax.logSoftmax(out: &out, logits: logits, count: logits.count)
    let shift = logits.map(Double.init).max() ?? 0
    let lse = shift + log(logits.reduce(0.0) { $0 + exp(Double($1) - shift) })
    let result = mismatches(out, logits.map { Double($0) - lse }, absolute: 1e-7, relative: 1e-6)
    #expect(result.indices.isEmpty, "log-softmax: \(result.summary)")
  }

  // MARK: The checks can fail

  /// A LayerNorm gradient missing the mean-of-normalized term (a classic mistake) is caught by
  /// the same comparison.
  @Test func aWrongLayerNormGradientIsCaught() {
    var rng = TestRandom(seed: 5)
    let (rows, width) = (2, 8)
    let x = rng.floats(rows * width)
    let weight = [Float](repeating: 1, count: width)
    let bias = [Float](repeating: 0, count: width)
    let dout = rng.floats(rows * width)
    let xd = x.map(Double.init)
    let numeric = numericGradient(at: xd) {
      dot(
        dout,
        Self.layerNormReference(
          x: $0, weight: weight.map(Double.init), bias: bias.map(Double.init), rows: rows, width: width))
    }
    // Gradient as if mean and variance were constants: dx = dout * weight * rstd.
    var naive = [Float](repeating: 0, count: rows * width)
    for r in 0..<rows {
      let row = xd[(r * width)..<((r + 1) * width)]
      let mean = row.reduce(0, +) / Double(width)
      let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
      let rstd = 1 / (variance + Double(LayerNorm.epsilon)).squareRoot()
      for i in 0..<width { naive[r * width + i] = Float(Double(dout[r * width + i]) * rstd) }
    }
    #expect(!mismatches(naive, numeric, absolute: 1e-4, relative: 1e-4).indices.isEmpty)
  }
}
