import Foundation
import HindcastModel
import HindcastSupport

/// Sampling and scoring of token ids through an OpenAI-compatible server.
///
/// Prompts and continuations are token ids in the server's vocabulary; requests send prompts as
/// id lists (which vLLM, llama.cpp and `hindcast serve` accept). Generated tokens are taken from
/// `choices[i].token_ids` (vLLM's `return_token_ids`) or the ids of `logprobs.content[]`
/// (llama.cpp's layout), and log-probs are matched to tokens by id, never by position alone: a
/// token the server reports no log-prob for (llama.cpp merges the tokens of one multi-token
/// character into one entry) is re-scored through the scoring route.
///
/// Seeds: sequence `i` sends `seed = seeds[i] & 0x7fffffff` (servers take 31- or 32-bit seeds),
/// so its output depends only on the server, the model, its prompt, the settings and its seed.
/// Stop tokens are the server's own end-of-generation tokens (`settings.stopTokens` is not sent).
/// `Generation.samplingLogprobs` holds the server's log-probs (0 for greedy): servers report the
/// untempered distribution, not the one the token was drawn from.
public final class RemoteModel: @unchecked Sendable {
  public let client: RemoteClient
  public let capabilities: RemoteCapabilities
  /// End-of-generation token ids (the chat template's end-of-turn token, set by `RemoteChat`):
  /// the grammar-forced route forces a continuation's tokens before a final one of these and lets
  /// the completed grammar produce it, since llama.cpp refuses to force an end-of-generation
  /// token inside a grammar. Set before the model is used from several threads.
  public var endOfGeneration: Set<Int32> = []

  /// Probes the server once (see `RemoteCapabilities.probe`).
  public init(endpoint: RemoteEndpoint, context: String) throws {
    client = RemoteClient(endpoint: endpoint, context: context)
    capabilities = try RemoteCapabilities.probe(client)
  }

  /// The server's token ids of `text` (`/tokenize`).
  public func tokenize(_ text: String) throws -> [Int32] {
    let answer = try client.postRoot(
      "/tokenize",
      ["content": .string(text), "prompt": .string(text), "add_special": false, "add_special_tokens": false])
    guard let list = answer["tokens"]?.arrayValue else {
      throw HindcastError(.ioFailure, "\(client.context): /tokenize answered without 'tokens'")
    }
    return list.compactMap(\.intValue).map { Int32($0) }
  }

