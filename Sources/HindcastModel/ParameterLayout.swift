/// Where every named weight tensor lives inside the one flat parameter buffer.
///
/// All tensors are row-major float32. Linear weights use the PyTorch orientation `(out, in)`, so a
/// layer computes `y = x W^T + b`. Names follow the safetensors checkpoint and PyTorch's script in
/// `benchmarks/`:
///
///     wte                      (V, C)     token embedding, tied with the output projection
///     wpe                      (T, C)     learned position embedding (only with
///                                         `PositionEncoding.learned`)
///     h.{l}.ln1.weight/bias    (C)
///     h.{l}.attn.qkv.weight    (3C, C)    rows 0..<C query, C..<2C key, 2C..<3C value
///     h.{l}.attn.qkv.bias      (3C)
///     h.{l}.attn.proj.weight   (C, C)
///     h.{l}.attn.proj.bias     (C)
///     h.{l}.ln2.weight/bias    (C)
///     h.{l}.mlp.fc.weight      (H, C)     H = mlpMultiplier * C
///     h.{l}.mlp.fc.bias        (H)
///     h.{l}.mlp.proj.weight    (C, H)
///     h.{l}.mlp.proj.bias      (C)
///     lnf.weight/bias          (C)
///
/// The gradient buffer and the optimizer moments use the same layout.
public struct ParameterLayout: Sendable {
  /// One named tensor: its shape and its offset (in floats) into the flat buffer.
  public struct Entry: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// LayerNorm gains, biases and embeddings of positions are not decayed by AdamW.
    public var isDecayed: Bool { shape.count == 2 && name != "wpe" }
  }

  /// Per-layer offsets, resolved once so the hot loop does no dictionary lookups.
  public struct Block: Sendable {
    public let ln1Weight, ln1Bias, qkvWeight, qkvBias, projWeight, projBias: Int
    public let ln2Weight, ln2Bias, fcWeight, fcBias, fcProjWeight, fcProjBias: Int
  }

  public let entries: [Entry]
  public let totalCount: Int
  public let wte: Int
  /// Offset of the learned position embedding; nil with rotary position embeddings.
  public let wpe: Int?
  public let blocks: [Block]
  public let lnfWeight: Int
  public let lnfBias: Int

  public init(config: ModelConfig) {
    let c = config.width
    let h = config.hiddenWidth
    var entries: [Entry] = []
    var offset = 0
    func add(_ name: String, _ shape: [Int]) -> Int {
      let entry = Entry(name: name, shape: shape, offset: offset)
      entries.append(entry)
      offset += entry.count
      return entry.offset
    }
    wte = add("wte", [config.vocabSize, c])
    wpe = config.positionEncoding == .learned ? add("wpe", [config.contextLength, c]) : nil
    var blocks: [Block] = []
    for l in 0..<config.layers {
      let p = "h.\(l)."
      blocks.append(
        Block(
          ln1Weight: add(p + "ln1.weight", [c]), ln1Bias: add(p + "ln1.bias", [c]),
          qkvWeight: add(p + "attn.qkv.weight", [3 * c, c]), qkvBias: add(p + "attn.qkv.bias", [3 * c]),
          projWeight: add(p + "attn.proj.weight", [c, c]), projBias: add(p + "attn.proj.bias", [c]),
          ln2Weight: add(p + "ln2.weight", [c]), ln2Bias: add(p + "ln2.bias", [c]),
          fcWeight: add(p + "mlp.fc.weight", [h, c]), fcBias: add(p + "mlp.fc.bias", [h]),
          fcProjWeight: add(p + "mlp.proj.weight", [c, h]), fcProjBias: add(p + "mlp.proj.bias", [c])))
    }
    self.blocks = blocks
    lnfWeight = add("lnf.weight", [c])
    lnfBias = add("lnf.bias", [c])
    self.entries = entries
    totalCount = offset
  }

  /// The entry with the given name, or nil.
  public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }
}
