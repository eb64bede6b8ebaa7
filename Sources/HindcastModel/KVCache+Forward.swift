import HindcastKernels

/// The incremental forward pass of `KVCache`: one planned call, split into `parts` fixed pieces
/// per stage on `SpinPool.shared`.
extension KVCache {
  /// Runs the planned call: appends every segment's tokens to its slot and writes the logits of
  /// each segment's last token to `logits + segment * V`. `p` is the model's parameter buffer.
  /// With `parts > 1`, OpenBLAS must be single-threaded during the call
  /// (`BLASThreads.withSingleThreaded`).
  func run(_ p: UnsafePointer<Float>) {
    let n = plannedRows
    let segments = plannedSegments
    guard n > 0 else { return }
    let (c, h, v) = (config.width, config.hiddenWidth, config.vocabSize)
    // Embedding: stream (n, C) = wte[token] (+ wpe[position] with learned positions)
    for s in 0..<segments {
      let start = lengths[segmentSlot[s]]
      for i in 0..<segmentCount[s] {
        let row = segmentFirstRow[s] + i
        let out = stream.pointer + row * c
        let te = p + layout.wte + Int(rowTokens[row]) * c
        rowPositions[row] = Int32(start + i)
        if let wpe = layout.wpe {
          let pe = p + wpe + (start + i) * c
          for j in 0..<c { out[j] = te[j] + pe[j] }
        } else {
          out.update(from: te, count: c)
        }
      }
    }
    let (stream, normed, attended, qkv, hidden) = (
      self.stream.pointer, self.normed.pointer, self.attended.pointer, self.qkv.pointer, self.hidden.pointer
    )
    for (l, w) in layout.blocks.enumerated() {
      layerNorm(rows: n, weight: p + w.ln1Weight, bias: p + w.ln1Bias)
      if parts > 1 && n == segments {
        projectAndAttendOneTokenEach(layer: l, weight: p + w.qkvWeight, bias: p + w.qkvBias)
      } else {
        linear(
          y: qkv, x: normed, weight: p + w.qkvWeight, bias: p + w.qkvBias, rows: n, inputs: c, outputs: 3 * c,
          accumulate: false)
        rotary?.apply(
          qkv: qkv, rowStride: 3 * c, positions: rowPositions, rows: n, width: c, heads: config.heads)
        attend(layer: l, segments: segments)
      }
      linear(
        y: stream, x: attended, weight: p + w.projWeight, bias: p + w.projBias, rows: n, inputs: c,
        outputs: c,
        accumulate: true)
      layerNorm(rows: n, weight: p + w.ln2Weight, bias: p + w.ln2Bias)
      linear(
        y: hidden, x: normed, weight: p + w.fcWeight, bias: p + w.fcBias, rows: n, inputs: c, outputs: h,
        accumulate: false, gelu: true)
      linear(
        y: stream, x: hidden, weight: p + w.fcProjWeight, bias: p + w.fcProjBias, rows: n, inputs: h,
        outputs: c, accumulate: true)
    }
    // Final LayerNorm of each segment's last row into normed (segments, C), then the tied output
    // projection: logits (segments, V) = normed wte^T.
    for s in 0..<segments {
      let last = segmentFirstRow[s] + segmentCount[s] - 1
      InferenceKernels.layerNorm(
        out: normed + s * c, x: stream + last * c, weight: p + layout.lnfWeight, bias: p + layout.lnfBias,
        width: c, epsilon: LayerNorm.epsilon)
    }
    let logits = self.logits.pointer
    let wte = p + layout.wte
    pool.run(parts: parts) { part, _ in
      let (lo, hi) = Self.columns(part: part, of: parts, count: v)
      guard hi > lo else { return }
      if segments == 1 {
        Gemm.multiplyVector(
          .normal, rows: hi - lo, cols: c, a: wte + lo * c, lda: c, x: normed, y: logits + lo)
      } else {
        Self.multiplyByTransposed(
          rows: segments, x: normed, inputs: c, weight: wte, outputs: v, columns: lo..<hi, beta: 0, y: logits)
      }
    }
    for s in 0..<segments { lengths[segmentSlot[s]] += segmentCount[s] }
  }

