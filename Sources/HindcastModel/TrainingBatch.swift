import HindcastKernels
import HindcastSupport

/// One training sequence and the loss terms attached to its positions.
///
/// `tokens` is the whole context (prompt and completion). A term at `position` t uses the logits
/// computed at t, which predict `tokens[t + 1]`; positions without terms contribute nothing.
public struct TrainingSequence: Sendable {
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
}

/// One weighted loss term at one position. The total loss of a batch is the sum over all terms of
/// `weight * loss(term)`; callers choose weights (for example 1 / number of terms) to normalize.
public struct TokenTerm: Sendable {
  public var position: Int
  public var weight: Float
  public var kind: Kind

  public enum Kind: Sendable {
    /// `-log p(target)`.
    case crossEntropy(target: Int32)
  }

  public init(position: Int, weight: Float, kind: Kind) {
    self.position = position
    self.weight = weight
    self.kind = kind
  }
}

/// The result of one `lossAndGradients` call.
public struct LossReport: Sendable {
  /// Sum over terms of weight * loss.
  public var loss: Double
  /// Number of terms evaluated.
  public var terms: Int
  /// Number of tokens the forward pass ran over (B x T, padding included).
  public var tokens: Int
}

extension Transformer {
  /// Runs forward and backward over a batch of sequences, accumulating gradients of the total
  /// weighted loss into `gradients` (call `zeroGradients()` first for a fresh step). Sequences are
  /// right-padded with `<pad>` to the longest one.
  public func lossAndGradients(_ batch: [TrainingSequence]) throws -> LossReport {
    let (tokens, length) = try pack(batch)
    var total = 0.0
    var count = 0
    try forward(tokens: tokens, batch: batch.count, length: length) { _ in }
    try backward { dlogits in
      guard let act = activations else { return }
      let logits = UnsafePointer(act.logits.pointer)
      let v = config.vocabSize
      for (b, sequence) in batch.enumerated() {
        for term in sequence.terms {
          let row = b * length + term.position
          let (loss) = try TermLoss.apply(
            term, logits: logits + row * v, dlogits: dlogits.baseAddress! + row * v, vocab: v)
          total += Double(term.weight) * loss
          count += 1
        }
      }
    }
    return LossReport(loss: total, terms: count, tokens: tokens.count)
  }

  /// Packs sequences into a right-padded `(B, T)` buffer after validating term positions.
  func pack(_ batch: [TrainingSequence]) throws -> (tokens: [Int32], length: Int) {
    guard !batch.isEmpty else { throw HindcastError(.invalidInput, "empty training batch") }
    let length = batch.map { $0.tokens.count }.max() ?? 0
    var tokens = [Int32](repeating: Tokenizer.Special.pad.rawValue, count: batch.count * length)
    for (b, sequence) in batch.enumerated() {
      for term in sequence.terms where term.position < 0 || term.position >= sequence.tokens.count {
        throw HindcastError(
          .invalidInput,
          "loss term at position \(term.position) is outside sequence \(b) of \(sequence.tokens.count) tokens"
        )
      }
      for (i, token) in sequence.tokens.enumerated() { tokens[b * length + i] = token }
    }
    return (tokens, length)
  }
}

/// Loss and logit-gradient of single terms.
enum TermLoss {
  /// Returns the term's unweighted loss and adds `weight * dloss/dlogits` into `dlogits (V)`.
  static func apply(
    _ term: TokenTerm, logits: UnsafePointer<Float>, dlogits: UnsafeMutablePointer<Float>, vocab: Int
  ) throws -> Double {
    switch term.kind {
    case .crossEntropy(let target):
      guard target >= 0 && Int(target) < vocab else {
        throw HindcastError(.invalidInput, "cross-entropy target \(target) is outside the vocabulary")
      }
      var maxValue = -Float.infinity
      for i in 0..<vocab where logits[i] > maxValue { maxValue = logits[i] }
      var sum: Double = 0
      for i in 0..<vocab { sum += Double(expf(logits[i] - maxValue)) }
      let lse = Double(maxValue) + log(sum)
      for i in 0..<vocab {
        let prob = Float(exp(Double(logits[i]) - lse))
        dlogits[i] += term.weight * (prob - (i == Int(target) ? 1 : 0))
      }
      return lse - Double(logits[Int(target)])
    }
  }
}

#if canImport(Glibc)
  import Glibc
#endif
