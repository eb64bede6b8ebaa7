import Foundation
import HindcastSupport

/// How a server can score given tokens, best first.
public enum ScoringRoute: String, Codable, Sendable, CaseIterable {
  /// `/v1/completions` with `echo` and `prompt_logprobs` (vLLM, `hindcast serve`).
  case promptLogprobs = "prompt-logprobs"
  /// `/v1/completions` with `echo` and `logprobs` returning the prompt's log-probs.
  case echo
  /// llama.cpp's `/completion` with a grammar forcing the target token ids, `n_probs`, temperature 0.
  case forcedGrammar = "forced-grammar"
  /// None: scoring is refused with an error naming the missing capability.
  case none
}

/// What a server was found to support, probed once per stage (see `RemoteModel.init`).
public struct RemoteCapabilities: Codable, Sendable, Equatable {
  /// `hindcast`, `llama.cpp`, `vllm` or `openai-compatible` (from `/v1/models`' `owned_by`).
  public var server: String
  /// The model id the requests name.
  public var model: String
  /// The server's context length when it reports one (`max_model_len`, llama.cpp's `/props`).
  public var contextLength: Int?
  public var scoring: ScoringRoute
  /// Whether `/tokenize` answers with token ids.
  public var tokenize: Bool
  /// Whether prompts should be left-padded to align answers (`hindcast serve` of a model with
  /// learned position embeddings reports `aligns_answers: true` in `/v1/models`).
  public var alignsAnswers: Bool = false

  enum CodingKeys: String, CodingKey {
    case server, model, scoring, tokenize
    case alignsAnswers = "aligns_answers"
    case contextLength = "context_length"
  }

  /// One line for logs and manifests: `llama.cpp model=X scoring=forced-grammar`.
  public var summary: String {
    "\(server) model=\(model) scoring=\(scoring.rawValue)" + (contextLength.map { " context=\($0)" } ?? "")
  }

  /// Probes `client`'s server: the model list, `/tokenize`, then each scoring route with a short
  /// request. Fails (after retries) only when the server cannot be reached or lacks `model`.
  public static func probe(_ client: RemoteClient) throws -> RemoteCapabilities {
    let models = try client.getOpenAI("/models")
    let listed = (models["data"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    let model: String
    if let wanted = client.endpoint.model {
      guard listed.isEmpty || listed.contains(wanted) else {
        throw HindcastError(
          .invalidConfig,
          "\(client.context): the server at \(client.endpoint.baseURL) does not serve model '\(wanted)'",
          hint:
            "it serves \(listed.map { "'\($0)'" }.joined(separator: ", ")); set [policy] model to one of them"
        )
      }
      model = wanted
    } else {
      guard let first = listed.first else {
        throw HindcastError(
          .invalidConfig, "\(client.context): \(client.endpoint.baseURL)/models lists no model",
          hint: "set [policy] model")
      }
      model = first
    }
    let card = (models["data"]?.arrayValue ?? []).first { $0["id"]?.stringValue == model }
    let owner = card?["owned_by"]?.stringValue ?? ""
    let server: String
    switch owner {
    case "hindcast": server = "hindcast"
    case "llamacpp", "llama.cpp": server = "llama.cpp"
    case "vllm": server = "vllm"
    default: server = "openai-compatible"
    }
    var contextLength = card?["max_model_len"]?.intValue ?? card?["meta"]?["n_ctx_train"]?.intValue
    if server == "llama.cpp",
      let props = client.probe("GET", client.endpoint.rootURL + "/props", nil),
      let n = props["default_generation_settings"]?["n_ctx"]?.intValue
    {
      contextLength = n
    }
    let tokenized = client.probe(
      "POST", client.endpoint.rootURL + "/tokenize", ["content": "Hello world", "prompt": "Hello world"])
    let probeIds = (tokenized?["tokens"]?.arrayValue ?? []).compactMap(\.intValue)
    let ids: [JSONValue] = (probeIds.count >= 2 ? probeIds : [1, 2, 3]).map { .number(Double($0)) }

    var scoring = ScoringRoute.none
    var echoRequest: [String: JSONValue] = [
      "model": .string(model), "prompt": .array(ids), "max_tokens": 1, "temperature": 0, "echo": true,
      "logprobs": 1, "prompt_logprobs": 1,
    ]
    var echoed = client.probe("POST", client.endpoint.openAIURL + "/completions", .object(echoRequest))
    if echoed == nil {
      // A strict server may refuse the unknown prompt_logprobs field; try echo alone.
      echoRequest["prompt_logprobs"] = nil
      echoed = client.probe("POST", client.endpoint.openAIURL + "/completions", .object(echoRequest))
    }
    let choice = echoed?["choices"]?[0]
    if let prompt = choice?["prompt_logprobs"]?.arrayValue, prompt.count == ids.count {
      scoring = .promptLogprobs
    } else if let echoedLogprobs = choice?["logprobs"]?["token_logprobs"]?.arrayValue,
      echoedLogprobs.count > ids.count
    {
      scoring = .echo
    } else {
      let grammar = "root ::= " + ids.dropFirst().map { "<[\($0.intValue ?? 0)]>" }.joined(separator: " ")
      let forced = client.probe(
        "POST", client.endpoint.rootURL + "/completion",
        [
          "prompt": .array([ids[0]]), "grammar": .string(grammar),
          "n_predict": .number(Double(ids.count - 1)),
          "temperature": 0, "n_probs": 1,
        ])
      let entries = forced?["completion_probabilities"]?.arrayValue ?? []
      let got = entries.prefix(ids.count - 1).compactMap { $0["id"]?.intValue }
      if got == ids.dropFirst().compactMap(\.intValue) { scoring = .forcedGrammar }
    }
    return RemoteCapabilities(
      server: server, model: model, contextLength: contextLength, scoring: scoring,
      tokenize: !probeIds.isEmpty)
  }
}
