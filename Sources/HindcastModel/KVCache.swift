import HindcastKernels
import HindcastSupport

/// Keys and values of every layer for a fixed number of sequence slots, and the incremental
/// forward pass that appends tokens to them.
///
/// A slot holds one sequence: its cached positions are `0..<length(ofSlot:)`. One call feeds a
/// batch of *segments* (for each participating slot, the next tokens of its sequence, starting at
/// its current length) packed into `rows` rows: the linear layers run as one GEMM over all rows
/// (GEMV when there is a single row), attention runs per segment and head against that slot's
/// cached keys and values. Prefill (many tokens per slot) and decoding (one token per slot) are the same call;
/// the logits are computed only for the last token of each segment. The result equals
/// `Transformer.forward` on the whole prefix up to float rounding.
///
/// Memory is allocated once in `init`: the cache `2 x (L, S, A, capacity, D)` floats and scratch
/// for `rowCapacity` rows; no call allocates. Not thread-safe; the model's parameters must not
/// change between the calls that fill one sequence.
///
/// Parallelism: with `parts > 1` every stage of a call is split into `parts` fixed pieces (output
/// columns of each product, (segment, head) pairs of attention, rows of LayerNorm) that run on
/// `SpinPool.shared`, with OpenBLAS single-threaded meanwhile. The split depends only on `parts`,
/// so results are bit-identical run to run for a given `parts` (they may differ in the last bits
/// between different values of `parts`).
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
  /// Pieces every stage of a call is split into (see the type's documentation).
  public let parts: Int
  let pool: SpinPool

  // (L, S, A, capacity, D) each. Left uninitialized: a position is written before it is read, so
  // pages are touched as sequences grow (a full zero fill of 50 MB would cost ~10 ms per call).
  let keys: UnsafeMutablePointer<Float>
  let values: UnsafeMutablePointer<Float>
  let lengths: UnsafeMutablePointer<Int>  // (S) cached positions per slot

  // Scratch of one call, R rows.
  let rowTokens: UnsafeMutablePointer<Int32>  // (R)
  let rowPositions: UnsafeMutablePointer<Int32>  // (R) position of each row in its sequence
  /// Rotation angles with rotary position embeddings (keys are cached rotated); else nil.
  let rotary: RotaryTable?
  let stream: FloatBuffer  // (R, C) residual stream
  let normed: FloatBuffer  // (R, C) LayerNorm output
  let attended: FloatBuffer  // (R, C) attention output before the projection
  let qkv: FloatBuffer  // (R, 3C)
  let hidden: FloatBuffer  // (R, H) MLP hidden activations
  let scores: FloatBuffer  // (pool width, R, capacity) attention scores of one head of one segment
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
  /// `slots` if smaller. `parts` (at least 1) splits each call's work over `SpinPool.shared`.
  public init(config: ModelConfig, slots: Int, capacity: Int, rowCapacity: Int = 512, parts: Int = 1) throws {
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
    self.parts = max(1, parts)
    pool = SpinPool.shared
    slotCount = slots
    self.capacity = capacity
    self.rowCapacity = max(rowCapacity, slots)
    let (c, h, l, v) = (config.width, config.hiddenWidth, config.layers, config.vocabSize)
    let r = self.rowCapacity
    keys = .allocate(capacity: l * slots * c * capacity)
    values = .allocate(capacity: l * slots * c * capacity)
    lengths = .allocate(capacity: slots)
    lengths.initialize(repeating: 0, count: slots)
    rowTokens = .allocate(capacity: r)
    rowTokens.initialize(repeating: 0, count: r)
    rowPositions = .allocate(capacity: r)
    rowPositions.initialize(repeating: 0, count: r)
    rotary = Transformer.rotaryTable(config)
    stream = FloatBuffer(count: r * c)
    normed = FloatBuffer(count: r * c)
    attended = FloatBuffer(count: r * c)
    qkv = FloatBuffer(count: r * 3 * c)
    hidden = FloatBuffer(count: r * h)
    scores = FloatBuffer(count: (self.parts > 1 ? pool.width : 1) * r * capacity)
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
    keys.deallocate()
    values.deallocate()
    lengths.deallocate()
    rowTokens.deallocate()
    rowPositions.deallocate()
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
        BLASThreads.withSingleThreaded(when: parts > 1) { run(p.baseAddress!) }
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
}
