import HindcastKernels
import HindcastSupport

/// One training sequence and the loss terms attached to its positions.
///
/// `tokens` is the whole context (prompt and completion). A term at `position` t uses the logits
/// computed at t, which predict `tokens[t + 1]`; positions without terms contribute nothing.
public struct TrainingSequence: Sendable, Codable, Equatable {
  public var tokens: [Int32]
  public var terms: [TokenTerm]

  public init(tokens: [Int32], terms: [TokenTerm]) {
    self.tokens = tokens
    self.terms = terms
  }

  /// Cross-entropy on every token after `promptLength`, each with `weight`: the usual supervised
  /// fine-tuning sequence (the prompt is context only).
  public static func supervised(prompt: [Int32], completion: [Int32], weight: Float = 1) -> TrainingSequence {
    let tokens = prompt + completion
    let terms = (0..<completion.count).map { i in
      TokenTerm(position: prompt.count + i - 1, weight: weight, kind: .crossEntropy(target: completion[i]))
    }
    return TrainingSequence(tokens: tokens, terms: terms.filter { $0.position >= 0 })
  }

  /// Self-distillation on a completion the student sampled: completion token i gets
  /// `.divergence(teacher: teachers[i], kind:)` at the position that predicts it, for the first
  /// `coveredTokens` tokens (all when nil; pass `firstError + 1` to stop after the first error).
  /// With `behaviourLogprobs` (the sampler's log-probability of each completion token), each term
  /// carries an `ImportanceWeight` clipped at `importanceClip`, under `sampling` (the transform the
  /// completion was drawn with; `behaviourLogprobs` must be under it too). `teachers` needs at least
  /// `coveredTokens` entries; `behaviourLogprobs`, when given, one per completion token. A token
  /// with no predicting position (an empty prompt's first token) is skipped.
  public static func distillation(
    prompt: [Int32], completion: [Int32], teachers: [TeacherDistribution], kind: DivergenceKind,
    behaviourLogprobs: [Float]? = nil, importanceClip: Float = 2, sampling: SamplingTransform = .identity,
    weight: Float = 1, coveredTokens: Int? = nil
  ) throws -> TrainingSequence {
    let covered = coveredTokens ?? completion.count
    guard (0...completion.count).contains(covered) else {
      throw HindcastError(
        .invalidInput, "distillation covers \(covered) tokens of a completion of \(completion.count)")
    }
    guard teachers.count >= covered else {
      throw HindcastError(
        .invalidInput,
        "distillation has \(teachers.count) teacher distributions for \(covered) covered tokens")
    }
    if let behaviourLogprobs, behaviourLogprobs.count != completion.count {
      throw HindcastError(
        .invalidInput,
        "distillation has \(behaviourLogprobs.count) behaviour log-probabilities for \(completion.count) tokens"
      )
    }
    let terms = (0..<covered).compactMap { i -> TokenTerm? in
      let position = prompt.count + i - 1
      guard position >= 0 else { return nil }
      let importance = behaviourLogprobs.map {
        ImportanceWeight(oldLogprob: $0[i], target: completion[i], clip: importanceClip, sampling: sampling)
      }
      return TokenTerm(
        position: position, weight: weight,
        kind: .divergence(teacher: teachers[i], kind: kind, importance: importance))
    }
    return TrainingSequence(tokens: prompt + completion, terms: terms)
  }

  /// The clipped policy-gradient surrogate on every token of a sampled completion, all with the
  /// sequence's `advantage` (GRPO): `oldLogprobs` holds the sampler's log-probability of each
  /// completion token under `sampling`, the transform it was drawn with. A token with no
  /// predicting position is skipped.
  public static func policyGradient(
    prompt: [Int32], completion: [Int32], advantage: Float, oldLogprobs: [Float], clip: Float = 0.2,
    sampling: SamplingTransform = .identity, weight: Float = 1
  ) throws -> TrainingSequence {
    guard oldLogprobs.count == completion.count else {
      throw HindcastError(
        .invalidInput,
        "policy gradient has \(oldLogprobs.count) old log-probabilities for \(completion.count) tokens")
    }
    let terms = completion.indices.compactMap { i -> TokenTerm? in
      let position = prompt.count + i - 1
      guard position >= 0 else { return nil }
      return TokenTerm(
        position: position, weight: weight,
        kind: .policyGradient(
          target: completion[i], advantage: advantage, oldLogprob: oldLogprobs[i], clip: clip,
          sampling: sampling))
    }
    return TrainingSequence(tokens: prompt + completion, terms: terms)
  }
}

/// One weighted loss term at one position. The total loss of a batch is the sum over all terms of
/// `weight * loss(term)`; callers choose weights (for example 1 / number of terms) to normalize.
/// All log-probabilities are natural logarithms.
public struct TokenTerm: Sendable, Codable, Equatable {
  public var position: Int
  public var weight: Float
  public var kind: Kind

