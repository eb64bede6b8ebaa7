import HindcastKernels

/// Activation and gradient buffers for one batch shape `(B, T)`, allocated once and reused by
/// every step of that shape. Shapes use N = B*T rows, C = width, H = hidden width, V = vocab,
/// L = layers, A = heads.
final class Activations {
  let batch: Int
  let length: Int
  var rows: Int { batch * length }

  // Forward (kept for the backward pass).
  var tokens: [Int32]  // (N)
  /// The attention query block of the forward pass (`Attention.Shape.queryBlock`), reused by the
  /// backward pass.
  var queryBlock = Attention.Shape.defaultQueryBlock
  let residual: [FloatBuffer]  // L+1 x (N, C): input of each block, and the final stream
  let ln1: [FloatBuffer]  // L x (N, C)
  let ln1Mean: [FloatBuffer], ln1Rstd: [FloatBuffer]  // L x (N)
  let qkv: [FloatBuffer]  // L x (N, 3C)
  let probs: [FloatBuffer]  // L x (B, A, T, T)
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
  let dscores: FloatBuffer  // (T, T)

  init(config: ModelConfig, batch: Int, length: Int) {
    self.batch = batch
    self.length = length
    let n = batch * length
    tokens = [Int32](repeating: 0, count: n)
    let (c, h, l) = (config.width, config.hiddenWidth, config.layers)
    func many(_ count: Int) -> [FloatBuffer] { (0..<l).map { _ in FloatBuffer(count: count) } }
    residual = (0...l).map { _ in FloatBuffer(count: n * c) }
    ln1 = many(n * c)
    ln1Mean = many(n)
    ln1Rstd = many(n)
    qkv = many(n * 3 * c)
    probs = many(batch * config.heads * length * length)
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
}
