import HindcastKernels
import HindcastSupport

/// Keys and values of every layer for a fixed number of sequence slots, and the incremental
/// forward pass that appends tokens to them.
///
/// A slot holds one sequence: its cached positions are `0..<length(ofSlot:)`. One call feeds a
/// batch of *segments* (for each participating slot, the next tokens of its sequence, starting at
/// its current length) packed into `rows` rows: the linear layers run as one GEMM over all rows
/// (GEMV when there is a single row), attention runs per segment against that slot's cached keys
/// and values. Prefill (many tokens per slot) and decoding (one token per slot) are the same call;
/// the logits are computed only for the last token of each segment. The result equals
/// `Transformer.forward` on the whole prefix up to float rounding.
///
/// Memory is allocated once in `init`: the cache `2 x (L, S, A, capacity, D)` floats and scratch
/// for `rowCapacity` rows; no call allocates. Not thread-safe; the model's parameters must not
/// change between the calls that fill one sequence.
public final class KVCache {
  /// One feed of `append`: tokens to append to a slot's sequence.
  public struct Feed: Sendable {
    public var slot: Int
    public var tokens: [Int32]
    public init(slot: Int, tokens: [Int32]) {
      self.slot = slot
      self.tokens = tokens
    }
  }

  public let config: ModelConfig
  /// Number of sequences the cache holds (S).
  public let slotCount: Int
  /// Positions per slot; at most the model's context length.
  public let capacity: Int
  /// Maximum rows (tokens over all slots) of one incremental forward call (R >= S).
  public let rowCapacity: Int
  let layout: ParameterLayout
  /// Positions per decode-attention GEMV: OpenBLAS threads a GEMV of 9216 or more elements,
  /// which for these small products costs more than it saves.
  let attentionBlockRows: Int

  let keys: FloatBuffer  // (L, S, A, capacity, D)
  let values: FloatBuffer  // (L, S, A, capacity, D)
  let lengths: UnsafeMutablePointer<Int>  // (S) cached positions per slot

  // Scratch of one call, R rows.
  let rowTokens: UnsafeMutablePointer<Int32>  // (R)
  let stream: FloatBuffer  // (R, C) residual stream
  let normed: FloatBuffer  // (R, C) LayerNorm output
  let attended: FloatBuffer  // (R, C) attention output before the projection
  let qkv: FloatBuffer  // (R, 3C)
  let hidden: FloatBuffer  // (R, H) MLP hidden activations
  let scores: FloatBuffer  // (R, capacity) attention scores of one head of one segment
  /// Logits of the last token of each segment of the latest call. (S, V)
  let logits: FloatBuffer

  // The plan of the next call: segments in row order.
  let segmentSlot: UnsafeMutablePointer<Int>  // (S)
  let segmentCount: UnsafeMutablePointer<Int>  // (S) rows of the segment
  let segmentFirstRow: UnsafeMutablePointer<Int>  // (S)
  let slotPlanned: UnsafeMutablePointer<Bool>  // (S)
  private(set) var plannedSegments = 0
  private(set) var plannedRows = 0

  /// Allocates a cache for `slots` sequences of up to `capacity` positions each.
  /// `rowCapacity` bounds the rows of one call (prefill is chunked to it); it is raised to
  /// `slots` if smaller.
  public convenience init(config: ModelConfig, slots: Int, capacity: Int, rowCapacity: Int = 512) throws {
    try self.init(
      config: config, slots: slots, capacity: capacity, rowCapacity: rowCapacity,
      attentionBlockRows: max(1, 8192 / max(1, config.headWidth)))
  }

