import Foundation
import HindcastModel
import HindcastSupport

/// The embedded model behind an OpenAI-compatible API subset: `GET /health`, `GET /v1/models`,
/// `POST /v1/completions`, `POST /tokenize`, `POST /detokenize`, `POST /apply-template`.
///
/// Completions follow the legacy OpenAI layout (`choices[i].text`, `logprobs.tokens`,
/// `token_logprobs`, `top_logprobs`, `text_offset`) and add what a client needs to map results
/// by token id rather than position: `choices[i].token_ids` (vLLM's `return_token_ids` field),
/// `logprobs.content` entries `{id, token, bytes, logprob, top_logprobs}` (llama.cpp's layout),
/// and, when asked, `prompt_token_ids` and `prompt_logprobs` (vLLM's layout: one entry per prompt
/// token, the first null). Choice `i * n + j` is sample `j` of prompt `i`, drawn with the seed
/// `SeedDerivation.derive(seed, [i, j])`, so results equal `Sampler.sample` with the same seed.
/// Generated tokens include the stop token `<end>` (with its log-prob) but the text does not.
/// Log-probs are the untempered model's (temperature 1, no top-k/top-p).
///
/// The model is used by one request at a time (it is not thread-safe); requests queue for it.
public final class CompletionService: @unchecked Sendable {
  public let model: Transformer
  /// The name `/v1/models` reports and requests may name.
  public let modelName: String
  let lock = NSLock()

  public init(model: Transformer, modelName: String) {
    self.model = model
    self.modelName = modelName
  }

  /// Routes one request. Never throws: failures become JSON errors (4xx for the client's, 500 for ours).
  public func handle(_ request: HTTPRequest) -> HTTPResponse {
    switch (request.method, request.path) {
    case ("GET", "/health"):
      return .json(["status": "ok"])
    case ("GET", "/v1/models"):
      return .json([
        "object": "list",
        "data": [
          [
            "id": .string(modelName), "object": "model", "created": 0, "owned_by": "hindcast",
            "max_model_len": .number(Double(model.config.contextLength)),
            "aligns_answers": .bool(model.config.positionEncoding == .learned),
          ]
        ],
      ])
    case ("POST", "/v1/completions"):
      return respond { try completions(request.body) }
    case ("POST", "/tokenize"):
      return respond { try tokenize(request.body) }
    case ("POST", "/detokenize"):
      return respond { try detokenize(request.body) }
    case ("POST", "/apply-template"):
      return respond { try applyTemplate(request.body) }
    case (_, "/health"), (_, "/v1/models"), (_, "/v1/completions"), (_, "/tokenize"), (_, "/detokenize"),
      (_, "/apply-template"):
      return .error(405, "method \(request.method) is not allowed on \(request.path)")
    case (_, "/v1/chat/completions"):
      return .error(
        404, "the embedded model has no chat template; use /v1/completions with segment markers in the prompt"
      )
    default:
      return .error(
        404,
        "no route \(request.path); served: /health, /v1/models, /v1/completions, /tokenize, /detokenize, "
          + "/apply-template")
    }
  }

  func respond(_ body: () throws -> JSONValue) -> HTTPResponse {
    do {
      return .json(try body())
    } catch let error as RequestError {
      var response: [String: JSONValue] = [
        "message": .string(error.message), "type": "invalid_request_error",
        "code": .number(Double(error.status)),
      ]
      if let param = error.param { response["param"] = .string(param) }
      return .json(["error": .object(response)], status: error.status)
    } catch {
      return .error(500, "internal error: \(error)", type: "server_error")
    }
  }

  func tokenize(_ body: [UInt8]) throws -> JSONValue {
    guard let fields = (try? JSONValue(parsing: body))?.objectValue else {
      throw RequestError("the request body must be a JSON object")
    }
    let text: String
    if fields["messages"] != nil {
      // vLLM's chat form: the conversation rendered by the template, then tokenized.
      text = try renderTemplate(
        fields, known: ["messages", "add_generation_prompt", "model", "add_special_tokens"])
    } else if let plain = (fields["content"] ?? fields["prompt"])?.stringValue {
      text = plain
    } else {
      throw RequestError(
        "give the text to tokenize as 'content' (llama.cpp) or 'prompt' (vLLM), or a conversation as "
          + "'messages' (vLLM)", param: "content")
    }
    let tokens = Tokenizer.encodeMarked(text)
    return [
      "tokens": .array(tokens.map { .number(Double($0)) }), "count": .number(Double(tokens.count)),
      "max_model_len": .number(Double(model.config.contextLength)),
    ]
  }

  func detokenize(_ body: [UInt8]) throws -> JSONValue {
    guard let fields = (try? JSONValue(parsing: body))?.objectValue, let list = fields["tokens"]?.arrayValue
    else {
      throw RequestError("give the token ids to render as 'tokens'", param: "tokens")
    }
    let ids = try list.map { item -> Int32 in
      guard let id = item.intValue, (0..<model.config.vocabSize).contains(id) else {
        throw RequestError("'tokens' must be ids in 0..<\(model.config.vocabSize)", param: "tokens")
      }
      return Int32(id)
    }
    return ["content": .string(Tokenizer.decode(ids)), "prompt": .string(Tokenizer.decode(ids))]
  }

