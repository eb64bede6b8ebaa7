import HindcastModel
import HindcastSupport

/// A `/v1/completions` request, parsed and checked. Field names and defaults follow the OpenAI
/// API (and vLLM's extensions `top_k`, `prompt_logprobs`, `return_token_ids`): a prompt is a
/// string, a list of strings, a list of token ids or a list of such lists; text is tokenized with
/// segment markers written literally (`<task>47+85<answer>`, see `Tokenizer.encodeMarked`).
struct CompletionRequest {
  /// Largest `logprobs` / `prompt_logprobs` accepted (the OpenAI API's limit).
  static let maxLogprobs = 20
  /// Largest `n` accepted.
  static let maxChoices = 64

  var model: String?
  var prompts: [[Int32]]
  /// The prompt as text (echo prepends it to each choice's text).
  var promptTexts: [String]
  var n = 1
  var temperature: Float = 1
  var topP: Float?
  var topK: Int?
  var maxTokens = 16
  var stop: [String] = []
  var seed: UInt64?
  var logprobs: Int?
  var echo = false
  var promptLogprobs: Int?

  /// Parses a request body; every problem becomes a `RequestError` naming the field.
  init(body: [UInt8], vocabSize: Int) throws {
    let json: JSONValue
    do {
      json = try JSONValue(parsing: body)
    } catch {
      throw RequestError("the request body is not valid JSON")
    }
    guard let fields = json.objectValue else { throw RequestError("the request body must be a JSON object") }
    let known: Set<String> = [
      "model", "prompt", "n", "temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "logprobs",
      "echo", "prompt_logprobs", "return_token_ids", "stream", "user", "best_of", "presence_penalty",
      "frequency_penalty",
    ]
    if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
      throw RequestError("unknown field '\(unknown)'", param: unknown)
    }
    if let stream = fields["stream"], stream.boolValue == true {
      throw RequestError("streaming is not supported; leave 'stream' false", param: "stream")
    }
    for penalty in ["presence_penalty", "frequency_penalty"] {
      if let value = fields[penalty], !value.isNull, value.doubleValue != 0 {
        throw RequestError("'\(penalty)' is not supported; leave it 0", param: penalty)
      }
    }
    if let bestOf = fields["best_of"], !bestOf.isNull, bestOf.intValue != 1 {
      throw RequestError("'best_of' other than 1 is not supported", param: "best_of")
    }
    model = fields["model"]?.stringValue
    (prompts, promptTexts) = try Self.parsePrompt(fields["prompt"], vocabSize: vocabSize)
    n = try Self.int(fields, "n", in: 1...Self.maxChoices) ?? 1
    if let value = try Self.number(fields, "temperature") {
      guard value == 0 || (value >= 0.001 && value <= 100) else {
        throw RequestError(
          "'temperature' must be 0 (greedy) or in [0.001, 100]; got \(value)", param: "temperature")
      }
      temperature = Float(value)
    }
    if let value = try Self.number(fields, "top_p") {
      guard value > 0 && value <= 1 else {
        throw RequestError("'top_p' must be in (0, 1]; got \(value)", param: "top_p")
      }
      topP = value == 1 ? nil : Float(value)
    }
    if let value = try Self.int(fields, "top_k", in: -1...vocabSize) { topK = value <= 0 ? nil : value }
    maxTokens = try Self.int(fields, "max_tokens", in: 0...1_000_000) ?? 16
    if let stop = fields["stop"], !stop.isNull {
      if let one = stop.stringValue {
        self.stop = [one]
      } else if let list = stop.arrayValue, list.count <= 4, list.allSatisfy({ $0.stringValue != nil }) {
        self.stop = list.compactMap(\.stringValue)
      } else {
        throw RequestError("'stop' must be a string or a list of at most 4 strings", param: "stop")
      }
      if self.stop.contains("") { throw RequestError("'stop' strings must not be empty", param: "stop") }
    }
    if let value = fields["seed"], !value.isNull {
      guard let number = value.doubleValue, number == number.rounded(), abs(number) <= 9_007_199_254_740_992
      else {
        throw RequestError("'seed' must be an integer", param: "seed")
      }
      seed = UInt64(bitPattern: Int64(number))
    }
    logprobs = try Self.int(fields, "logprobs", in: 0...Self.maxLogprobs)
    if let value = fields["echo"], !value.isNull {
      guard let flag = value.boolValue else {
        throw RequestError("'echo' must be true or false", param: "echo")
      }
      echo = flag
    }
    promptLogprobs = try Self.int(fields, "prompt_logprobs", in: 0...Self.maxLogprobs)
    if maxTokens == 0 && !echo && promptLogprobs == nil {
      throw RequestError(
        "'max_tokens' 0 needs 'echo' or 'prompt_logprobs' (otherwise there is nothing to return)",
        param: "max_tokens")
    }
  }

  static func parsePrompt(_ value: JSONValue?, vocabSize: Int) throws -> ([[Int32]], [String]) {
    guard let value, !value.isNull else { throw RequestError("'prompt' is required", param: "prompt") }
    func ids(_ list: [JSONValue]) throws -> [Int32] {
      try list.map { item in
        guard let id = item.intValue, (0..<vocabSize).contains(id) else {
          throw RequestError("'prompt' token ids must be integers in 0..<\(vocabSize)", param: "prompt")
        }
        return Int32(id)
      }
    }
    var prompts: [[Int32]] = []
    if let text = value.stringValue {
      prompts = [Tokenizer.encodeMarked(text)]
    } else if let list = value.arrayValue, !list.isEmpty {
      if list.allSatisfy({ $0.stringValue != nil }) {
        prompts = list.compactMap(\.stringValue).map(Tokenizer.encodeMarked)
      } else if list.allSatisfy({ $0.doubleValue != nil }) {
        prompts = [try ids(list)]
      } else if list.allSatisfy({ $0.arrayValue != nil }) {
        prompts = try list.compactMap(\.arrayValue).map(ids)
      } else {
        throw RequestError(
          "'prompt' must be a string, a list of strings, a list of token ids or a list of such lists",
          param: "prompt")
      }
    } else {
      throw RequestError("'prompt' must be a non-empty string or list", param: "prompt")
    }
    if prompts.contains(where: \.isEmpty) {
      throw RequestError("a prompt is empty: give at least one token", param: "prompt")
    }
    return (prompts, prompts.map(Tokenizer.decode))
  }

  static func number(_ fields: [String: JSONValue], _ key: String) throws -> Double? {
    guard let value = fields[key], !value.isNull else { return nil }
    guard let number = value.doubleValue, number.isFinite else {
      throw RequestError("'\(key)' must be a number", param: key)
    }
    return number
  }

  static func int(_ fields: [String: JSONValue], _ key: String, in range: ClosedRange<Int>) throws -> Int? {
    guard let number = try number(fields, key) else { return nil }
    guard number == number.rounded(), let value = Int(exactly: number), range.contains(value) else {
      throw RequestError(
        "'\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound); got \(number)", param: key)
    }
    return value
  }
}

/// A bad request: answered with HTTP `status` and an OpenAI-style error naming `param`.
struct RequestError: Error {
  var message: String
  var param: String?
  var status: Int
  init(_ message: String, param: String? = nil, status: Int = 400) {
    self.message = message
    self.param = param
    self.status = status
  }
}