  /// One continuation per prompt (see the type's notes on seeds, stops and log-probs).
  public func generate(prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64]) throws -> [Generation]
  {
    guard seeds.count == prompts.count else {
      throw HindcastError(.invalidInput, "got \(seeds.count) seeds for \(prompts.count) prompts")
    }
    let k = settings.returnTopK
    var results = try parallelMap(prompts.count) { [self] i -> (Generation, [Int]) in
      var body: [String: JSONValue] = [
        "model": .string(capabilities.model), "prompt": Self.ids(prompts[i]),
        "max_tokens": .number(Double(maxTokens(prompt: prompts[i].count, wanted: settings.maxNewTokens))),
        "temperature": .number(Double(settings.temperature)), "n": 1,
        "seed": .number(Double(seeds[i] & 0x7fff_ffff)), "logprobs": .number(Double(max(1, k ?? 1))),
        "return_token_ids": true,
      ]
      if let topP = settings.topP { body["top_p"] = .number(Double(topP)) }
      if let topK = settings.topK { body["top_k"] = .number(Double(topK)) }
      let answer = try client.postOpenAI("/completions", .object(body))
      guard let choice = answer["choices"]?[0] else {
        throw HindcastError(.ioFailure, "\(client.context): /v1/completions answered without choices")
      }
      return try Self.generation(
        choice, prompt: prompts[i], settings: settings, context: capabilities.contextLength, client: client)
    }
    // Tokens the server gave no log-prob for: score them along the scoring route.
    let incomplete = results.indices.filter { !results[$0].1.isEmpty }
    if !incomplete.isEmpty {
      let scores = try score(
        prompts: incomplete.map { prompts[$0] }, continuations: incomplete.map { results[$0].0.tokens },
        topK: k)
      for (n, index) in incomplete.enumerated() {
        for position in results[index].1 {
          results[index].0.logprobs[position] = scores[n].logprobs[position]
          if !settings.isGreedy { results[index].0.samplingLogprobs[position] = scores[n].logprobs[position] }
          if k != nil { results[index].0.topK?[position] = scores[n].topK?[position] ?? [] }
        }
      }
    }
    return results.map(\.0)
  }

  func maxTokens(prompt: Int, wanted: Int) -> Int {
    guard let context = capabilities.contextLength else { return wanted }
    return max(1, min(wanted, context - prompt))
  }

  static func ids(_ tokens: [Int32]) -> JSONValue { .array(tokens.map { .number(Double($0)) }) }

  /// A choice as a `Generation`, plus the positions whose log-prob the server did not report.
  static func generation(
    _ choice: JSONValue, prompt: [Int32], settings: SamplingSettings, context: Int?, client: RemoteClient
  ) throws -> (Generation, [Int]) {
    let content = choice["logprobs"]?["content"]?.arrayValue ?? []
    var tokens: [Int32]
    if let ids = choice["token_ids"]?.arrayValue {
      tokens = ids.compactMap(\.intValue).map { Int32($0) }
    } else if !content.isEmpty, content.allSatisfy({ $0["id"]?.intValue != nil }) {
      tokens = content.compactMap { $0["id"]?.intValue }.map { Int32($0) }
    } else {
      throw HindcastError(
        .missingPrerequisite,
        "\(client.context): the server returns no token ids (needs vLLM's return_token_ids or llama.cpp's logprobs.content)",
        hint: "serve the model with vLLM, SGLang's OpenAI API, llama.cpp or hindcast serve")
    }
    var logprobs = [Float](repeating: 0, count: tokens.count)
    var top: [[TokenLogprob]] = Array(repeating: [], count: tokens.count)
    var missing: [Int] = []
    if !content.isEmpty {
      var j = 0
      for (i, token) in tokens.enumerated() {
        if j < content.count, content[j]["id"]?.intValue == Int(token),
          let lp = content[j]["logprob"]?.doubleValue
        {
          logprobs[i] = Float(lp)
          top[i] = (content[j]["top_logprobs"]?.arrayValue ?? []).compactMap { entry in
            guard let id = entry["id"]?.intValue, let value = entry["logprob"]?.doubleValue else {
              return nil
            }
            return TokenLogprob(token: Int32(id), logprob: Float(value))
          }
          j += 1
        } else {
          missing.append(i)
        }
      }
    } else if let legacy = choice["logprobs"]?["token_logprobs"]?.arrayValue, legacy.count == tokens.count {
      for (i, value) in legacy.enumerated() {
        if let lp = value.doubleValue { logprobs[i] = Float(lp) } else { missing.append(i) }
      }
      if settings.returnTopK != nil { missing = Array(tokens.indices) }  // legacy top_logprobs carry no ids
    } else {
      missing = Array(tokens.indices)
    }
    var finish: FinishReason = choice["finish_reason"]?.stringValue == "stop" ? .stop : .length
    if let context, prompt.count + tokens.count >= context, finish == .length { finish = .context }
    let sampling = settings.isGreedy ? [Float](repeating: 0, count: tokens.count) : logprobs
    let generation = Generation(
      tokens: tokens, logprobs: logprobs, samplingLogprobs: sampling,
      topK: settings.returnTopK == nil ? nil : top, finish: finish)
    return (generation, missing)
  }

  /// Log-probs (and the top `topK`) of each continuation token given its prompt, along the best
  /// scoring route the server has; refuses with `.missingPrerequisite` when it has none.
  /// `entropies` are computed from the returned top-k (a lower bound; 0 without top-k).
  public func score(prompts: [[Int32]], continuations: [[Int32]], topK: Int?) throws -> [ScoredSequence] {
    guard prompts.count == continuations.count else {
      throw HindcastError(
        .invalidInput, "got \(prompts.count) prompts but \(continuations.count) continuations")
    }
    switch capabilities.scoring {
    case .promptLogprobs, .echo:
      return try parallelMap(prompts.count) { [self] i in
        try scoreByEcho(prompts[i], continuations[i], topK: topK)
      }
    case .forcedGrammar:
      return try parallelMap(prompts.count) { [self] i in
        try scoreByGrammar(prompts[i], continuations[i], topK: topK)
      }
    case .none:
      throw HindcastError(
        .missingPrerequisite,
        "\(client.context): the server at \(client.endpoint.baseURL) (\(capabilities.server)) cannot score given "
          + "tokens: it has neither echo with prompt log-probs on /v1/completions nor llama.cpp's grammar-forced /completion",
        hint:
          "the rewrite stage (teacher scores) and gap measurement need scoring; serve the model with vLLM, "
          + "llama.cpp or hindcast serve")
    }
  }

  func scoreByEcho(_ prompt: [Int32], _ continuation: [Int32], topK: Int?) throws -> ScoredSequence {
    if continuation.isEmpty {
      return ScoredSequence(logprobs: [], entropies: [], topK: topK == nil ? nil : [], distribution: nil)
    }
    let all = prompt + continuation
    var body: [String: JSONValue] = [
      "model": .string(capabilities.model), "prompt": Self.ids(all), "max_tokens": 1, "temperature": 0,
      "echo": true, "logprobs": .number(Double(max(1, topK ?? 1))),
    ]
    if capabilities.scoring == .promptLogprobs { body["prompt_logprobs"] = .number(Double(topK ?? 0)) }
    let answer = try client.postOpenAI("/completions", .object(body))
    let choice = answer["choices"]?[0]
    var logprobs: [Float] = []
    var tops: [[TokenLogprob]] = []
    if capabilities.scoring == .promptLogprobs, let list = choice?["prompt_logprobs"]?.arrayValue,
      list.count == all.count
    {
      for (offset, token) in continuation.enumerated() {
        guard let entry = list[prompt.count + offset].objectValue,
          let own = entry[String(token)]?["logprob"]?.doubleValue
        else {
          throw HindcastError(
            .ioFailure,
            "\(client.context): prompt_logprobs lacks token \(token) at position \(prompt.count + offset)")
        }
        logprobs.append(Float(own))
        let ranked = entry.compactMap { key, value -> (Int, TokenLogprob)? in
          guard let id = Int32(key), let lp = value["logprob"]?.doubleValue else { return nil }
          return (value["rank"]?.intValue ?? Int.max, TokenLogprob(token: id, logprob: Float(lp)))
        }
        tops.append(Self.ranked(ranked.map(\.1), k: topK ?? 0))
      }
    } else if let echoed = choice?["logprobs"]?["token_logprobs"]?.arrayValue, echoed.count >= all.count {
      if let ids = choice?["prompt_token_ids"]?.arrayValue, ids.compactMap(\.intValue) != all.map({ Int($0) })
      {
        throw HindcastError(
          .ioFailure, "\(client.context): the server echoed other token ids than it was sent")
      }
      let content = choice?["logprobs"]?["content"]?.arrayValue
      for offset in continuation.indices {
        guard let lp = echoed[prompt.count + offset].doubleValue else {
          throw HindcastError(
            .ioFailure, "\(client.context): echo returned no log-prob at position \(prompt.count + offset)")
        }
        logprobs.append(Float(lp))
        // `content` (when present) omits the first prompt token, which has no log-prob.
        let entry = content.flatMap { $0.count >= all.count - 1 ? $0[prompt.count + offset - 1] : nil }
        let alternatives = (entry?["top_logprobs"]?.arrayValue ?? []).compactMap { item -> TokenLogprob? in
          guard let id = item["id"]?.intValue, let value = item["logprob"]?.doubleValue else { return nil }
          return TokenLogprob(token: Int32(id), logprob: Float(value))
        }
        tops.append(Self.ranked(alternatives, k: topK ?? 0))
      }
    } else {
      throw HindcastError(
        .ioFailure, "\(client.context): the server answered an echo request without the prompt's log-probs",
        hint: "its capabilities changed since the probe; restart the stage")
    }
    return Self.scored(logprobs, tops, topK: topK)
  }

  func scoreByGrammar(_ prompt: [Int32], _ continuation: [Int32], topK: Int?) throws -> ScoredSequence {
    if continuation.isEmpty {
      return ScoredSequence(logprobs: [], entropies: [], topK: topK == nil ? nil : [], distribution: nil)
    }
    let forced =
      endOfGeneration.contains(continuation[continuation.count - 1])
      ? continuation.dropLast() : continuation[...]
    if forced.isEmpty {
      // Only the end token: its log-prob is the first sampled token's with no grammar needed,
      // but a temperature-0 request may sample something else; score it through one position.
      return try scoreFirstToken(prompt, continuation[0], topK: topK)
    }
    let grammar = "root ::= " + forced.map { "<[\($0)]>" }.joined(separator: " ")
    let answer = try client.postRoot(
      "/completion",
      [
        "prompt": Self.ids(prompt), "grammar": .string(grammar),
        // Exactly the continuation: the forced tokens, then (when it ends with one) the
        // end-of-generation token, the only one a completed grammar allows.
        "n_predict": .number(Double(continuation.count)),
        "temperature": 0, "n_probs": .number(Double(max(1, topK ?? 1))), "cache_prompt": true,
      ])
    let entries = answer["completion_probabilities"]?.arrayValue ?? []
    let got = entries.prefix(continuation.count).compactMap { $0["id"]?.intValue }
    guard got == continuation.map({ Int($0) }) else {
      throw HindcastError(
        .ioFailure,
        "\(client.context): the grammar-forced /completion returned tokens \(got.prefix(8)) instead of \(continuation.prefix(8))",
        hint: "a continuation that splits a character between tokens cannot be forced on llama.cpp")
    }
    var logprobs: [Float] = []
    var tops: [[TokenLogprob]] = []
    for entry in entries.prefix(continuation.count) {
      logprobs.append(Float(entry["logprob"]?.doubleValue ?? -.infinity))
      let alternatives = (entry["top_logprobs"]?.arrayValue ?? []).compactMap { item -> TokenLogprob? in
        guard let id = item["id"]?.intValue, let value = item["logprob"]?.doubleValue else { return nil }
        return TokenLogprob(token: Int32(id), logprob: Float(value))
      }
      tops.append(Self.ranked(alternatives, k: topK ?? 0))
    }
    return Self.scored(logprobs, tops, topK: topK)
  }

  /// The log-prob of `token` as the first token after `prompt`, from the top `n_probs` of one
  /// generated position (llama.cpp's `/completion`); -inf when it is not among the top 100.
  func scoreFirstToken(_ prompt: [Int32], _ token: Int32, topK: Int?) throws -> ScoredSequence {
    let answer = try client.postRoot(
      "/completion",
      [
        "prompt": Self.ids(prompt), "n_predict": 1, "temperature": 0, "n_probs": 100, "cache_prompt": true,
      ])
    let entry = answer["completion_probabilities"]?[0]
    var alternatives = (entry?["top_logprobs"]?.arrayValue ?? []).compactMap { item -> TokenLogprob? in
      guard let id = item["id"]?.intValue, let value = item["logprob"]?.doubleValue else { return nil }
      return TokenLogprob(token: Int32(id), logprob: Float(value))
    }
    if let id = entry?["id"]?.intValue, let value = entry?["logprob"]?.doubleValue,
      !alternatives.contains(where: { $0.token == Int32(id) })
    {
      alternatives.append(TokenLogprob(token: Int32(id), logprob: Float(value)))
    }
    let own = alternatives.first { $0.token == token }?.logprob ?? -.infinity
    return Self.scored([own], [Self.ranked(alternatives, k: topK ?? 0)], topK: topK)
  }

  /// The `k` most likely, descending, ties by lower id (the embedded scorer's order).
  static func ranked(_ items: [TokenLogprob], k: Int) -> [TokenLogprob] {
    Array(items.sorted { $0.logprob != $1.logprob ? $0.logprob > $1.logprob : $0.token < $1.token }.prefix(k))
  }

  static func scored(_ logprobs: [Float], _ tops: [[TokenLogprob]], topK: Int?) -> ScoredSequence {
    let entropies = tops.map { top in
      Float(top.reduce(0.0) { sum, item in sum - Double(expf(item.logprob)) * Double(item.logprob) })
    }
    return ScoredSequence(
      logprobs: logprobs, entropies: entropies, topK: topK == nil ? nil : tops, distribution: nil)
  }

  /// `body(0..<count)` on up to `endpoint.concurrency` threads; results in index order; the first
  /// error (by index) is thrown after every call returned.
  func parallelMap<T>(_ count: Int, _ body: @escaping (Int) throws -> T) throws -> [T] {
    if count == 0 { return [] }
    let width = min(count, max(1, client.endpoint.concurrency))
    nonisolated(unsafe) var results = [Result<T, Error>?](repeating: nil, count: count)
    nonisolated(unsafe) var next = 0
    let lock = NSLock()
    let group = DispatchGroup()
    for _ in 0..<width {
      group.enter()
      Thread {
        while true {
          let index: Int? = lock.withLock {
            guard next < count else { return nil }
            next += 1
            return next - 1
          }
          guard let index else { break }
          let result = Result { try body(index) }
          lock.withLock { results[index] = result }
        }
        group.leave()
      }.start()
    }
    group.wait()
    return try results.map {
      try ($0 ?? .failure(HindcastError(.internalInvariant, "a request was not run"))).get()
    }
  }
}
