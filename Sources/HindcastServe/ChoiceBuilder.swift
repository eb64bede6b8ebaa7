import HindcastModel
import HindcastSupport

/// Renders one completion choice (see `CompletionService` for the layout).
struct ChoiceBuilder {
  let request: CompletionRequest
  let promptIndex: Int
  let generation: Generation?
  let promptScore: ScoredSequence?

  /// The token's text in `logprobs.tokens`: printable ASCII as itself, other bytes as
  /// `bytes:\xNN` (vLLM's convention for bytes that are not text), specials as their markers.
  static func piece(_ token: Int32) -> String {
    if (0...255).contains(token) {
      let byte = UInt8(token)
      if (0x20...0x7e).contains(byte) || byte == 0x0a || byte == 0x09 { return String(UnicodeScalar(byte)) }
      let hex = String(byte, radix: 16)
      return "bytes:\\x" + (hex.count == 1 ? "0" + hex : hex)
    }
    return Tokenizer.decode([token])
  }

  /// The bytes the token stands for in text (specials: their marker).
  static func bytes(_ token: Int32) -> [UInt8] {
    (0...255).contains(token) ? [UInt8(token)] : Array(Tokenizer.decode([token]).utf8)
  }

  /// The generated tokens kept, their text, and the finish reason, after stop strings.
  func generatedPart() -> (tokens: Int, text: [UInt8], finish: String) {
    guard let generation else { return (0, [], "length") }
    let tokens = generation.tokens
    let endsWithStop = generation.finish == .stop
    var text: [UInt8] = []
    var ends: [Int] = []  // text length after each token
    for (i, token) in tokens.enumerated() {
      if !(endsWithStop && i == tokens.count - 1) { text += Self.bytes(token) }
      ends.append(text.count)
    }
    var cut: (start: Int, end: Int)?
    for stop in request.stop {
      let needle = Array(stop.utf8)
      if let start = Self.find(needle, in: text), cut == nil || start < cut!.start {
        cut = (start, start + needle.count)
      }
    }
    if let cut {
      // Keep the tokens up to the one that completes the stop string; the text ends before it.
      let kept = (ends.firstIndex { $0 >= cut.end } ?? (tokens.count - 1)) + 1
      return (kept, Array(text[0..<cut.start]), "stop")
    }
    return (tokens.count, text, endsWithStop ? "stop" : "length")
  }

  static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle)
    {
      return i
    }
    return nil
  }

  func json(index: Int) -> JSONValue {
    let prompt = request.prompts[promptIndex]
    let (kept, textBytes, finish) = generatedPart()
    let generated = Array((generation?.tokens ?? [])[0..<kept])
    var text = String(decoding: textBytes, as: UTF8.self)
    if request.echo { text = request.promptTexts[promptIndex] + text }
    var choice: [String: JSONValue] = [
      "index": .number(Double(index)), "text": .string(text), "finish_reason": .string(finish),
      "token_ids": .array(generated.map { .number(Double($0)) }), "logprobs": .null,
    ]
    if request.echo || request.promptLogprobs != nil {
      choice["prompt_token_ids"] = .array(prompt.map { .number(Double($0)) })
    }
    if let k = request.logprobs {
      var entries: [(token: Int32, logprob: Float?, top: [TokenLogprob]?)] = []
      if request.echo, let promptScore {
        entries.append((prompt[0], nil, nil))
        for (i, token) in prompt.dropFirst().enumerated() {
          entries.append((token, promptScore.logprobs[i], k > 0 ? promptScore.topK?[i] : []))
        }
      }
      if let generation {
        for i in 0..<kept {
          entries.append((generation.tokens[i], generation.logprobs[i], k > 0 ? generation.topK?[i] : []))
        }
      }
      choice["logprobs"] = Self.logprobsJSON(entries)
    }
    if let k = request.promptLogprobs, let promptScore {
      var list: [JSONValue] = [.null]
      for (i, token) in prompt.dropFirst().enumerated() {
        var alternatives: [String: JSONValue] = [:]
        let top = k > 0 ? (promptScore.topK?[i] ?? []) : []
        for (rank, entry) in top.enumerated() {
          alternatives[String(entry.token)] = [
            "logprob": .number(Double(entry.logprob)), "rank": .number(Double(rank + 1)),
            "decoded_token": .string(Self.piece(entry.token)),
          ]
        }
        if alternatives[String(token)] == nil {
          alternatives[String(token)] = [
            "logprob": .number(Double(promptScore.logprobs[i])), "rank": .null,
            "decoded_token": .string(Self.piece(token)),
          ]
        }
        list.append(.object(alternatives))
      }
      choice["prompt_logprobs"] = .array(list)
    }
    return .object(choice)
  }

  static func logprobsJSON(_ entries: [(token: Int32, logprob: Float?, top: [TokenLogprob]?)]) -> JSONValue {
    var tokens: [JSONValue] = []
    var logprobs: [JSONValue] = []
    var tops: [JSONValue] = []
    var offsets: [JSONValue] = []
    var content: [JSONValue] = []
    var offset = 0
    func bytesJSON(_ token: Int32) -> JSONValue { .array(bytes(token).map { .number(Double($0)) }) }
    for entry in entries {
      tokens.append(.string(piece(entry.token)))
      offsets.append(.number(Double(offset)))
      offset += bytes(entry.token).count
      guard let logprob = entry.logprob else {
        logprobs.append(.null)
        tops.append(.null)
        continue
      }
      logprobs.append(.number(Double(logprob)))
      var top: [String: JSONValue] = [:]
      var topList: [JSONValue] = []
      for alternative in entry.top ?? [] {
        top[piece(alternative.token)] = .number(Double(alternative.logprob))
        topList.append([
          "id": .number(Double(alternative.token)), "token": .string(piece(alternative.token)),
          "bytes": bytesJSON(alternative.token), "logprob": .number(Double(alternative.logprob)),
        ])
      }
      tops.append(.object(top))
      content.append([
        "id": .number(Double(entry.token)), "token": .string(piece(entry.token)),
        "bytes": bytesJSON(entry.token),
        "logprob": .number(Double(logprob)), "top_logprobs": .array(topList),
      ])
    }
    return [
      "tokens": .array(tokens), "token_logprobs": .array(logprobs), "top_logprobs": .array(tops),
      "text_offset": .array(offsets), "content": .array(content),
    ]
  }
}
