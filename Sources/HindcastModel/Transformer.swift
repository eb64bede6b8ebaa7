import HindcastKernels
import HindcastSupport

/// The embedded decoder-only transformer: token embeddings (plus learned position embeddings, or
/// rotary position embeddings on queries and keys, per `ModelConfig.positionEncoding`),
/// pre-LayerNorm blocks of causal multi-head attention and a GELU MLP, a final LayerNorm and an
/// output projection tied to the token embedding. Forward and backward passes are hand-written over the flat parameter
/// buffer described by `ParameterLayout`; every matrix product goes through `cblas_sgemm`.
///
/// Batches: sequences are packed back to back without padding (`forward(packed:lengths:)`), so a
/// batch costs what its tokens cost; attention runs per sequence.
///
/// Ownership and threading: a `Transformer` owns its parameters, gradients and activation
/// buffers and is not thread-safe. Activation buffers are sized by capacity and reused; a call
/// that needs more rows than any before it reallocates them. A training step
/// (`lossAndGradients`) may run on `trainingThreads` threads internally (see there).
public final class Transformer {
  public let config: ModelConfig
  public let layout: ParameterLayout
  /// All weights, laid out by `layout`. (P)
  public var parameters: [Float]
  /// Gradients of the loss with respect to `parameters`, accumulated by `backward`. (P)
  public var gradients: [Float]
  var activations: Activations?
  /// The rotation angles of rotary position embeddings; nil with learned positions.
  let rotary: RotaryTable?
  /// Threads a training step (`lossAndGradients(_:)`) runs on, at least 1. With T > 1 the batch
  /// is split into T fixed shards of consecutive sequences; each shard's forward and backward pass
  /// runs on its own thread with single-threaded BLAS, into its own activations and gradient
  /// buffer, and the shard gradients are then summed in shard order. Results are therefore
  /// bit-identical run to run for a fixed T (and equal to the T = 1 results up to float
  /// rounding). T = 1 is the plain unsharded step with however many BLAS threads are set.
  /// `forward`, `backward`, `evaluate` and scoring are not sharded.
  public var trainingThreads: Int = 1 {
    didSet { trainingThreads = max(1, trainingThreads) }
  }
  /// Per-shard workspaces of sharded training steps, created on first use.
  var trainingShards: [TrainingShard] = []
  /// The `GemmTimer`s of shards 1..<T of the most recent sharded step that ran inside a
  /// `GemmTimer` scope (shard 0 records into the scope's own timer); empty otherwise.
  public internal(set) var shardGemmTimers: [GemmTimer] = []

  /// A model with GPT-2 style initialization: weights ~ N(0, 0.02), residual projections scaled
  /// by 1/sqrt(2L), LayerNorm gains 1 and biases 0.
  public init(config: ModelConfig, seed: UInt64) throws {
    try config.validate()
    self.config = config
    layout = ParameterLayout(config: config)
    rotary = Self.rotaryTable(config)
    parameters = [Float](repeating: 0, count: layout.totalCount)
    gradients = [Float](repeating: 0, count: layout.totalCount)
    var rng = SeededRandom(seed: seed)
    let residualScale = 0.02 / Float(2 * config.layers).squareRoot()
    for entry in layout.entries {
      let isGain =
        entry.name.hasSuffix("ln1.weight") || entry.name.hasSuffix("ln2.weight")
        || entry.name == "lnf.weight"
      let isResidualProjection =
        entry.name.hasSuffix("attn.proj.weight") || entry.name.hasSuffix("mlp.proj.weight")
      for i in entry.offset..<(entry.offset + entry.count) {
        if isGain {
          parameters[i] = 1
        } else if entry.shape.count == 2 {
          parameters[i] = rng.nextGaussian() * (isResidualProjection ? residualScale : 0.02)
        }
      }
    }
  }

  /// A model with the given weights. Throws if the count does not match the config's layout.
  public init(config: ModelConfig, parameters: [Float]) throws {
    try config.validate()
    self.config = config
    layout = ParameterLayout(config: config)
    rotary = Self.rotaryTable(config)
    guard parameters.count == layout.totalCount else {
      throw HindcastError(
        .shapeMismatch, "expected \(layout.totalCount) parameters for this config, got \(parameters.count)")
    }
    self.parameters = parameters
    gradients = [Float](repeating: 0, count: layout.totalCount)
  }