  /// `attentionBlockRows` is exposed for tests, which use small blocks.
  init(config: ModelConfig, slots: Int, capacity: Int, rowCapacity: Int, attentionBlockRows: Int) throws {
    try config.validate()
    guard slots >= 1 else {
      throw HindcastError(.invalidInput, "a KV cache needs at least one slot; got \(slots)")
    }
    guard (1...config.contextLength).contains(capacity) else {
      throw HindcastError(
        .invalidInput,
        "KV cache capacity must be in 1...\(config.contextLength) (the context length); got \(capacity)")
    }
    guard rowCapacity >= 1 else {
      throw HindcastError(.invalidInput, "KV cache row capacity must be at least 1; got \(rowCapacity)")
    }
    self.config = config
    layout = ParameterLayout(config: config)
    self.attentionBlockRows = max(1, attentionBlockRows)
    slotCount = slots
    self.capacity = capacity
    self.rowCapacity = max(rowCapacity, slots)
    let (c, h, l, v) = (config.width, config.hiddenWidth, config.layers, config.vocabSize)
    let r = self.rowCapacity
    keys = FloatBuffer(count: l * slots * c * capacity)
    values = FloatBuffer(count: l * slots * c * capacity)
    lengths = .allocate(capacity: slots)
    lengths.initialize(repeating: 0, count: slots)
    rowTokens = .allocate(capacity: r)
    rowTokens.initialize(repeating: 0, count: r)
    stream = FloatBuffer(count: r * c)
    normed = FloatBuffer(count: r * c)
    attended = FloatBuffer(count: r * c)
    qkv = FloatBuffer(count: r * 3 * c)
    hidden = FloatBuffer(count: r * h)
    scores = FloatBuffer(count: r * capacity)
    logits = FloatBuffer(count: slots * v)
    segmentSlot = .allocate(capacity: slots)
    segmentSlot.initialize(repeating: 0, count: slots)
    segmentCount = .allocate(capacity: slots)
    segmentCount.initialize(repeating: 0, count: slots)
    segmentFirstRow = .allocate(capacity: slots)
    segmentFirstRow.initialize(repeating: 0, count: slots)
    slotPlanned = .allocate(capacity: slots)
    slotPlanned.initialize(repeating: false, count: slots)
  }

  deinit {
    lengths.deallocate()
    rowTokens.deallocate()
    segmentSlot.deallocate()
    segmentCount.deallocate()
    segmentFirstRow.deallocate()
    slotPlanned.deallocate()
  }

  /// Number of cached positions of `slot`.
  public func length(ofSlot slot: Int) -> Int { (0..<slotCount).contains(slot) ? lengths[slot] : 0 }

  /// Forgets the sequence in `slot` (its length becomes 0).
  public func reset(slot: Int) {
    if (0..<slotCount).contains(slot) { lengths[slot] = 0 }
  }

  /// Forgets every sequence.
  public func resetAll() { lengths.update(repeating: 0, count: slotCount) }

