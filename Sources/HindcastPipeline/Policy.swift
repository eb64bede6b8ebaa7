import HindcastModel

/// What the pipeline needs from a policy. Stages see only this protocol, never model internals,
/// so another backend (for example an OpenAI-compatible server for generation and scoring) can
/// be added without touching them.
public protocol Policy: AnyObject {
  /// Longest prompt plus continuation the policy accepts, in tokens.
  var contextLength: Int { get }

  /// Whether prompts must be left-padded so answers start at one fixed position: true for models
  /// with learned absolute position embeddings (see `ContextBuilder`), false for rotary ones.
  var alignsAnswers: Bool { get }

  /// One continuation per prompt; sequence `i` draws its randomness from `seeds[i]` only.
  func generate(prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64]) throws -> [Generation]

  /// Log-probabilities (and optionally the top-k) of each continuation token given its prompt.
  func score(prompts: [[Int32]], continuations: [[Int32]], topK: Int?) throws -> [ScoredSequence]
}

/// The embedded transformer as a `Policy`.
public final class EmbeddedPolicy: Policy {
  public let model: Transformer

  public init(model: Transformer) { self.model = model }

  public var contextLength: Int { model.config.contextLength }

  public var alignsAnswers: Bool { model.config.positionEncoding == .learned }

  public func generate(prompts: [[Int32]], settings: SamplingSettings, seeds: [UInt64]) throws -> [Generation]
  {
    try Sampler.generate(model: model, prompts: prompts, settings: settings, seeds: seeds)
  }

  public func score(prompts: [[Int32]], continuations: [[Int32]], topK: Int?) throws -> [ScoredSequence] {
    try Scorer.score(model: model, prompts: prompts, continuations: continuations, topK: topK)
  }
}
