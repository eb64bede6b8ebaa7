import HindcastKernels
import HindcastSupport

/// Batched sampling from a `Transformer` with a KV cache.
///
/// Up to `maxBatch` sequences run at once in the slots of one `KVCache`; when a sequence ends its
/// slot takes the next waiting prompt (continuous batching). Each forward call feeds one token per
/// decoding sequence and chunks of waiting prompts (prefill), packed into one GEMM per layer; with a
/// single row the projections use GEMV.
///
/// Memory: each call allocates one cache of `2 x L x min(maxBatch, prompts) x C x capacity` floats,
/// capacity = min(contextLength, longest prompt + maxNewTokens) (67 MB for the bench model at
/// batch 32), plus scratch for 512 rows; the decode loop allocates nothing but its outputs.
/// Not thread-safe: the model must not be used or changed by anyone else during the call.
///
/// Determinism contract: sequence `i` draws its random numbers only from its own generator,
/// `SeededRandom(seed: seeds[i])`, exactly one `nextUnitDouble()` per non-greedy token. Its output
/// therefore depends only on the model, its prompt, the settings and its seed, not on the other
/// prompts in the call, their order, or `maxBatch`, except through float rounding of the logits
/// (a batched GEMM and a single-row GEMV may differ in the last bits, which can change a sample only
/// when a random draw lands within that rounding of a boundary between two tokens). Callers that
/// batch work differently across runs (resumed shards) should pass per-item seeds, e.g. from
/// `SeedDerivation.derive(runSeed, [round, shard, item, sample])`.
public enum Sampler {
  /// Default number of sequences decoded at once.
  public static let defaultMaxBatch = 32
  /// Default rows (tokens over all sequences) of one forward call; longer prefills are chunked.
  static let defaultPrefillRows = 512

  /// Generates one continuation per prompt, seeding sequence `i` with
  /// `SeedDerivation.derive(rng.next(), [i])`: the caller's generator advances by exactly one
  /// draw, so the same generator state gives the same outputs. Sequence `i`'s output depends on
  /// its index `i` (not on the other prompts); see the type's determinism contract.
  public static func generate(
    model: Transformer, prompts: [[Int32]], settings: SamplingSettings, rng: inout SeededRandom,
    maxBatch: Int = defaultMaxBatch
  ) throws -> [Generation] {
    let base = rng.next()
    let seeds = (0..<prompts.count).map { SeedDerivation.derive(base, [UInt64($0)]) }
    return try generate(model: model, prompts: prompts, settings: settings, seeds: seeds, maxBatch: maxBatch)
  }

  /// Generates one continuation per prompt; sequence `i` samples with `SeededRandom(seed: seeds[i])`
  /// only, so its output is independent of how prompts are batched.
  ///
  /// Prompts must hold 1...contextLength valid token ids. A continuation ends at a stop token
  /// (`.stop`), after `maxNewTokens` (`.length`), or when prompt plus continuation reach the context
  /// length (`.context`; a prompt that already fills the context gets an empty continuation).
  /// Checks in that order, so a stop token at the last allowed position reports `.stop`.
  public static func generate(
    model: Transformer, prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64],
    maxBatch: Int = defaultMaxBatch
  ) throws -> [Generation] {
    try generate(
      model: model, prompts: prompts, settings: settings, seeds: seeds, maxBatch: maxBatch,
      prefillRows: defaultPrefillRows)
  }

  /// `generate` with a chosen bound on the rows of one forward call (tests use small bounds to
  /// exercise chunked prefill) and, optionally, a chosen number of parts per stage (default: the
  /// OpenBLAS thread count; see `KVCache`).
  static func generate(
    model: Transformer, prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64], maxBatch: Int,
    prefillRows: Int, parts: Int? = nil
  ) throws -> [Generation] {
    try settings.validate(vocabSize: model.config.vocabSize)
    guard seeds.count == prompts.count else {
      throw HindcastError(.invalidInput, "got \(seeds.count) seeds for \(prompts.count) prompts")
    }
    guard maxBatch >= 1 else {
      throw HindcastError(.invalidInput, "maxBatch must be at least 1; got \(maxBatch)")
    }
    try validate(prompts: prompts, config: model.config)
    if prompts.isEmpty { return [] }
    let run = try GenerationRun(
      model: model, prompts: prompts, settings: settings, seeds: seeds, maxBatch: maxBatch,
      prefillRows: prefillRows, parts: parts ?? BLASThreads.current)
    try run.execute()
    return run.results()
  }

  static func validate(prompts: [[Int32]], config: ModelConfig) throws {
    for (i, prompt) in prompts.enumerated() {
      guard !prompt.isEmpty else {
        throw HindcastError(
          .invalidInput, "prompt \(i) is empty", hint: "start prompts with at least one token, e.g. <task>")
      }
      guard prompt.count <= config.contextLength else {
        throw HindcastError(
          .invalidInput,
          "prompt \(i) has \(prompt.count) tokens; the context length is \(config.contextLength)",
          hint: "shorten the prompt or use a model with a longer context_length")
      }
      if let bad = prompt.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
        throw HindcastError(
          .invalidInput, "prompt \(i) holds token id \(bad), outside the vocabulary 0..<\(config.vocabSize)")
      }
    }
  }
}

