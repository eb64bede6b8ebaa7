import Foundation
import HindcastSupport
import Testing

@testable import HindcastModel

/// Cached, batched decoding against the uncached full forward pass, and the sampler's length,
/// stop and determinism contracts.
@Suite struct SamplerTests {
  typealias F = SamplerFixtures

  /// Largest |a - b| after subtracting each row's mean (logits are compared up to the softmax's
  /// shift invariance only where stated; here the raw rows are compared).
  static func maxDifference(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
  }

  @Test(arguments: [1, 2, 3])
  func kvCacheAppendsEqualFullForwardForMixedLengthsAndChunks(parts: Int) throws {
    let model = try F.model()
    let v = model.config.vocabSize
    // rowCapacity 4 forces prompts to be split over several calls; parts > 1 split every stage
    // over the spin pool.
    let cache = try KVCache(config: model.config, slots: 3, capacity: 24, rowCapacity: 4, parts: parts)
    var sequences: [[Int32]] = [[5, 9, 200, 17, 3], [40], (0..<11).map { Int32($0 * 13) }]
    var observed = try cache.append(
      model: model, sequences.enumerated().map { KVCache.Feed(slot: $0, tokens: $1) })
    var rng = SeededRandom(seed: 2)
    var participants = [0, 1, 2]
    for step in 0..<7 {
      for (index, slot) in participants.enumerated() {
        let sequence = sequences[slot]
        let full = try model.forward(tokens: sequence, batch: 1, length: sequence.count) { logits in
          (0..<v).map { Double(logits[(sequence.count - 1) * v + $0]) }
        }
        let difference = Self.maxDifference(observed[index], full)
        #expect(difference < 1e-4, "step \(step) slot \(slot): cached logits differ by \(difference)")
      }
      if step == 6 { break }
      // Next call: a varying subset of slots, one or two tokens each (at most 12 more per slot).
      participants = [0, 1, 2].filter { _ in rng.nextInt(below: 3) > 0 }
      if participants.isEmpty { participants = [1] }
      let feeds = participants.map { slot in
        KVCache.Feed(
          slot: slot, tokens: (0..<(1 + rng.nextInt(below: 2))).map { _ in Int32(rng.nextInt(below: v)) })
      }
      for feed in feeds { sequences[feed.slot] += feed.tokens }
      observed = try cache.append(model: model, feeds)
    }
    for slot in 0..<3 { #expect(cache.length(ofSlot: slot) == sequences[slot].count) }
  }

  @Test func kvCacheRejectsOverflowAndRepeatedSlots() throws {
    let model = try F.model()
    let cache = try KVCache(config: model.config, slots: 2, capacity: 4)
    #expect(throws: HindcastError.self) {
      try cache.append(model: model, [KVCache.Feed(slot: 0, tokens: [1, 2, 3, 4, 5])])
    }
    #expect(throws: HindcastError.self) {
      try cache.append(
        model: model, [KVCache.Feed(slot: 1, tokens: [1]), KVCache.Feed(slot: 1, tokens: [2])])
    }
    #expect(throws: HindcastError.self) {
      try cache.append(model: model, [KVCache.Feed(slot: 2, tokens: [1])])
    }
    #expect(cache.length(ofSlot: 0) == 0)
  }

  /// Greedy generation with the full distribution returned at every step: each step's
  /// distribution equals the uncached model's on the prefix, and the choice is its argmax.
  static func checkGreedyAgainstFullForward(
    prompts: [[Int32]], maxBatch: Int, prefillRows: Int, newTokens: Int, parts: Int = 1
  ) throws -> Int {
    let model = try F.model()
    let v = model.config.vocabSize
    let settings = SamplingSettings(temperature: 0, maxNewTokens: newTokens, stopTokens: [], returnTopK: v)
    let generations = try Sampler.generate(
      model: model, prompts: prompts, settings: settings, seeds: prompts.indices.map { UInt64($0) },
      maxBatch: maxBatch, prefillRows: prefillRows, parts: parts)
    var checkedChoices = 0
    for (prompt, generation) in zip(prompts, generations) {
      let expected = min(newTokens, model.config.contextLength - prompt.count)
      #expect(generation.tokens.count == expected)
      #expect(generation.finish == (expected == newTokens ? .length : .context))
      let reference = try F.referenceRows(model, prompt: prompt, generated: generation.tokens)
      let top = try #require(generation.topK)
      for (i, row) in reference.enumerated() {
        let (best, margin) = F.argmax(row)
        if margin > 1e-3 {
          #expect(
            Int(generation.tokens[i]) == best, "position \(i): chose \(generation.tokens[i]), argmax \(best)")
          checkedChoices += 1
        }
        // The whole distribution the sampler saw equals the uncached one.
        #expect(top[i].count == v)
        let worst = top[i].map { abs(Double($0.logprob) - row[Int($0.token)]) }.max() ?? 1
        #expect(worst < 1e-4, "position \(i): distribution differs by \(worst)")
        #expect(abs(Double(generation.logprobs[i]) - row[Int(generation.tokens[i])]) < 1e-4)
        #expect(generation.samplingLogprobs[i] == 0)
        #expect(zip(top[i], top[i].dropFirst()).allSatisfy { $0.logprob >= $1.logprob })
      }
    }
    return checkedChoices
  }

  @Test(arguments: [1, 2, 3])
  func greedyBatchedGenerationFollowsTheFullForwardArgmax(parts: Int) throws {
    // Five prompts in three slots: later prompts are prefilled while others decode.
    let checked = try Self.checkGreedyAgainstFullForward(
      prompts: F.prompts(5, lengths: 1...9, seed: 4), maxBatch: 3, prefillRows: 512, newTokens: 10,
      parts: parts)
    #expect(checked > 40)
  }

  @Test func splitDecodingIsBitIdenticalRunToRun() throws {
    // Stages split over the spin pool: which thread runs a part depends on timing, the result
    // must not. Single-sequence and batched decoding, sampled, with the full distribution.
    let model = try F.model(seed: 3)
    let v = model.config.vocabSize
    let settings = SamplingSettings(temperature: 0.9, maxNewTokens: 12, stopTokens: [], returnTopK: v)
    for (count, maxBatch) in [(1, 1), (7, 4)] {
      let prompts = F.prompts(count, lengths: 1...9, seed: 31)
      let seeds = prompts.indices.map { UInt64(100 + $0) }
      func run() throws -> [Generation] {
        try Sampler.generate(
          model: model, prompts: prompts, settings: settings, seeds: seeds, maxBatch: maxBatch,
          prefillRows: 512, parts: 2)
      }
      let first = try run()
      for _ in 0..<3 { #expect(try run() == first) }
    }
  }

  @Test(arguments: [1, 2])
  func chunkedPrefillMixedWithDecodingFollowsTheFullForward(parts: Int) throws {
    // Four rows per call: prompts are split over many calls that also carry decode rows, and
    // long prompts run into the context limit.
    let checked = try Self.checkGreedyAgainstFullForward(
      prompts: F.prompts(6, lengths: 5...20, seed: 14), maxBatch: 3, prefillRows: 4, newTokens: 8,
      parts: parts)
    #expect(checked > 25)
  }

  @Test func sampledLogprobsAreUntemperedAndSamplingLogprobsTruncated() throws {
    let model = try F.model(seed: 12)
    let prompts = F.prompts(6, lengths: 2...7, seed: 8)
    let settings = SamplingSettings(temperature: 0.7, topK: 4, maxNewTokens: 8, stopTokens: [])
    var rng = SeededRandom(seed: 99)
    let generations = try Sampler.generate(model: model, prompts: prompts, settings: settings, rng: &rng)
    for (prompt, generation) in zip(prompts, generations) {
      let reference = try F.referenceRows(model, prompt: prompt, generated: generation.tokens)
      for (i, row) in reference.enumerated() {
        let token = Int(generation.tokens[i])
        #expect(abs(Double(generation.logprobs[i]) - row[token]) < 1e-4)
        // Sampling distribution: softmax(logprob / 0.7) over the top 4, renormalized.
        let top = row.indices.sorted { row[$0] > row[$1] }.prefix(4)
        #expect(top.contains(token))
        let scaled = top.map { row[$0] / 0.7 }
        let maxValue = scaled.max() ?? 0
        let lse = maxValue + log(scaled.reduce(0) { $0 + exp($1 - maxValue) })
        #expect(abs(Double(generation.samplingLogprobs[i]) - (row[token] / 0.7 - lse)) < 1e-3)
      }
    }
  }

  @Test func stopTokenEndsASequenceAndIsKept() throws {
    let model = try F.model()
    let prompt: [Int32] = [10, 20, 30]
    let free = try Sampler.generate(
      model: model, prompts: [prompt],
      settings: SamplingSettings(temperature: 0, maxNewTokens: 12, stopTokens: []),
      seeds: [0])[0]
    let stop = free.tokens[3]
    let firstStop = try #require(free.tokens.firstIndex(of: stop))
    let stopped = try Sampler.generate(
      model: model, prompts: [prompt],
      settings: SamplingSettings(temperature: 0, maxNewTokens: 12, stopTokens: [stop]),
      seeds: [0])[0]
    #expect(stopped.finish == .stop)
    #expect(stopped.tokens == Array(free.tokens[...firstStop]))
    #expect(stopped.logprobs.count == stopped.tokens.count)
  }

  @Test func lengthAndContextLimitsAreHonored() throws {
    let model = try F.model()
    let t = model.config.contextLength
    let prompts: [[Int32]] = [
      [1, 2, 3],
      Array(repeating: 7, count: t - 3),
      Array(repeating: 8, count: t),
      [4],
    ]
    let settings = SamplingSettings(temperature: 1, maxNewTokens: 5, stopTokens: [])
    let out = try Sampler.generate(
      model: model, prompts: prompts, settings: settings, seeds: [1, 2, 3, 4], maxBatch: 2)
    #expect(out.map(\.tokens.count) == [5, 3, 0, 5])
    #expect(out.map(\.finish) == [.length, .context, .context, .length])
    #expect(out[1].logprobs.count == 3 && out[1].samplingLogprobs.count == 3)
    let tooLong = [Int32](repeating: 1, count: t + 1)
    #expect(throws: HindcastError.self) {
      try Sampler.generate(model: model, prompts: [tooLong], settings: settings, seeds: [0])
    }
    #expect(throws: HindcastError.self) {
      try Sampler.generate(model: model, prompts: [[]], settings: settings, seeds: [0])
    }
    #expect(throws: HindcastError.self) {
      try Sampler.generate(model: model, prompts: [[999]], settings: settings, seeds: [0])
    }
  }

  @Test func outputsDependOnlyOnEachSequencesSeed() throws {
    let model = try F.model(seed: 21)
    let prompts = F.prompts(6, lengths: 1...8, seed: 5)
    let seeds: [UInt64] = [11, 12, 13, 14, 15, 16]
    let settings = SamplingSettings(temperature: 1.2, topP: 0.95, maxNewTokens: 9, stopTokens: [40, 41, 42])
    let together = try Sampler.generate(
      model: model, prompts: prompts, settings: settings, seeds: seeds, maxBatch: 6)
    let oneAtATime = try Sampler.generate(
      model: model, prompts: prompts, settings: settings, seeds: seeds, maxBatch: 1)
    let reversed = try Sampler.generate(
      model: model, prompts: prompts.reversed(), settings: settings, seeds: seeds.reversed(), maxBatch: 4)
    let alone = try Sampler.generate(
      model: model, prompts: [prompts[3]], settings: settings, seeds: [seeds[3]])
    for i in 0..<6 {
      #expect(together[i].tokens == oneAtATime[i].tokens)
      #expect(together[i].tokens == reversed[5 - i].tokens)
      #expect(together[i].finish == oneAtATime[i].finish)
      for (a, b) in zip(together[i].logprobs, oneAtATime[i].logprobs) { #expect(abs(a - b) < 1e-4) }
    }
    #expect(alone[0].tokens == together[3].tokens)
    // Different seeds give different samples somewhere.
    let other = try Sampler.generate(
      model: model, prompts: prompts, settings: settings, seeds: seeds.map { $0 + 100 })
    #expect(other.map(\.tokens) != together.map(\.tokens))
  }

  @Test func sameGeneratorStateGivesSameOutputsAndAdvancesByOneDraw() throws {
    let model = try F.model()
    let prompts = F.prompts(3, lengths: 2...5, seed: 6)
    let settings = SamplingSettings(temperature: 1, maxNewTokens: 6)
    var first = SeededRandom(seed: 42)
    var second = SeededRandom(seed: 42)
    let a = try Sampler.generate(model: model, prompts: prompts, settings: settings, rng: &first)
    let b = try Sampler.generate(model: model, prompts: prompts, settings: settings, rng: &second)
    #expect(a == b)
    var expected = SeededRandom(seed: 42)
    _ = expected.next()
    #expect(first == expected)
  }
}
