import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The map from a model's next-token distribution to the distribution a sampler actually draws
/// from: softmax(logits / temperature), restricted to the `topK` most likely tokens, then to the
/// smallest prefix (descending probability, ties by lower id) whose mass reaches `topP` of what
/// the top-k kept, renormalized. Temperature 0 is greedy decoding: all mass on the most likely
/// token (ties to the lower id), so the chosen token has log-probability 0 and every other token
/// -infinity. `identity` (temperature 1, no truncation) is the model's own distribution.
///
/// Why the training side applies the same map (importance ratios): a rollout's behaviour
/// log-probability is `log q_old(y)` under the transformed distribution it was drawn from, so the
/// ratio that corrects for off-policy data is `q_new(y) / q_old(y)` with `q_new` the *same*
/// transform of the current logits. The kept set of top-k / top-p is recomputed from the current
/// logits, not stored: on the same weights it is the sampler's set, so the ratio is exactly 1 up
/// to float rounding; afterwards it is the ratio of the distributions the old and the current
/// policy would sample from. A token the current policy would no longer keep has ratio 0 (it
/// cannot be sampled), which gives its policy-gradient and importance-weighted terms no gradient.
/// The set is piecewise constant in the logits, so the gradient of `log q(y)` is, almost
/// everywhere, `(onehot(y) - q) / temperature` with `q` zero outside the kept set; greedy
/// log-probabilities are piecewise constant and have no gradient. The two sides compute the set
/// with different float arithmetic (the sampler in float from its cached decode, training in
/// double from the packed forward pass), so a token within rounding of the top-k or top-p
/// boundary can be kept by one and not the other: that is the "float rounding" of the claim.
public struct SamplingTransform: Codable, Sendable, Equatable, Hashable {
  /// 0 (greedy) or a finite value >= 0.001.
  public var temperature: Float
  /// Keep only the k most likely tokens (k >= 1); nil keeps all.
  public var topK: Int?
  /// Nucleus mass in (0, 1]; nil or 1 keeps all.
  public var topP: Float?

  public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil) {
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
  }

  /// The transform `settings` sample with.
  public init(settings: SamplingSettings) {
    self.init(temperature: settings.temperature, topK: settings.topK, topP: settings.topP)
  }

  /// The model's own distribution: temperature 1, no truncation.
  public static let identity = SamplingTransform()

  /// Temperature 1 without top-k or top-p (a top-p of 1 keeps everything).
  public var isIdentity: Bool { temperature == 1 && topK == nil && (topP ?? 1) >= 1 }

  public var isGreedy: Bool { temperature == 0 }

  /// Whether top-k or top-p can drop tokens of a vocabulary of `vocab`.
  public func truncates(vocab: Int) -> Bool {
    (topK.map { $0 < vocab } ?? false) || (topP.map { $0 < 1 } ?? false)
  }

  enum CodingKeys: String, CodingKey {
    case temperature
    case topK = "top_k"
    case topP = "top_p"
  }

  /// Rejects values no sampler uses, naming the field.
  public func validate() throws {
    guard temperature == 0 || (temperature.isFinite && temperature >= 0.001) else {
      throw HindcastError(
        .invalidInput, "sampling temperature \(temperature) must be 0 (greedy) or a finite value >= 0.001")
    }
    if let topK, topK < 1 {
      throw HindcastError(.invalidInput, "sampling top_k \(topK) must be at least 1")
    }
    if let topP, !(topP > 0 && topP <= 1) {
      throw HindcastError(.invalidInput, "sampling top_p \(topP) must be in (0, 1]")
    }
  }

  /// Writes the log-probabilities of every token of `logits (V)` under the transformed
  /// distribution into `logprobs (V)` (natural log, -infinity for tokens it drops) and the
  /// probabilities into `probs (V)` (0 for dropped tokens), in double. `order (V)` is scratch.
  /// The training side's implementation (`LossWorkspace`); the sampler's, in float, is
  /// `TokenChooser`.
  func apply(
    logits: UnsafePointer<Float>, vocab: Int, logprobs: UnsafeMutablePointer<Double>,
    probs: UnsafeMutablePointer<Double>, order: UnsafeMutablePointer<Int32>
  ) {
    var best = 0
    for i in 1..<vocab where logits[i] > logits[best] { best = i }
    if isGreedy {
      for i in 0..<vocab {
        logprobs[i] = i == best ? 0 : -.infinity
        probs[i] = i == best ? 1 : 0
      }
      return
    }
    let shift = Double(logits[best])
    let inverseTemperature = 1 / Double(temperature)
    // Scaled logits, then their exponentials (the unnormalized tempered weights).
    for i in 0..<vocab {
      logprobs[i] = (Double(logits[i]) - shift) * inverseTemperature
      probs[i] = exp(logprobs[i])
    }
    var keptCount = vocab
    if truncates(vocab: vocab) {
      for i in 0..<vocab { order[i] = Int32(i) }
      var buffer = UnsafeMutableBufferPointer(start: order, count: vocab)
      buffer.sort { a, b in
        let (la, lb) = (logits[Int(a)], logits[Int(b)])
        return la > lb || (la == lb && a < b)
      }
      keptCount = min(topK ?? vocab, vocab)
      if let topP, topP < 1 {
        var keptMass = 0.0
        for n in 0..<keptCount { keptMass += probs[Int(order[n])] }
        var cumulative = 0.0
        for n in 0..<keptCount {
          cumulative += probs[Int(order[n])]
          if cumulative >= Double(topP) * keptMass {
            keptCount = n + 1
            break
          }
        }
      }
      // Tokens past the kept prefix get no mass.
      for n in keptCount..<vocab {
        probs[Int(order[n])] = 0
        logprobs[Int(order[n])] = -.infinity
      }
    }
    var total = 0.0
    for i in 0..<vocab { total += probs[i] }
    let logTotal = log(total)
    let inverseTotal = 1 / total
    for i in 0..<vocab {
      logprobs[i] -= logTotal
      probs[i] *= inverseTotal
    }
  }
}
