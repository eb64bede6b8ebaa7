import HindcastKernels

/// Activation and gradient buffers of forward and backward passes, sized by capacity and reused
/// by every call that fits. A call runs on `shape`: its sequences packed back to back into N rows
/// (no padding), C = width, H = hidden width, V = vocab, L = layers, A = heads. Only the first N
/// rows (and `shape.probCount` probabilities) of each buffer are meaningful.
final class Activations {
  /// Rows every row buffer holds.
  let rowCapacity: Int
  /// Floats every probability buffer holds.
  let probCapacity: Int
  /// Longest sequence the backward scratch holds.
  let lengthCapacity: Int

  /// The sequences of the current call.
  var shape: Attention.Shape
  var rows: Int { shape.rows }

  // Forward (kept for the backward pass).
  var tokens: [Int32]  // (N)
  /// Position of each row inside its sequence. (N)
  var positions: [Int32]
  /// The attention query block of the forward pass (`Attention.Shape.queryBlock`), reused by the
  /// backward pass.
  var queryBlock = Attention.Shape.defaultQueryBlock
  let residual: [FloatBuffer]  // L+1 x (N, C): input of each block, and the final stream
  let ln1: [FloatBuffer]  // L x (N, C)
  let ln1Mean: [FloatBuffer], ln1Rstd: [FloatBuffer]  // L x (N)
  let qkv: [FloatBuffer]  // L x (N, 3C), queries and keys rotated when the model uses RoPE
  let probs: [FloatBuffer]  // L x probCount (see `Attention.Shape`)
  let attnOut: [FloatBuffer]  // L x (N, C)
  let residualMid: [FloatBuffer]  // L x (N, C): stream after attention
  let ln2: [FloatBuffer]  // L x (N, C)
  let ln2Mean: [FloatBuffer], ln2Rstd: [FloatBuffer]  // L x (N)
  let fcPre: [FloatBuffer]  // L x (N, H)
  let fcAct: [FloatBuffer]  // L x (N, H)
  let lnf: FloatBuffer  // (N, C)
  let lnfMean: FloatBuffer, lnfRstd: FloatBuffer  // (N)
  let logits: FloatBuffer  // (N, V)

  // Backward scratch.
  let dlogits: FloatBuffer  // (N, V): written by the loss
  let dresidual: FloatBuffer  // (N, C)
  let dnorm: FloatBuffer  // (N, C)
  let dqkv: FloatBuffer  // (N, 3C)
  let dattn: FloatBuffer  // (N, C)
  let dfcAct: FloatBuffer  // (N, H)
  let dfcPre: FloatBuffer  // (N, H)
  let dscores: FloatBuffer  // (T_max, T_max)

  /// Buffers for calls of up to `rows` rows, `probs` probabilities and sequences of `length`.
  init(config: ModelConfig, rows n: Int, probs: Int, length: Int) {
    rowCapacity = n
    probCapacity = probs
    lengthCapacity = length
    shape = Attention.Shape(lengths: [], width: config.width, heads: config.heads)
    tokens = []
    positions = []
    let (c, h, l) = (config.width, config.hiddenWidth, config.layers)
    func many(_ count: Int) -> [FloatBuffer] { (0..<l).map { _ in FloatBuffer(count: count) } }
    residual = (0...l).map { _ in FloatBuffer(count: n * c) }
    ln1 = many(n * c)
    ln1Mean = many(n)
    ln1Rstd = many(n)
    qkv = many(n * 3 * c)
    self.probs = many(probs)
    attnOut = many(n * c)
    residualMid = many(n * c)
    ln2 = many(n * c)
    ln2Mean = many(n)
    ln2Rstd = many(n)
    fcPre = many(n * h)
    fcAct = many(n * h)
    lnf = FloatBuffer(count: n * c)
    lnfMean = FloatBuffer(count: n)
    lnfRstd = FloatBuffer(count: n)
    logits = FloatBuffer(count: n * config.vocabSize)
    dlogits = FloatBuffer(count: n * config.vocabSize)
    dresidual = FloatBuffer(count: n * c)
    dnorm = FloatBuffer(count: n * c)
    dqkv = FloatBuffer(count: n * 3 * c)
    dattn = FloatBuffer(count: n * c)
    dfcAct = FloatBuffer(count: n * h)
    dfcPre = FloatBuffer(count: n * h)
    dscores = FloatBuffer(count: length * length)
  }

  /// Whether a call of `shape` fits the buffers.
  func fits(_ shape: Attention.Shape) -> Bool {
    shape.rows <= rowCapacity && shape.probCount <= probCapacity && shape.maxLength <= lengthCapacity
  }

  /// The buffers to use for a call of `shape`: `existing` when it fits, else new ones with room
  /// for at least the larger of the two (so alternating shapes settle on one allocation). The
  /// returned buffers' `shape` is set. Capacities never influence results.
  static func reuse(_ existing: Activations?, config: ModelConfig, for shape: Attention.Shape) -> Activations
  {
    let act: Activations
    if let existing, existing.fits(shape) {
      act = existing
    } else {
      act = Activations(
        config: config, rows: max(shape.rows, existing?.rowCapacity ?? 0),
        probs: max(shape.probCount, existing?.probCapacity ?? 0),
        length: max(shape.maxLength, existing?.lengthCapacity ?? 0))
    }
    act.shape = shape
    return act
  }
}