  /// Sets every gradient to zero.
  public func zeroGradients() {
    gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
  }

  static func rotaryTable(_ config: ModelConfig) -> RotaryTable? {
    config.positionEncoding == .rope
      ? RotaryTable(positions: config.contextLength, headWidth: config.headWidth) : nil
  }

  /// The activation buffers for a call on `lengths`, with the shape and positions set.
  func activations(lengths: [Int]) -> Activations {
    let shape = Attention.Shape(lengths: lengths, width: config.width, heads: config.heads)
    let act = Activations.reuse(activations, config: config, for: shape)
    activations = act
    return act
  }

  /// Runs the model on `tokens (B, T)`, row-major, and calls `body` with the logits `(B, T, V)`.
  /// Ids must be in `0..<vocabSize` and `T <= contextLength`; every row is one sequence of T
  /// tokens (right padding is harmless under causal attention but costs its rows; prefer
  /// `forward(packed:lengths:)`). The logits stay valid until the next call and are the input of
  /// `backward`.
  public func forward<R>(
    tokens: [Int32], batch: Int, length: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R
  ) throws -> R {
    try checkTokens(tokens, batch: batch, length: length)
    return try forward(packed: tokens, lengths: [Int](repeating: length, count: batch), checked: true, body)
  }

  /// Runs the model on sequences packed back to back: sequence b is `lengths[b]` tokens of
  /// `tokens`, starting after the previous ones, and attends only to itself (positions restart at
  /// 0). Calls `body` with the logits `(sum of lengths, V)` in the same row order. Every length
  /// must be in `1...contextLength` and sum to `tokens.count`.
  public func forward<R>(
    packed tokens: [Int32], lengths: [Int], _ body: (UnsafeBufferPointer<Float>) throws -> R
  ) throws -> R {
    try forward(packed: tokens, lengths: lengths, checked: false, body)
  }

  func forward<R>(
    packed tokens: [Int32], lengths: [Int], checked: Bool, _ body: (UnsafeBufferPointer<Float>) throws -> R
  ) throws -> R {
    if !checked { try checkPacked(tokens, lengths: lengths) }
    let act = activations(lengths: lengths)
    parameters.withUnsafeBufferPointer { p in
      runForward(p.baseAddress!, tokens: tokens, act: act)
    }
    return try body(UnsafeBufferPointer(start: act.logits.pointer, count: act.rows * config.vocabSize))
  }

  /// Backpropagates `dlogits (N, V)` — written by `body` into the zeroed buffer it receives, rows
  /// as the logits of the most recent `forward` — through that forward pass, accumulating into
  /// `gradients`.
  public func backward(_ body: (UnsafeMutableBufferPointer<Float>) throws -> Void) throws {
    guard let act = activations else {
      throw HindcastError(.internalInvariant, "backward called before forward")
    }
    let dlogits = UnsafeMutableBufferPointer(start: act.dlogits.pointer, count: act.rows * config.vocabSize)
    dlogits.update(repeating: 0)
    try body(dlogits)
    parameters.withUnsafeBufferPointer { p in
      gradients.withUnsafeMutableBufferPointer { g in
        runBackward(p.baseAddress!, g.baseAddress!, act: act)
      }
    }
  }

  func checkTokens(_ tokens: [Int32], batch: Int, length: Int) throws {
    guard batch > 0, length > 0, tokens.count == batch * length else {
      throw HindcastError(
        .invalidInput, "token buffer has \(tokens.count) ids, expected batch \(batch) x length \(length)")
    }
    guard length <= config.contextLength else {
      throw HindcastError(
        .invalidInput, "sequence length \(length) exceeds the model's context of \(config.contextLength)",
        hint: "shorten the input or use a model with a longer context_length")
    }
    try checkIds(tokens)
  }

  func checkPacked(_ tokens: [Int32], lengths: [Int]) throws {
    guard !lengths.isEmpty else { throw HindcastError(.invalidInput, "no sequences to run") }
    var total = 0
    for (b, length) in lengths.enumerated() {
      guard length >= 1 else { throw HindcastError(.invalidInput, "sequence \(b) has no tokens") }
      guard length <= config.contextLength else {
        throw HindcastError(
          .invalidInput,
          "sequence \(b) has \(length) tokens; the model's context is \(config.contextLength)",
          hint: "shorten the input or use a model with a longer context_length")
      }
      total += length
    }
    guard total == tokens.count else {
      throw HindcastError(
        .invalidInput, "token buffer has \(tokens.count) ids but the sequence lengths sum to \(total)")
    }
    try checkIds(tokens)
  }

