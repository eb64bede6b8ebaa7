import Foundation
import HindcastSupport

/// One message of a chat conversation.
public struct ChatMessage: Sendable, Equatable {
  public enum Role: String, Sendable {
    case system, user, assistant
  }

  public var role: Role
  public var content: String

  public init(_ role: Role, _ content: String) {
    self.role = role
    self.content = content
  }

  /// `{"role": ..., "content": ...}`, as chat APIs and trainers read messages.
  public var json: JSONValue { ["role": .string(role.rawValue), "content": .string(content)] }
}

/// Chat contexts rendered by the server with the model's own chat template, and counted by its
/// tokenizer. Two routes, probed in this order:
/// - `POST /apply-template` (llama.cpp's server, `hindcast serve`) renders the text, then
///   `POST /tokenize` (with `add_special`, as the server's own chat route tokenizes a rendered
///   prompt) counts it;
/// - `POST /tokenize` with `messages` (vLLM's chat form) returns the tokens directly, and
///   `POST /detokenize` gives their text.
/// Nothing about the template is known to Hindcast.
///
/// The end-of-turn token (ChatML's `<|im_end|>`, the embedded model's `<end>`) is found once, when
/// the renderer is made: a conversation `user, assistant "MARK", user` is rendered and the first
/// token of the text that follows `MARK` is the one that closes an assistant turn. Completions
/// of chat prompts end with it (`completion`), and `text` cuts a generation at it.
///
/// The token ids of each conversation are cached (the teacher context's fitting loop renders the
/// same conversation several times); the cache is safe to use from several threads.
public final class RemoteChat: @unchecked Sendable {
  /// How the server renders a conversation.
  public enum Route: String, Sendable {
    /// `/apply-template` for the text, then `/tokenize` (llama.cpp, `hindcast serve`).
    case applyTemplate = "apply-template"
    /// `/tokenize` with `messages` for the tokens, `/detokenize` for the text (vLLM).
    case tokenizeMessages = "tokenize-messages"
  }

  public let model: RemoteModel
  /// The route this server renders conversations through (probed once).
  public let route: Route
  /// The token that closes an assistant turn.
  public let endOfTurn: Int32
  let lock = NSLock()
  var cache: [String: [Int32]] = [:]

  /// Checks that the server renders chat templates and finds the end-of-turn token. Fails with
  /// `.missingPrerequisite` naming the routes when the server has neither `/apply-template` nor
  /// `/tokenize` with messages.
  public init(model: RemoteModel) throws {
    self.model = model
    let marker = "MARK7Q"
    let conversation = [ChatMessage(.user, "x"), ChatMessage(.assistant, marker), ChatMessage(.user, "y")]
    let probe: String
    do {
      probe = try Self.applyTemplate(model: model, conversation, generationPrompt: false)
      route = .applyTemplate
    } catch let missing as HindcastError where missing.code == .missingPrerequisite {
      guard let tokens = try? Self.tokenizeMessages(model: model, conversation, generationPrompt: false),
        let text = try? Self.detokenize(model: model, tokens)
      else { throw missing }
      probe = text
      route = .tokenizeMessages
    }
    guard let range = probe.range(of: marker) else {
      throw HindcastError(
        .missingPrerequisite,
        "\(model.client.context): the chat template of \(model.capabilities.model) drops assistant turns; "
          + "cannot find its end-of-turn token",
        hint: "use [policy] context = \"tokens\" with this model")
    }
    let suffix = String(probe[range.upperBound...])
    let ids = try model.tokenize(suffix)
    guard let first = ids.first else {
      throw HindcastError(
        .missingPrerequisite,
        "\(model.client.context): the chat template of \(model.capabilities.model) closes an assistant turn "
          + "with nothing; cannot find its end-of-turn token",
        hint: "use [policy] context = \"tokens\" with this model")
    }
    endOfTurn = first
  }