  /// Columns `columns` of y (rows, outputs) = x (rows, inputs) W^T + beta y, W (outputs, inputs).
  /// For few rows the columns go in chunks small enough for OpenBLAS's small-matrix kernels
  /// (`M N K <= 10^6`, which skip packing the weights): at 32 rows that runs at ~100 GFLOP/s per
  /// core against ~70 for one call over all columns. The chunking depends only on the shapes.
  static func multiplyByTransposed(
    rows: Int, x: UnsafePointer<Float>, inputs: Int, weight: UnsafePointer<Float>, outputs: Int,
    columns: Range<Int>, beta: Float, y: UnsafeMutablePointer<Float>
  ) {
    var chunk = columns.count
    if rows <= 64 {
      if rows * 32 * inputs <= 1_000_000 {
        chunk = 32
      } else if rows * 16 * inputs <= 1_000_000 {
        chunk = 16
      }
    }
    var first = columns.lowerBound
    while first < columns.upperBound {
      let count = min(chunk, columns.upperBound - first)
      Gemm.multiply(
        .normal, .transposed, m: rows, n: count, k: inputs, a: x, lda: inputs, b: weight + first * inputs,
        ldb: inputs, beta: beta, c: y + first, ldc: outputs)
      first += count
    }
  }

  /// The half-open range of `count` columns (or rows) that `part` of `parts` handles: equal
  /// pieces with inner boundaries rounded down to a multiple of 16 (whole SIMD blocks for BLAS).
  @inline(__always)
  static func columns(part: Int, of parts: Int, count: Int) -> (Int, Int) {
    func boundary(_ i: Int) -> Int { i >= parts ? count : (count * i / parts) & ~15 }
    return (boundary(part), boundary(part + 1))
  }

  /// Stores the new keys and values of every segment in the cache, then computes
  /// attended (n, C) = per head softmax(q K^T / sqrt(D), causal) V over each slot's positions.
  /// One part per (segment, head), scores scratch per participant.
  private func attend(layer l: Int, segments: Int) {
    let a = config.heads
    let scratch = rowCapacity * capacity
    let scoresBase = scores.pointer
    pool.run(parts: parts > 1 ? segments * a : 1) { part, participant in
      for task in (parts > 1 ? part..<(part + 1) : 0..<(segments * a)) {
        attend(segment: task / a, head: task % a, layer: l, scores: scoresBase + participant * scratch)
      }
    }
  }

  /// For a call where every segment has one token (decoding): per head, the q, k and v columns of
  /// the QKV projection, then that head's attention for every segment; one part per head, so the
  /// projection and attention need one synchronization instead of two.
  private func projectAndAttendOneTokenEach(
    layer l: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>
  ) {
    let (c, a) = (config.width, config.heads)
    let d = c / a
    let n = plannedRows
    let (normed, qkv) = (UnsafePointer(self.normed.pointer), self.qkv.pointer)
    let scratch = rowCapacity * capacity
    let scoresBase = scores.pointer
    pool.run(parts: a) { head, participant in
      for block in 0..<3 {
        let first = block * c + head * d
        for r in 0..<n { (qkv + r * 3 * c + first).update(from: bias + first, count: d) }
        if n == 1 {
          Gemm.multiplyVector(
            .normal, rows: d, cols: c, a: weight + first * c, lda: c, x: normed, beta: 1, y: qkv + first)
        } else {
          Self.multiplyByTransposed(
            rows: n, x: normed, inputs: c, weight: weight, outputs: 3 * c, columns: first..<(first + d),
            beta: 1,
            y: qkv)
        }
      }
      if let rotary {
        // Queries and keys of this head only (columns head*D and C + head*D of each row).
        let half = d / 2
        rotary.cosines.withUnsafeBufferPointer { cs in
          rotary.sines.withUnsafeBufferPointer { sn in
            for r in 0..<n {
              let pos = Int(rowPositions[r]) * half
              for part in 0..<2 {
                RotaryTable.rotate(
                  qkv + r * 3 * c + part * c + head * d, cos: cs.baseAddress! + pos,
                  sin: sn.baseAddress! + pos,
                  half: half, inverse: false)
              }
            }
          }
        }
      }
      for s in 0..<n {
        attend(segment: s, head: head, layer: l, scores: scoresBase + participant * scratch)
      }
    }
  }