  func checkIds(_ tokens: [Int32]) throws {
    if let bad = tokens.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
      throw HindcastError(.invalidInput, "token id \(bad) is outside the vocabulary 0..<\(config.vocabSize)")
    }
  }

  /// The forward pass over `act.shape` (set by the caller, with buffers that fit it).
  func runForward(_ p: UnsafePointer<Float>, tokens: [Int32], act: Activations) {
    let (c, h, v) = (config.width, config.hiddenWidth, config.vocabSize)
    let n = act.rows
    act.tokens = tokens
    act.positions = Self.positions(act.shape)
    // Embedding: residual[0] (N, C) = wte[token] (+ wpe[position] with learned positions)
    let x0 = act.residual[0].pointer
    for row in 0..<n {
      let token = Int(tokens[row])
      let out = x0 + row * c
      let te = p + layout.wte + token * c
      if let wpe = layout.wpe {
        let pe = p + wpe + Int(act.positions[row]) * c
        for i in 0..<c { out[i] = te[i] + pe[i] }
      } else {
        out.update(from: te, count: c)
      }
    }
    act.queryBlock = Attention.Shape.queryBlock(blasThreads: BLASThreads.current)
    let shape = Attention.Shape(
      lengths: act.shape.lengths, width: c, heads: config.heads, queryBlock: act.queryBlock)
    for (l, w) in layout.blocks.enumerated() {
      let input = act.residual[l].pointer
      LayerNorm.forward(
        out: act.ln1[l].pointer, mean: act.ln1Mean[l].pointer, rstd: act.ln1Rstd[l].pointer, x: input,
        weight: p + w.ln1Weight, bias: p + w.ln1Bias, rows: n, width: c)
      Linear.forward(
        y: act.qkv[l].pointer, x: act.ln1[l].pointer, weight: p + w.qkvWeight, bias: p + w.qkvBias, rows: n,
        inputs: c, outputs: 3 * c)
      act.positions.withUnsafeBufferPointer { positions in
        rotary?.apply(
          qkv: act.qkv[l].pointer, rowStride: 3 * c, positions: positions.baseAddress!, rows: n, width: c,
          heads: config.heads)
      }
      Attention.forward(
        out: act.attnOut[l].pointer, probs: act.probs[l].pointer, qkv: act.qkv[l].pointer, shape: shape)
      let mid = act.residualMid[l].pointer
      Linear.forward(
        y: mid, x: act.attnOut[l].pointer, weight: p + w.projWeight, bias: p + w.projBias, rows: n, inputs: c,
        outputs: c, residual: input)
      LayerNorm.forward(
        out: act.ln2[l].pointer, mean: act.ln2Mean[l].pointer, rstd: act.ln2Rstd[l].pointer, x: mid,
        weight: p + w.ln2Weight, bias: p + w.ln2Bias, rows: n, width: c)
      Linear.forward(
        y: act.fcPre[l].pointer, x: act.ln2[l].pointer, weight: p + w.fcWeight, bias: p + w.fcBias, rows: n,
        inputs: c, outputs: h)
      GELU.forward(out: act.fcAct[l].pointer, x: act.fcPre[l].pointer, count: n * h)
      let next = act.residual[l + 1].pointer
      Linear.forward(
        y: next, x: act.fcAct[l].pointer, weight: p + w.fcProjWeight, bias: p + w.fcProjBias, rows: n,
        inputs: h, outputs: c, residual: mid)
    }
    LayerNorm.forward(
      out: act.lnf.pointer, mean: act.lnfMean.pointer, rstd: act.lnfRstd.pointer,
      x: act.residual[config.layers].pointer, weight: p + layout.lnfWeight, bias: p + layout.lnfBias, rows: n,
      width: c)
    // logits (N, V) = lnf (N, C) wte^T (C, V)
    Linear.forward(
      y: act.logits.pointer, x: act.lnf.pointer, weight: p + layout.wte, bias: nil, rows: n, inputs: c,
      outputs: v)
  }

  /// The position of every row inside its sequence.
  static func positions(_ shape: Attention.Shape) -> [Int32] {
    var positions = [Int32](repeating: 0, count: shape.rows)
    for (b, length) in shape.lengths.enumerated() {
      let first = shape.rowOffsets[b]
      for i in 0..<length { positions[first + i] = Int32(i) }
    }
    return positions
  }

  func runBackward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, act: Activations) {
    let (c, h, v) = (config.width, config.hiddenWidth, config.vocabSize)
    let n = act.rows
    let dres = act.dresidual.pointer
    // Output projection (tied): dlnf = dlogits wte; dwte += dlogits^T lnf
    Linear.backward(
      dx: act.dnorm.pointer, dweight: g + layout.wte, dbias: nil, dy: act.dlogits.pointer, x: act.lnf.pointer,
      weight: p + layout.wte, rows: n, inputs: c, outputs: v)
    dres.update(repeating: 0, count: n * c)
    LayerNorm.backward(
      dx: dres, dweight: g + layout.lnfWeight, dbias: g + layout.lnfBias, dout: act.dnorm.pointer,
      x: act.residual[config.layers].pointer, weight: p + layout.lnfWeight, mean: act.lnfMean.pointer,
      rstd: act.lnfRstd.pointer, rows: n, width: c)
    let shape = Attention.Shape(
      lengths: act.shape.lengths, width: c, heads: config.heads, queryBlock: act.queryBlock)
    for l in stride(from: config.layers - 1, through: 0, by: -1) {
      let w = layout.blocks[l]
      // dres holds d(residual[l+1]); the MLP branch and the skip both receive it.
      Linear.backward(
        dx: act.dfcAct.pointer, dweight: g + w.fcProjWeight, dbias: g + w.fcProjBias, dy: dres,
        x: act.fcAct[l].pointer, weight: p + w.fcProjWeight, rows: n, inputs: h, outputs: c)
      GELU.backward(
        dx: act.dfcPre.pointer, x: act.fcPre[l].pointer, dout: act.dfcAct.pointer, count: n * h,
        accumulate: false)
      Linear.backward(
        dx: act.dnorm.pointer, dweight: g + w.fcWeight, dbias: g + w.fcBias, dy: act.dfcPre.pointer,
        x: act.ln2[l].pointer, weight: p + w.fcWeight, rows: n, inputs: c, outputs: h)
      LayerNorm.backward(
        dx: dres, dweight: g + w.ln2Weight, dbias: g + w.ln2Bias, dout: act.dnorm.pointer,
        x: act.residualMid[l].pointer, weight: p + w.ln2Weight, mean: act.ln2Mean[l].pointer,
        rstd: act.ln2Rstd[l].pointer, rows: n, width: c)
      // dres now holds d(residualMid[l]); the attention branch and the skip both receive it.
      Linear.backward(
        dx: act.dattn.pointer, dweight: g + w.projWeight, dbias: g + w.projBias, dy: dres,
        x: act.attnOut[l].pointer, weight: p + w.projWeight, rows: n, inputs: c, outputs: c)
      Attention.backward(
        dqkv: act.dqkv.pointer, dout: act.dattn.pointer, qkv: act.qkv[l].pointer, probs: act.probs[l].pointer,
        scratch: act.dscores.pointer, shape: shape)
      // The attention saw rotated queries and keys: rotate their gradients back.
      act.positions.withUnsafeBufferPointer { positions in
        rotary?.apply(
          qkv: act.dqkv.pointer, rowStride: 3 * c, positions: positions.baseAddress!, rows: n, width: c,
          heads: config.heads, inverse: true)
      }
      Linear.backward(
        dx: act.dnorm.pointer, dweight: g + w.qkvWeight, dbias: g + w.qkvBias, dy: act.dqkv.pointer,
        x: act.ln1[l].pointer, weight: p + w.qkvWeight, rows: n, inputs: c, outputs: 3 * c)
      LayerNorm.backward(
        dx: dres, dweight: g + w.ln1Weight, dbias: g + w.ln1Bias, dout: act.dnorm.pointer,
        x: act.residual[l].pointer, weight: p + w.ln1Weight, mean: act.ln1Mean[l].pointer,
        rstd: act.ln1Rstd[l].pointer, rows: n, width: c)
    }
    // Embeddings: dres holds d(residual[0]).
    for row in 0..<n {
      let token = Int(act.tokens[row])
      let dte = g + layout.wte + token * c
      let d = dres + row * c
      for i in 0..<c { dte[i] += d[i] }
      if let wpe = layout.wpe {
        let dpe = g + wpe + Int(act.positions[row]) * c
        for i in 0..<c { dpe[i] += d[i] }
      }
    }
  }

}

