import Foundation
import HindcastModel
import HindcastRemote
import HindcastSupport

/// What the pipeline needs from a policy. Stages see only this protocol, never model internals,
/// so another backend (for example an OpenAI-compatible server for generation and scoring) can
/// be added without touching them.
public protocol Policy: AnyObject {
  /// Longest prompt plus continuation the policy accepts, in tokens.
  var contextLength: Int { get }

  /// Whether prompts must be left-padded so answers start at one fixed position: true for models
  /// with learned absolute position embeddings (see `ContextBuilder`), false for rotary ones.
  var alignsAnswers: Bool { get }

  /// Whether `Generation.samplingLogprobs` are exact log-probabilities of the distribution each
  /// token was drawn from (temperature, top-k, top-p applied). The rollout stage stores them as
  /// behaviour log-probs only when they are.
  var reportsSamplingLogprobs: Bool { get }

  /// One continuation per prompt; sequence `i` draws its randomness from `seeds[i]` only.
  func generate(prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64]) throws -> [Generation]

  /// Log-probabilities (and optionally the top-k) of each continuation token given its prompt.
  func score(prompts: [[Int32]], continuations: [[Int32]], topK: Int?) throws -> [ScoredSequence]

  /// How contexts are rendered for a chat model, or nil for the embedded tokenizer's contexts.
  var chatContexts: ChatContexts? { get }

  /// For a served policy, what records and the manifest name it by (backend, server, model,
  /// scoring route, contexts); nil for the embedded model.
  var servedBy: String? { get }

  /// Requests retried so far by this policy (0 for the embedded model).
  var retries: Int { get }
}

extension Policy {
  public var chatContexts: ChatContexts? { nil }
  public var servedBy: String? { nil }
  public var retries: Int { 0 }

  /// The shard metrics of a served policy: `remote_retries`, the retries made since `before`
  /// (`retries` read when the shard started). Empty for the embedded model, whose ledger
  /// entries stay as they were.
  public func retryValues(since before: Int) -> [String: Double] {
    servedBy == nil ? [:] : ["remote_retries": Double(retries - before)]
  }
}

/// The embedded transformer as a `Policy`.
public final class EmbeddedPolicy: Policy {
  public let model: Transformer

  public init(model: Transformer) { self.model = model }

  public var contextLength: Int { model.config.contextLength }

  public var alignsAnswers: Bool { model.config.positionEncoding == .learned }

  /// The embedded sampler computes them from the distribution it draws from.
  public var reportsSamplingLogprobs: Bool { true }

  public func generate(prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64]) throws -> [Generation]
  {
    try Sampler.generate(model: model, prompts: prompts, settings: settings, seeds: seeds)
  }

  public func score(prompts: [[Int32]], continuations: [[Int32]], topK: Int?) throws -> [ScoredSequence] {
    try Scorer.score(model: model, prompts: prompts, continuations: continuations, topK: topK)
  }
}

/// A model served by an OpenAI-compatible server (vLLM, SGLang, llama.cpp, `hindcast serve`) as
/// a `Policy`: `[policy] backend = "openai"` in the spec. Token ids are the server's; capabilities
/// are probed once when the policy is made (one per stage run). See `RemoteModel` for how
/// results are mapped and `docs/llm.md` for the servers it was checked against.
public final class RemotePolicy: Policy {
  public let remote: RemoteModel
  let fallbackContext: Int

  /// Connects for `stage` (named in errors) with the spec's `[policy]` settings; the key, if
  /// any, comes from the environment variable `api_key_env`. `fallbackContext` is used when the
  /// server reports no context length.
  public init(settings: PipelineSpec.PolicyBackend, stage: String, fallbackContext: Int) throws {
    var key: String?
    if let name = settings.apiKeyEnv {
      guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw HindcastError(
          .invalidConfig, "[policy] api_key_env names '\(name)', which is not set in the environment",
          hint: "export \(name)=... before running, or remove api_key_env for a server without keys")
      }
      key = value
    }
    let endpoint = RemoteEndpoint(
      baseURL: settings.baseURL, model: settings.model, apiKey: key, concurrency: settings.concurrency,
      timeoutSeconds: settings.timeoutSeconds, maxRetries: settings.maxRetries,
      backoffSeconds: settings.backoffSeconds)
    remote = try RemoteModel(endpoint: endpoint, context: "stage \(stage)")
    self.fallbackContext = fallbackContext
    if settings.context == .chat {
      let renderer = try RemoteChat(model: remote)
      remote.endOfGeneration = [renderer.endOfTurn]
      chatContexts = ChatContexts(
        renderer: renderer,
        prompts: ChatPrompts(system: settings.system, instruction: settings.instruction))
    } else {
      chatContexts = nil
    }
  }

  /// Chat rendering through the server's template (`[policy] context = "chat"`), or nil.
  public let chatContexts: ChatContexts?

  /// What records and the manifest name as the policy: backend, server, model and contexts, e.g.
  /// `openai llama.cpp model=smollm2 scoring=forced-grammar context=2048 contexts=chat(apply-template)`.
  public var servedBy: String? {
    "openai " + remote.capabilities.summary + " contexts="
      + (chatContexts.map { "chat(\($0.renderer.route.rawValue))" } ?? "tokens")
  }

  public var contextLength: Int { remote.capabilities.contextLength ?? fallbackContext }

  /// Only `hindcast serve` of a model with learned positions asks for aligned answers (it says
  /// so in `/v1/models`); real LLMs use rotary positions.
  public var alignsAnswers: Bool { remote.capabilities.alignsAnswers }

  /// Servers report the untempered distribution's log-probs, not the sampled one's (`RemoteModel`).
  public var reportsSamplingLogprobs: Bool { false }

  /// Retries made by this policy's requests so far (for the ledger).
  public var retries: Int { remote.client.retries }

  public func generate(prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64]) throws -> [Generation]
  {
    try remote.generate(prompts: prompts, settings: settings, seeds: seeds)
  }

  public func score(prompts: [[Int32]], continuations: [[Int32]], topK: Int?) throws -> [ScoredSequence] {
    try remote.score(prompts: prompts, continuations: continuations, topK: topK)
  }
}