  public enum Kind: Sendable, Codable, Equatable {
    /// `-log p(target)`.
    case crossEntropy(target: Int32)
    /// The PPO / GRPO clipped surrogate for the sampled `target`: with `r = exp(logp(target) -
    /// oldLogprob)`, loss `= -min(r A, clamp(r, 1 - clip, 1 + clip) A)`. The gradient flows through
    /// `logp` and is zero where the clipped branch is the active one. `clip = .infinity` gives the
    /// plain importance-weighted policy gradient. `logp` is the current policy's log-probability
    /// under `sampling`, the transform the token was drawn with, and `oldLogprob` must be the
    /// behaviour log-probability under the same transform (`SamplingTransform` says why and how
    /// truncation is handled); the identity is the model's own distribution.
    case policyGradient(
      target: Int32, advantage: Float, oldLogprob: Float, clip: Float, sampling: SamplingTransform = .identity
    )
    /// A divergence between the stored `teacher` distribution (constant) and the student's, times
    /// the detached importance weight when one is given. See `TeacherDistribution` for how top-k
    /// teachers are compared, and `ImportanceWeight`.
    case divergence(teacher: TeacherDistribution, kind: DivergenceKind, importance: ImportanceWeight?)
  }

  public init(position: Int, weight: Float, kind: Kind) {
    self.position = position
    self.weight = weight
    self.kind = kind
  }
}

/// The result of one `lossAndGradients` or `evaluate` call. Reports of micro-batches can be
/// summed with `merge`.
public struct LossReport: Sendable, Codable, Equatable {
  /// Totals of the terms of one kind.
  public struct Part: Sendable, Codable, Equatable {
    /// Sum over the kind's terms of weight * loss.
    public var loss: Double = 0
    /// Number of the kind's terms.
    public var terms: Int = 0
    /// Sum of the kind's term weights; `loss / weight` is the weighted mean loss per term.
    public var weight: Double = 0

    public init() {}

    /// `loss / weight`, or 0 when no weight was seen.
    public var mean: Double { weight == 0 ? 0 : loss / weight }

    mutating func add(loss termLoss: Double, weight termWeight: Float) {
      loss += Double(termWeight) * termLoss
      terms += 1
      weight += Double(termWeight)
    }

    mutating func merge(_ other: Part) {
      loss += other.loss
      terms += other.terms
      weight += other.weight
    }
  }

  /// Sum over terms of weight * loss (the quantity whose gradient is accumulated).
  public var loss: Double = 0
  /// Number of terms evaluated.
  public var terms: Int = 0
  /// Number of tokens the forward pass ran over (the sequences' own tokens; there is no padding).
  public var tokens: Int = 0
  /// Cross-entropy terms.
  public var crossEntropy = Part()
  /// Policy-gradient terms.
  public var policyGradient = Part()
  /// Divergence terms (their losses include importance weights).
  public var divergence = Part()
  /// Policy-gradient terms whose clipped branch was active (zero gradient): the PPO clip fraction
  /// is `policyClipped / policyGradient.terms`.
  public var policyClipped: Int = 0
  /// Importance-weighted divergence terms whose ratio was clipped.
  public var importanceClipped: Int = 0

  public init() {}

  /// Adds another report's sums and counts to this one.
  public mutating func merge(_ other: LossReport) {
    loss += other.loss
    terms += other.terms
    tokens += other.tokens
    crossEntropy.merge(other.crossEntropy)
    policyGradient.merge(other.policyGradient)
    divergence.merge(other.divergence)
    policyClipped += other.policyClipped
    importanceClipped += other.importanceClipped
  }

  mutating func record(_ term: TokenTerm, _ outcome: TermOutcome) {
    loss += Double(term.weight) * outcome.loss
    terms += 1
    switch term.kind {
    case .crossEntropy: crossEntropy.add(loss: outcome.loss, weight: term.weight)
    case .policyGradient: policyGradient.add(loss: outcome.loss, weight: term.weight)
    case .divergence: divergence.add(loss: outcome.loss, weight: term.weight)
    }
    if outcome.policyClipped { policyClipped += 1 }
    if outcome.importanceClipped { importanceClipped += 1 }
  }
}