extension Transformer {
  /// Every matrix product one training step (`forward` then `backward`) on a `(batch, length)`
  /// batch issues, with the model's shapes and strides and how often each runs. It mirrors
  /// `runForward`, `runBackward`, `Linear` and `Attention`; `hindcast bench` replays it to measure
  /// a step's GEMM time and reports each shape's throughput. Keep it in step with those functions.
  /// `queryBlock` is the attention query block; by default the one a step uses at the current
  /// BLAS thread count (`Attention.Shape.queryBlock(blasThreads:)`).
  public static func trainingGemmPlan(
    config: ModelConfig, batch: Int, length: Int, queryBlock: Int? = nil
  ) -> [GemmBenchmark.Shape] {
    let (n, t, c, h, v, d) = (
      batch * length, length, config.width, config.hiddenWidth, config.vocabSize, config.headWidth
    )
    let l = config.layers
    let heads = batch * config.heads * l
    typealias S = GemmBenchmark.Shape
    // Linear forward y = x W^T (+ bias, so beta 1 when there is one); backward dx = dy W, dW += dy^T x.
    func linear(_ name: String, inputs: Int, outputs: Int, bias: Bool, calls: Int) -> [S] {
      [
        S(
          name: name + " forward", .normal, .transposed, m: n, n: outputs, k: inputs, beta: bias ? 1 : 0,
          callsPerStep: calls),
        S(name: name + " dx", .normal, .normal, m: n, n: inputs, k: outputs, callsPerStep: calls),
        S(
          name: name + " dW", .transposed, .normal, m: outputs, n: inputs, k: n, beta: 1, callsPerStep: calls),
      ]
    }
    var plan: [S] = []
    plan += linear("attn.qkv", inputs: c, outputs: 3 * c, bias: true, calls: l)
    // Attention, per head and causal query block (see `Attention.Shape.blocks`).
    let block = queryBlock ?? Attention.Shape.queryBlock(blasThreads: BLASThreads.current)
    let blocks = Attention.Shape(batch: batch, length: t, width: c, heads: config.heads, queryBlock: block)
      .blocks
    for (first, rows, keys) in blocks {
      let tag = blocks.count == 1 ? "" : " q\(first)..<\(keys)"
      plan += [
        S(
          name: "attn scores QK^T" + tag, .normal, .transposed, m: rows, n: keys, k: d, lda: 3 * c,
          ldb: 3 * c,
          ldc: t, callsPerStep: heads),
        S(
          name: "attn P V" + tag, .normal, .normal, m: rows, n: d, k: keys, lda: t, ldb: 3 * c, ldc: c,
          callsPerStep: heads),
        S(
          name: "attn dP = dY V^T" + tag, .normal, .transposed, m: rows, n: keys, k: d, lda: c, ldb: 3 * c,
          ldc: t, callsPerStep: heads),
        S(
          name: "attn dV = P^T dY" + tag, .transposed, .normal, m: rows, n: d, k: t - first, lda: t, ldb: c,
          ldc: 3 * c, callsPerStep: heads),
        S(
          name: "attn dQ = dS K" + tag, .normal, .normal, m: rows, n: d, k: keys, lda: t, ldb: 3 * c,
          ldc: 3 * c, callsPerStep: heads),
        S(
          name: "attn dK = dS^T Q" + tag, .transposed, .normal, m: rows, n: d, k: t - first, lda: t,
          ldb: 3 * c, ldc: 3 * c, callsPerStep: heads),
      ]
    }
    plan += linear("attn.proj", inputs: c, outputs: c, bias: true, calls: l)
    plan += linear("mlp.fc", inputs: c, outputs: h, bias: true, calls: l)
    plan += linear("mlp.proj", inputs: h, outputs: c, bias: true, calls: l)
    plan += linear("logits", inputs: c, outputs: v, bias: false, calls: 1)
    return plan
  }
}