/// The state of one `Sampler.generate` call: the cache, per-slot progress and per-sequence
/// outputs. Everything the decode loop touches is allocated in `init`.
final class GenerationRun {
  enum SlotState { case free, prefilling, decoding }

  let model: Transformer
  let settings: SamplingSettings
  let cache: KVCache
  let chooser: TokenChooser
  let contextLength: Int
  let promptTokens: [Int32]  // all prompts, concatenated
  let promptStart: [Int]  // (prompts + 1) offsets into promptTokens
  var rngs: [SeededRandom]
  let isStop: [Bool]  // (V)

  // Per sequence.
  var tokens: [[Int32]]
  var logprobs: [[Float]]
  var samplingLogprobs: [[Float]]
  var topK: [[[TokenLogprob]]]
  var finish: [FinishReason?]
  var nextPrompt = 0

  // Per slot.
  var slotState: [SlotState]
  var slotSequence: [Int]
  var slotFed: [Int]  // prompt tokens fed so far while prefilling
  let pendingTokens: UnsafeMutablePointer<Int32>  // (S) token to feed next while decoding

  init(
    model: Transformer, prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64], maxBatch: Int,
    prefillRows: Int, parts: Int
  )
    throws
  {
    let config = model.config
    self.model = model
    self.settings = settings
    contextLength = config.contextLength
    let slots = min(maxBatch, prompts.count)
    let longest = prompts.map(\.count).max() ?? 1
    let capacity = min(config.contextLength, longest + settings.maxNewTokens)
    let promptTotal = prompts.reduce(0) { $0 + $1.count }
    cache = try KVCache(
      config: config, slots: slots, capacity: capacity, rowCapacity: max(1, min(prefillRows, promptTotal)),
      parts: parts)
    chooser = TokenChooser(vocab: config.vocabSize, settings: settings)
    promptTokens = prompts.flatMap { $0 }
    var starts = [0]
    for prompt in prompts { starts.append(starts[starts.count - 1] + prompt.count) }
    promptStart = starts
    rngs = seeds.map { SeededRandom(seed: $0) }
    var stops = [Bool](repeating: false, count: config.vocabSize)
    for token in settings.stopTokens { stops[Int(token)] = true }
    isStop = stops
    let reserve = min(settings.maxNewTokens, config.contextLength)
    func reserved<T>(_: T.Type) -> [[T]] {
      (0..<prompts.count).map { _ in
        var row: [T] = []
        row.reserveCapacity(reserve)
        return row
      }
    }
    tokens = reserved(Int32.self)
    logprobs = reserved(Float.self)
    samplingLogprobs = reserved(Float.self)
    topK = settings.returnTopK == nil ? [] : reserved([TokenLogprob].self)
    finish = [FinishReason?](repeating: nil, count: prompts.count)
    slotState = [SlotState](repeating: .free, count: slots)
    slotSequence = [Int](repeating: -1, count: slots)
    slotFed = [Int](repeating: 0, count: slots)
    pendingTokens = .allocate(capacity: slots)
    pendingTokens.initialize(repeating: 0, count: slots)
  }

  deinit { pendingTokens.deallocate() }

  func promptLength(_ sequence: Int) -> Int { promptStart[sequence + 1] - promptStart[sequence] }

  /// Runs until every prompt has its continuation.
  func execute() throws {
    try BLASThreads.withSingleThreaded(when: cache.parts > 1) { try loop() }
  }

  private func loop() throws {
    try model.parameters.withUnsafeBufferPointer { parameters in
      try promptTokens.withUnsafeBufferPointer { prompts in
        let p = parameters.baseAddress!
        let v = model.config.vocabSize
        while true {
          fillFreeSlots()
          try planCall(prompts: prompts.baseAddress!)
          let segments = cache.plannedSegments
          if segments == 0 { return }
          cache.run(p)
          for s in 0..<segments {
            let slot = cache.segmentSlot[s]
            if slotState[slot] == .prefilling && slotFed[slot] < promptLength(slotSequence[slot]) { continue }
            choose(slot: slot, logits: cache.logits.pointer + s * v)
          }
        }
      }
    }
  }

  /// Gives free slots the next waiting prompts. A prompt that fills the context ends at once.
  private func fillFreeSlots() {
    for slot in 0..<slotState.count where slotState[slot] == .free {
      while nextPrompt < finish.count {
        let sequence = nextPrompt
        nextPrompt += 1
        if promptLength(sequence) >= contextLength {
          finish[sequence] = .context
          continue
        }
        cache.reset(slot: slot)
        slotState[slot] = .prefilling
        slotSequence[slot] = sequence
        slotFed[slot] = 0
        break
      }
    }
  }

  /// Plans one forward call: a token for every decoding slot, then prompt chunks of prefilling
  /// slots while rows remain.
  private func planCall(prompts: UnsafePointer<Int32>) throws {
    cache.beginPlan()
    for slot in 0..<slotState.count where slotState[slot] == .decoding {
      try cache.plan(slot: slot, tokens: pendingTokens + slot, count: 1)
    }
    for slot in 0..<slotState.count where slotState[slot] == .prefilling {
      let free = cache.rowCapacity - cache.plannedRows
      if free == 0 { break }
      let sequence = slotSequence[slot]
      let count = min(promptLength(sequence) - slotFed[slot], free)
      try cache.plan(slot: slot, tokens: prompts + promptStart[sequence] + slotFed[slot], count: count)
      slotFed[slot] += count
    }
  }

  /// Samples the next token of the sequence in `slot` and records it; frees the slot when the
  /// sequence ends.
  private func choose(slot: Int, logits: UnsafePointer<Float>) {
    let sequence = slotSequence[slot]
    let choice = chooser.choose(logits: logits, rng: &rngs[sequence])
    tokens[sequence].append(choice.token)
    logprobs[sequence].append(choice.logprob)
    samplingLogprobs[sequence].append(choice.samplingLogprob)
    if let k = settings.returnTopK {
      topK[sequence].append(chooser.top(k, logits: logits, logSumExp: choice.logSumExp))
    }
    let generated = tokens[sequence].count
    var reason: FinishReason?
    if isStop[Int(choice.token)] {
      reason = .stop
    } else if generated >= settings.maxNewTokens {
      reason = .length
    } else if promptLength(sequence) + generated >= contextLength {
      reason = .context
    }
    if let reason {
      finish[sequence] = reason
      slotState[slot] = .free
      slotSequence[slot] = -1
    } else {
      pendingTokens[slot] = choice.token
      slotState[slot] = .decoding
    }
  }

  func results() -> [Generation] {
    (0..<finish.count).map { i in
      Generation(
        tokens: tokens[i], logprobs: logprobs[i], samplingLogprobs: samplingLogprobs[i],
        topK: settings.returnTopK == nil ? nil : topK[i], finish: finish[i] ?? .length)
    }
  }
}
