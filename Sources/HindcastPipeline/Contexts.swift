import HindcastModel

/// Builds the token contexts the policy sees. One place decides the segment order, so pretraining,
/// the rewrite stage, `gap` and eval always agree:
///
///     student:  <task>TASK<answer>                                   -> SOLUTION<end>
///     teacher:  <task>TASK<attempt>A<feedback>F<critique>C<note>N...<answer> -> SOLUTION<end>
///
/// A teacher context that would not leave `reserve` tokens for the answer inside the model's
/// context is shortened: notes go first, then the critique, then the feedback is cut.
///
/// Answer alignment (`alignsAnswer`): student and teacher contexts are left-padded with `<pad>` to
/// exactly `answerPosition` tokens, so the solution always occupies the same absolute positions.
/// A model with learned absolute position embeddings needs it: with unaligned contexts a direct
/// answer sits at positions ~8-40 and a revision answer at ~100-170, the skill has to be learned
/// twice and the feedback try is worse than a plain resample (docs/base-policy.md). A model with
/// rotary position embeddings sees only relative positions and needs no alignment, so its
/// contexts hold only real tokens (`init(policy:reserve:)` and `init(config:reserve:)` choose by
/// the model's position encoding). A student prompt longer than `answerPosition` is left as it is.
public struct ContextBuilder: Sendable {
  public let contextLength: Int
  /// Tokens kept free for the answer.
  public let reserve: Int
  /// Whether contexts are left-padded so the answer starts at `answerPosition`.
  public let alignsAnswer: Bool

  public init(contextLength: Int, reserve: Int, alignsAnswer: Bool = true) {
    self.contextLength = contextLength
    self.reserve = reserve
    self.alignsAnswer = alignsAnswer
  }

  /// Contexts for `policy`: aligned exactly when its position encoding needs it.
  public init(policy: Policy, reserve: Int) {
    self.init(contextLength: policy.contextLength, reserve: reserve, alignsAnswer: policy.alignsAnswers)
  }

  /// Contexts for a model of `config`: aligned exactly when it has learned absolute positions.
  public init(config: ModelConfig, reserve: Int) {
    self.init(
      contextLength: config.contextLength, reserve: reserve, alignsAnswer: config.positionEncoding == .learned
    )
  }

  /// The length of every aligned prompt: the position of the answer's first token.
  public var answerPosition: Int { max(1, contextLength - reserve) }

  /// `prompt` left-padded with `<pad>` to `answerPosition` tokens when aligning.
  func aligned(_ prompt: [Int32]) -> [Int32] {
    guard alignsAnswer, prompt.count < answerPosition else { return prompt }
    return [Int32](repeating: Tokenizer.Special.pad.rawValue, count: answerPosition - prompt.count) + prompt
  }

  /// The privileged information a teacher sees about one attempt.
  public struct Hindsight: Sendable, Equatable {
    public var attempt: String
    public var feedback: String
    public var critique: String?
    public var notes: [String]

    public init(attempt: String, feedback: String, critique: String?, notes: [String] = []) {
      self.attempt = attempt
      self.feedback = feedback
      self.critique = critique
      self.notes = notes
    }
  }

  public func student(task: String) -> [Int32] {
    aligned(Tokenizer.encode(segments: [(.task, task)]) + [Tokenizer.Special.answer.rawValue])
  }

  /// The teacher context and the notes that actually fit (a prefix of `hindsight.notes`).
  public func teacher(task: String, hindsight: Hindsight) -> (tokens: [Int32], notesKept: Int) {
    let limit = max(0, contextLength - reserve)
    var notes = hindsight.notes
    var critique = hindsight.critique
    var feedback = hindsight.feedback
    while true {
      var segments: [(Tokenizer.Special, String)] = [
        (.task, task), (.attempt, hindsight.attempt), (.feedback, feedback),
      ]
      if let critique { segments.append((.critique, critique)) }
      for note in notes { segments.append((.note, note)) }
      let tokens = Tokenizer.encode(segments: segments) + [Tokenizer.Special.answer.rawValue]
      if tokens.count <= limit || (notes.isEmpty && critique == nil && feedback.isEmpty) {
        return (aligned(Array(tokens.suffix(max(limit, 1)))), notes.count)
      }
      if !notes.isEmpty {
        notes.removeLast()
      } else if critique != nil {
        critique = nil
      } else {
        feedback = String(feedback.utf8.prefix(max(0, feedback.utf8.count - (tokens.count - limit)))) ?? ""
      }
    }
  }

  /// The tokens of a solution as the policy writes it: the text and `<end>`.
  public static func completion(_ solution: String) -> [Int32] {
    Tokenizer.encode(solution) + [Tokenizer.Special.end.rawValue]
  }
}