  /// Stores segment `s`'s new keys and values of `head` in the cache and writes its attention
  /// output rows. `scores` is scratch of `rowCapacity * capacity` floats.
  @inline(__always)
  private func attend(segment s: Int, head: Int, layer l: Int, scores sc: UnsafeMutablePointer<Float>) {
    let (c, a) = (config.width, config.heads)
    let d = c / a
    let scale = 1 / Float(d).squareRoot()
    let headStride = capacity * d
    let (keys, values, qkv, attended) = (
      self.keys, self.values, self.qkv.pointer, self.attended.pointer
    )
    let slot = segmentSlot[s]
    let start = lengths[slot]
    let count = segmentCount[s]
    let first = segmentFirstRow[s]
    let base = ((l * slotCount + slot) * a + head) * headStride
    for i in 0..<count {
      let source = UnsafePointer(qkv + (first + i) * 3 * c + head * d)
      let offset = base + (start + i) * d
      (keys + offset).update(from: source + c, count: d)
      (values + offset).update(from: source + 2 * c, count: d)
    }
    let total = start + count
    let k = UnsafePointer(keys + base)  // (total, D)
    let vv = UnsafePointer(values + base)  // (total, D)
    let q = UnsafePointer(qkv + first * 3 * c + head * d)  // (count, D), row stride 3C
    let out = attended + first * c + head * d  // (count, D), row stride C
    if count == 1 {
      Gemm.multiplyVector(.normal, rows: total, cols: d, alpha: scale, a: k, lda: d, x: q, y: sc)
      InferenceKernels.softmax(sc, valid: total)
      Gemm.multiplyVector(.transposed, rows: total, cols: d, a: vv, lda: d, x: sc, y: out)
    } else {
      // scores (count, total) = scale * Q K^T; row i sees positions 0...start+i.
      Gemm.multiply(
        .normal, .transposed, m: count, n: total, k: d, alpha: scale, a: q, lda: 3 * c, b: k, ldb: d,
        c: sc, ldc: total)
      for i in 0..<count {
        let row = sc + i * total
        InferenceKernels.softmax(row, valid: start + i + 1)
        (row + start + i + 1).update(repeating: 0, count: count - i - 1)
      }
      Gemm.multiply(
        .normal, .normal, m: count, n: d, k: total, a: sc, lda: total, b: vv, ldb: d, c: out, ldc: c)
    }
  }

  /// normed (rows, C) = LayerNorm(stream (rows, C)), rows split over the parts when there are
  /// enough of them.
  private func layerNorm(rows: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
    let c = config.width
    let (normed, stream) = (self.normed.pointer, self.stream.pointer)
    let pieces = rows >= 4 * parts ? parts : 1
    pool.run(parts: pieces) { part, _ in
      for r in (rows * part / pieces)..<(rows * (part + 1) / pieces) {
        InferenceKernels.layerNorm(
          out: normed + r * c, x: stream + r * c, weight: weight, bias: bias, width: c,
          epsilon: LayerNorm.epsilon)
      }
    }
  }

  /// y (rows, out) = x (rows, in) W^T + b, or y += x W^T + b when `accumulate`; then GELU in
  /// place when `gelu`. GEMV for one row. The output columns are split over the parts.
  private func linear(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, rows: Int, inputs: Int, outputs: Int, accumulate: Bool, gelu: Bool = false
  ) {
    pool.run(parts: parts) { part, _ in
      let (lo, hi) = Self.columns(part: part, of: parts, count: outputs)
      let width = hi - lo
      guard width > 0 else { return }
      for r in 0..<rows {
        let row = y + r * outputs + lo
        if accumulate {
          for o in 0..<width { row[o] += bias[lo + o] }
        } else {
          row.update(from: bias + lo, count: width)
        }
      }
      if rows == 1 {
        Gemm.multiplyVector(
          .normal, rows: width, cols: inputs, a: weight + lo * inputs, lda: inputs, x: x, beta: 1, y: y + lo)
      } else {
        Self.multiplyByTransposed(
          rows: rows, x: x, inputs: inputs, weight: weight, outputs: outputs, columns: lo..<hi, beta: 1, y: y)
      }
      if gelu {
        for r in 0..<rows { InferenceKernels.gelu(y + r * outputs + lo, count: width) }
      }
    }
  }
}