  static func applyTemplate(model: RemoteModel, _ messages: [ChatMessage], generationPrompt: Bool) throws
    -> String
  {
    let body: JSONValue = [
      "messages": .array(messages.map(\.json)), "add_generation_prompt": .bool(generationPrompt),
    ]
    let answer: JSONValue
    do {
      answer = try model.client.postRoot("/apply-template", body)
    } catch let error as HindcastError where error.message.contains("HTTP 404") {
      throw HindcastError(
        .missingPrerequisite,
        "\(model.client.context): the server at \(model.client.endpoint.baseURL) (\(model.capabilities.server)) "
          + "has neither /apply-template nor /tokenize with messages, so chat contexts cannot be rendered by "
          + "the model's template",
        hint:
          "serve the model with llama.cpp's server, vLLM or hindcast serve, or use [policy] context = \"tokens\""
      )
    }
    guard let text = answer["prompt"]?.stringValue else {
      throw HindcastError(
        .ioFailure, "\(model.client.context): /apply-template answered without 'prompt'")
    }
    return text
  }

  /// vLLM's chat tokenization: the ids of `messages` rendered by the model's template.
  static func tokenizeMessages(model: RemoteModel, _ messages: [ChatMessage], generationPrompt: Bool) throws
    -> [Int32]
  {
    let answer = try model.client.postRoot(
      "/tokenize",
      [
        "model": .string(model.capabilities.model), "messages": .array(messages.map(\.json)),
        "add_generation_prompt": .bool(generationPrompt), "add_special_tokens": false,
      ])
    return try tokens(in: answer, model: model)
  }

  static func tokens(in answer: JSONValue, model: RemoteModel) throws -> [Int32] {
    guard let list = answer["tokens"]?.arrayValue else {
      throw HindcastError(.ioFailure, "\(model.client.context): /tokenize answered without 'tokens'")
    }
    return list.compactMap(\.intValue).map { Int32($0) }
  }

  /// The prompt text `messages` render to, ending with the assistant's generation prompt.
  public func renderText(_ messages: [ChatMessage]) throws -> String {
    switch route {
    case .applyTemplate: return try Self.applyTemplate(model: model, messages, generationPrompt: true)
    case .tokenizeMessages: return try detokenize(try render(messages))
    }
  }

  /// The token ids of `messages` rendered with the assistant's generation prompt.
  public func render(_ messages: [ChatMessage]) throws -> [Int32] {
    let key = JSONValue.array(messages.map(\.json)).jsonText ?? ""
    if let hit = lock.withLock({ cache[key] }) { return hit }
    let tokens: [Int32]
    switch route {
    case .applyTemplate:
      let text = try Self.applyTemplate(model: model, messages, generationPrompt: true)
      let answer = try model.client.postRoot(
        "/tokenize",
        ["content": .string(text), "prompt": .string(text), "add_special": true, "parse_special": true])
      tokens = try Self.tokens(in: answer, model: model)
    case .tokenizeMessages:
      tokens = try Self.tokenizeMessages(model: model, messages, generationPrompt: true)
    }
    lock.withLock { cache[key] = tokens }
    return tokens
  }

  /// The tokens of an assistant answer `text` as the model writes it: the text and the end-of-turn token.
  public func completion(_ text: String) throws -> [Int32] {
    try model.tokenize(text) + [endOfTurn]
  }

  /// The answer text of generated `tokens`: everything before the first end-of-turn token,
  /// detokenized by the server.
  public func text(_ tokens: [Int32]) throws -> String {
    let answer = tokens.firstIndex(of: endOfTurn).map { Array(tokens[..<$0]) } ?? tokens
    return try detokenize(answer)
  }

  /// The server's text of `tokens`, special tokens included (`POST /detokenize`).
  public func detokenize(_ tokens: [Int32]) throws -> String {
    try Self.detokenize(model: model, tokens)
  }

  static func detokenize(model: RemoteModel, _ tokens: [Int32]) throws -> String {
    if tokens.isEmpty { return "" }
    let answer = try model.client.postRoot(
      "/detokenize", ["model": .string(model.capabilities.model), "tokens": RemoteModel.ids(tokens)])
    guard let text = answer["content"]?.stringValue ?? answer["prompt"]?.stringValue else {
      throw HindcastError(.ioFailure, "\(model.client.context): /detokenize answered without 'content'")
    }
    return text
  }
}