  /// llama.cpp's `/apply-template`: `{"messages": [{role, content}...], "add_generation_prompt":
  /// true}` → `{"prompt": text}`, rendered with the embedded model's own template, written with
  /// the segment markers literal (as `/tokenize` reads them):
  ///
  ///     user       <task>CONTENT        (a system message's content and "\n\n" come first)
  ///     assistant  <answer>CONTENT<end>
  ///     generation prompt: <answer>
  ///
  /// A student chat context is then exactly the embedded student context `<task>TASK<answer>`.
  /// `/tokenize` with `messages` (vLLM's chat form) renders the same text and returns its tokens.
  func applyTemplate(_ body: [UInt8]) throws -> JSONValue {
    guard let fields = (try? JSONValue(parsing: body))?.objectValue else {
      throw RequestError("the request body must be a JSON object")
    }
    return ["prompt": .string(try renderTemplate(fields, known: ["messages", "add_generation_prompt"]))]
  }

  /// The text of a request's `messages` under the template above; `known` are the fields the
  /// route accepts (any other is a 400).
  func renderTemplate(_ fields: [String: JSONValue], known: Set<String>) throws -> String {
    guard let messages = fields["messages"]?.arrayValue else {
      throw RequestError("give the conversation as 'messages', a list of {role, content}", param: "messages")
    }
    if let extra = fields.keys.sorted().first(where: { !known.contains($0) }) {
      throw RequestError("unknown field '\(extra)'", param: extra)
    }
    var generationPrompt = true
    if let flag = fields["add_generation_prompt"] {
      guard case .bool(let value) = flag else {
        throw RequestError("'add_generation_prompt' must be true or false", param: "add_generation_prompt")
      }
      generationPrompt = value
    }
    var text = ""
    var system = ""
    for (i, message) in messages.enumerated() {
      guard let role = message["role"]?.stringValue, let content = message["content"]?.stringValue else {
        throw RequestError("messages[\(i)] needs a string 'role' and a string 'content'", param: "messages")
      }
      switch role {
      case "system": system += content + "\n\n"
      case "user":
        text += "<task>" + system + content
        system = ""
      case "assistant": text += "<answer>" + content + "<end>"
      default:
        throw RequestError(
          "messages[\(i)] has role '\(role)'; this template knows system, user and assistant",
          param: "messages")
      }
    }
    if generationPrompt { text += "<answer>" }
    return text
  }

  func completions(_ body: [UInt8]) throws -> JSONValue {
    let request = try CompletionRequest(body: body, vocabSize: model.config.vocabSize)
    if let name = request.model, name != modelName {
      throw RequestError(
        "model '\(name)' is not served; this server has '\(modelName)'", param: "model", status: 404)
    }
    let context = model.config.contextLength
    // A prompt may fill the context: it gets no generated tokens, and echo still scores it.
    for (i, prompt) in request.prompts.enumerated() where prompt.count > context {
      throw RequestError(
        "prompt \(i) has \(prompt.count) tokens; this model's maximum context length is \(context)",
        param: "prompt")
    }
    let base = request.seed ?? UInt64.random(in: 0...UInt64.max)
    var prompts: [[Int32]] = []
    var seeds: [UInt64] = []
    for (i, prompt) in request.prompts.enumerated() {
      for j in 0..<request.n {
        prompts.append(prompt)
        seeds.append(SeedDerivation.derive(base, [UInt64(i), UInt64(j)]))
      }
    }
    let wantTop = max(request.logprobs ?? 0, request.promptLogprobs ?? 0)
    let needPromptScores = request.promptLogprobs != nil || (request.echo && request.logprobs != nil)
    var generations: [Generation] = []
    var promptScores: [ScoredSequence] = []
    try lock.withLock {
      if request.maxTokens > 0 {
        // The longest prompt bounds max_tokens only through the context: each sequence stops there.
        let settings = SamplingSettings(
          temperature: request.temperature, topK: request.topK, topP: request.topP,
          maxNewTokens: request.maxTokens, returnTopK: (request.logprobs ?? 0) > 0 ? request.logprobs : nil)
        generations = try Sampler.generate(model: model, prompts: prompts, settings: settings, seeds: seeds)
      }
      if needPromptScores {
        promptScores = try Scorer.score(
          model: model, prompts: request.prompts.map { [$0[0]] },
          continuations: request.prompts.map { Array($0.dropFirst()) },
          topK: wantTop > 0 ? wantTop : nil)
      }
    }
    var choices: [JSONValue] = []
    var completionTokens = 0
    for index in 0..<prompts.count {
      let promptIndex = index / request.n
      let generation = generations.isEmpty ? nil : generations[index]
      let choice = ChoiceBuilder(
        request: request, promptIndex: promptIndex, generation: generation,
        promptScore: promptScores.isEmpty ? nil : promptScores[promptIndex])
      completionTokens += generation?.tokens.count ?? 0
      choices.append(choice.json(index: index))
    }
    let promptTokens = request.prompts.reduce(0) { $0 + $1.count }
    return [
      "id": .string("cmpl-\(base)"), "object": "text_completion",
      "created": .number(Double(Int(Date().timeIntervalSince1970))),
      "model": .string(modelName), "choices": .array(choices),
      "usage": [
        "prompt_tokens": .number(Double(promptTokens)),
        "completion_tokens": .number(Double(completionTokens)),
        "total_tokens": .number(Double(promptTokens + completionTokens)),
      ],
    ]
  }
}