extension Transformer {
  /// Runs forward and backward over a batch of sequences, accumulating gradients of the total
  /// weighted loss into `gradients` (call `zeroGradients()` first for a fresh step). Sequences are
  /// packed back to back (`forward(packed:lengths:)`), so each costs its own tokens. Terms are validated before the forward pass
  /// (a teacher's probability mass when it is evaluated); on any error `gradients` is left
  /// unchanged.
  ///
  /// With `trainingThreads` T > 1 (and at least 2 sequences) the step is sharded over T threads;
  /// see `trainingThreads`. Term weights are the caller's, so the loss normalization does not
  /// depend on the sharding.
  public func lossAndGradients(_ batch: [TrainingSequence]) throws -> LossReport {
    let (tokens, lengths) = try pack(batch)
    if trainingThreads > 1 && batch.count > 1 {
      return try shardedLossAndGradients(batch, tokens: tokens, lengths: lengths)
    }
    var report = LossReport()
    try forward(packed: tokens, lengths: lengths, checked: true) { _ in }
    try backward { dlogits in
      guard let act = activations else { return }
      report = try accumulateTerms(
        batch, rowOffsets: act.shape.rowOffsets, logits: UnsafePointer(act.logits.pointer),
        dlogits: dlogits.baseAddress)
    }
    report.tokens = tokens.count
    return report
  }

  /// The losses of a batch without any gradient (`gradients` is not touched): for validation sets
  /// and scoring.
  public func evaluate(_ batch: [TrainingSequence]) throws -> LossReport {
    let (tokens, lengths) = try pack(batch)
    var report = try forward(packed: tokens, lengths: lengths, checked: true) { logits in
      try accumulateTerms(
        batch, rowOffsets: activations?.shape.rowOffsets ?? [], logits: logits.baseAddress!, dlogits: nil)
    }
    report.tokens = tokens.count
    return report
  }

  /// Natural-log probabilities of each next token under the model: for every sequence, entry t is
  /// `log p(tokens[t + 1] | tokens[0...t])`, so a sequence of n tokens gets n - 1 values. The
  /// sequences run as one packed batch and must each have at least one token.
  public func nextTokenLogprobs(_ sequences: [[Int32]]) throws -> [[Float]] {
    guard !sequences.isEmpty else { throw HindcastError(.invalidInput, "no sequences to score") }
    if let empty = sequences.firstIndex(where: { $0.isEmpty }) {
      throw HindcastError(.invalidInput, "sequence \(empty) to score is empty")
    }
    let (tokens, lengths) = try pack(sequences.map { TrainingSequence(tokens: $0, terms: []) })
    let v = config.vocabSize
    return try forward(packed: tokens, lengths: lengths, checked: true) { logits in
      let workspace = LossWorkspace(vocab: v)
      let rowOffsets = activations?.shape.rowOffsets ?? []
      return sequences.enumerated().map { b, sequence in
        (0..<(sequence.count - 1)).map { t in
          workspace.prepare(logits.baseAddress! + (rowOffsets[b] + t) * v)
          return Float(workspace.logprobs[Int(sequence[t + 1])])
        }
      }
    }
  }

  /// Evaluates every term on the packed `logits (N, V)`, sequence b starting at row
  /// `rowOffsets[b]`; adds weighted gradients into `dlogits` if given.
  func accumulateTerms(
    _ batch: [TrainingSequence], rowOffsets: [Int], logits: UnsafePointer<Float>,
    dlogits: UnsafeMutablePointer<Float>?
  ) throws -> LossReport {
    let v = config.vocabSize
    let workspace = LossWorkspace(vocab: v)
    var report = LossReport()
    for (b, sequence) in batch.enumerated() {
      for term in sequence.terms {
        let offset = (rowOffsets[b] + term.position) * v
        let outcome = try TermLoss.apply(
          term, logits: logits + offset, dlogits: dlogits.map { $0 + offset }, workspace: workspace)
        report.record(term, outcome)
      }
    }
    return report
  }

  /// Packs sequences back to back after validating every sequence and term.
  func pack(_ batch: [TrainingSequence]) throws -> (tokens: [Int32], lengths: [Int]) {
    guard !batch.isEmpty else { throw HindcastError(.invalidInput, "empty training batch") }
    var tokens: [Int32] = []
    tokens.reserveCapacity(batch.reduce(0) { $0 + $1.tokens.count })
    var lengths: [Int] = []
    lengths.reserveCapacity(batch.count)
    for (b, sequence) in batch.enumerated() {
      guard !sequence.tokens.isEmpty else {
        throw HindcastError(.invalidInput, "training sequence \(b) has no tokens")
      }
      for term in sequence.terms {
        guard term.position >= 0 && term.position < sequence.tokens.count else {
          throw HindcastError(
            .invalidInput,
            "loss term at position \(term.position) is outside sequence \(b) of \(sequence.tokens.count) tokens"
          )
        }
        try term.validate(vocab: config.vocabSize)
      }
      tokens += sequence.tokens
      lengths.append(sequence.tokens.count)
    }
    try checkPacked(tokens, lengths: lengths)
    return (tokens, lengths)
  }
}