  /// Appends each feed's tokens to its slot and returns, per feed, the logits `(V)` after its last
  /// token. Feeds must name distinct slots, hold at least one token each, and fit the capacity.
  /// Chunks into calls of at most `rowCapacity` rows. Convenience (it allocates its result);
  /// the sampler uses the planned calls directly.
  public func append(model: Transformer, _ feeds: [Feed]) throws -> [[Float]] {
    try check(model: model)
    var seen = Set<Int>()
    for feed in feeds {
      guard (0..<slotCount).contains(feed.slot), seen.insert(feed.slot).inserted else {
        throw HindcastError(
          .invalidInput, "feed slot \(feed.slot) is out of range 0..<\(slotCount) or repeated")
      }
      guard !feed.tokens.isEmpty else {
        throw HindcastError(.invalidInput, "feed for slot \(feed.slot) has no tokens")
      }
      guard lengths[feed.slot] + feed.tokens.count <= capacity else {
        throw HindcastError(
          .invalidInput,
          "slot \(feed.slot) would hold \(lengths[feed.slot] + feed.tokens.count) positions; capacity is \(capacity)"
        )
      }
      if let bad = feed.tokens.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
        throw HindcastError(
          .invalidInput, "token id \(bad) is outside the vocabulary 0..<\(config.vocabSize)")
      }
    }
    let v = config.vocabSize
    var results = [[Float]](repeating: [], count: feeds.count)
    var offsets = [Int](repeating: 0, count: feeds.count)
    try model.parameters.withUnsafeBufferPointer { p in
      while offsets.indices.contains(where: { offsets[$0] < feeds[$0].tokens.count }) {
        beginPlan()
        var planned: [(feed: Int, completes: Bool)] = []
        for (i, feed) in feeds.enumerated() where offsets[i] < feed.tokens.count && plannedRows < rowCapacity
        {
          let count = min(feed.tokens.count - offsets[i], rowCapacity - plannedRows)
          try feed.tokens.withUnsafeBufferPointer { tokens in
            try plan(slot: feed.slot, tokens: tokens.baseAddress! + offsets[i], count: count)
          }
          offsets[i] += count
          planned.append((i, offsets[i] == feed.tokens.count))
        }
        run(p.baseAddress!)
        for (segment, entry) in planned.enumerated() where entry.completes {
          let row = UnsafeBufferPointer(start: logits.pointer + segment * v, count: v)
          results[entry.feed] = Array(row)
        }
      }
    }
    return results
  }

  func check(model: Transformer) throws {
    guard model.config == config else {
      throw HindcastError(.shapeMismatch, "the model's config does not match the KV cache's config")
    }
  }

  /// Starts planning the next call.
  func beginPlan() {
    for s in 0..<plannedSegments { slotPlanned[segmentSlot[s]] = false }
    plannedSegments = 0
    plannedRows = 0
  }

  /// Adds a segment: `count` tokens for `slot`, appended at its current length. Throws if the
  /// slot is already in the plan, the rows or the capacity would overflow; ids are not checked.
  func plan(slot: Int, tokens: UnsafePointer<Int32>, count: Int) throws {
    guard (0..<slotCount).contains(slot), !slotPlanned[slot], count >= 1,
      plannedRows + count <= rowCapacity, lengths[slot] + count <= capacity
    else {
      throw HindcastError(
        .internalInvariant,
        "bad KV cache plan: slot \(slot), \(count) rows after \(plannedRows) of \(rowCapacity)")
    }
    let s = plannedSegments
    segmentSlot[s] = slot
    segmentCount[s] = count
    segmentFirstRow[s] = plannedRows
    slotPlanned[slot] = true
    (rowTokens + plannedRows).update(from: tokens, count: count)
    plannedSegments += 1
    plannedRows += count
  }

  /// Runs the planned call: appends every segment's tokens to its slot and writes the logits of
  /// each segment's last token to `logits + segment * V`. `p` is the model's parameter buffer.
  func run(_ p: UnsafePointer<Float>) {
    let n = plannedRows
    let segments = plannedSegments
    guard n > 0 else { return }
    let (c, h, v) = (config.width, config.hiddenWidth, config.vocabSize)
    // Embedding: stream (n, C) = wte[token] + wpe[position]
    for s in 0..<segments {
      let start = lengths[segmentSlot[s]]
      for i in 0..<segmentCount[s] {
        let row = segmentFirstRow[s] + i
        let out = stream.pointer + row * c
        let te = p + layout.wte + Int(rowTokens[row]) * c
        let pe = p + layout.wpe + (start + i) * c
        for j in 0..<c { out[j] = te[j] + pe[j] }
      }
    }
    for (l, w) in layout.blocks.enumerated() {
      layerNorm(rows: n, weight: p + w.ln1Weight, bias: p + w.ln1Bias)
      Self.linear(
        y: qkv.pointer, x: normed.pointer, weight: p + w.qkvWeight, bias: p + w.qkvBias, rows: n, inputs: c,
        outputs: 3 * c, accumulate: false)
      attend(layer: l, segments: segments)
      Self.linear(
        y: stream.pointer, x: attended.pointer, weight: p + w.projWeight, bias: p + w.projBias, rows: n,
        inputs: c, outputs: c, accumulate: true)
      layerNorm(rows: n, weight: p + w.ln2Weight, bias: p + w.ln2Bias)
      Self.linear(
        y: hidden.pointer, x: normed.pointer, weight: p + w.fcWeight, bias: p + w.fcBias, rows: n, inputs: c,
        outputs: h, accumulate: false)
      InferenceKernels.gelu(hidden.pointer, count: n * h)
      Self.linear(
        y: stream.pointer, x: hidden.pointer, weight: p + w.fcProjWeight, bias: p + w.fcProjBias, rows: n,
        inputs: h, outputs: c, accumulate: true)
    }
    // Final LayerNorm of each segment's last row into normed (segments, C), then the tied output
    // projection: logits (segments, V) = normed wte^T.
    for s in 0..<segments {
      let last = segmentFirstRow[s] + segmentCount[s] - 1
      InferenceKernels.layerNorm(
        out: normed.pointer + s * c, x: stream.pointer + last * c, weight: p + layout.lnfWeight,
        bias: p + layout.lnfBias, width: c, epsilon: LayerNorm.epsilon)
    }
    if segments == 1 {
      Gemm.multiplyVector(
        .normal, rows: v, cols: c, a: p + layout.wte, lda: c, x: normed.pointer, y: logits.pointer)
    } else {
      Gemm.multiply(
        .normal, .transposed, m: segments, n: v, k: c, a: normed.pointer, lda: c, b: p + layout.wte, ldb: c,
        c: logits.pointer, ldc: v)
    }
    for s in 0..<segments { lengths[segmentSlot[s]] += segmentCount[s] }
  }

  /// Stores the new keys and values of every segment in the cache, then computes
  /// attended (n, C) = per head softmax(q K^T / sqrt(D), causal) V over each slot's positions.
  private func attend(layer l: Int, segments: Int) {
    let (c, a) = (config.width, config.heads)
    let d = c / a
    let scale = 1 / Float(d).squareRoot()
    let headStride = capacity * d
    let layerBase = l * slotCount * a * headStride
    for s in 0..<segments {
      let slot = segmentSlot[s]
      let start = lengths[slot]
      let count = segmentCount[s]
      let first = segmentFirstRow[s]
      let slotBase = layerBase + slot * a * headStride
      for i in 0..<count {
        let source = UnsafePointer(qkv.pointer + (first + i) * 3 * c)
        for head in 0..<a {
          let offset = slotBase + head * headStride + (start + i) * d
          (keys.pointer + offset).update(from: source + c + head * d, count: d)
          (values.pointer + offset).update(from: source + 2 * c + head * d, count: d)
        }
      }
      let total = start + count
      for head in 0..<a {
        let k = UnsafePointer(keys.pointer + slotBase + head * headStride)  // (total, D)
        let vv = UnsafePointer(values.pointer + slotBase + head * headStride)  // (total, D)
        let q = UnsafePointer(qkv.pointer + first * 3 * c + head * d)  // (count, D), row stride 3C
        let out = attended.pointer + first * c + head * d  // (count, D), row stride C
        let sc = scores.pointer
        if count == 1 {
          // GEMV in blocks of positions small enough that OpenBLAS runs them on the calling
          // thread: waking its workers costs more than these products.
          var first = 0
          while first < total {
            let rows = min(attentionBlockRows, total - first)
            Gemm.multiplyVector(
              .normal, rows: rows, cols: d, alpha: scale, a: k + first * d, lda: d, x: q, y: sc + first)
            first += rows
          }
          InferenceKernels.softmax(sc, valid: total)
          first = 0
          while first < total {
            let rows = min(attentionBlockRows, total - first)
            Gemm.multiplyVector(
              .transposed, rows: rows, cols: d, a: vv + first * d, lda: d, x: sc + first,
              beta: first == 0 ? 0 : 1,
              y: out)
            first += rows
          }
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
    }
  }

  /// normed (rows, C) = LayerNorm(stream (rows, C)).
  private func layerNorm(rows: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
    let c = config.width
    for r in 0..<rows {
      InferenceKernels.layerNorm(
        out: normed.pointer + r * c, x: stream.pointer + r * c, weight: weight, bias: bias, width: c,
        epsilon: LayerNorm.epsilon)
    }
  }

  /// y (rows, out) = x (rows, in) W^T + b, or y += x W^T + b when `accumulate`. GEMV for one row.
  @inline(__always)
  static func linear(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, rows: Int, inputs: Int, outputs: Int, accumulate: Bool
  ) {
    for r in 0..<rows {
      let row = y + r * outputs
      if accumulate {
        for o in 0..<outputs { row[o] += bias[o] }
      } else {
        row.update(from: bias, count: outputs)
      }
    }
    if rows == 1 {
      Gemm.multiplyVector(
        .normal, rows: outputs, cols: inputs, a: weight, lda: inputs, x: x, beta: 1, y: y)
    } else {
      Gemm.multiply(
        .normal, .transposed, m: rows, n: outputs, k: inputs, a: x, lda: inputs, b: weight, ldb: inputs,
        beta: 1, c: y, ldc: outputs)
    }
  }
}
