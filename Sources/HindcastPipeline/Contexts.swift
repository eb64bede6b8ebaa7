import HindcastModel
import HindcastRemote

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
///
/// Chat contexts (`chat`, from a policy with `[policy] context = "chat"`): the same segments are
/// rendered as a conversation through the model's chat template and counted by the server's
/// tokenizer (see `ChatContexts`); they are never aligned. The throwing methods
/// (`studentPrompt`, `teacherPrompt`, `answerTokens`, `answerText`, `contextText`) serve both
/// kinds and are what stages that hold a `Policy` call; `student`, `teacher` and `completion`
/// are the embedded tokenizer's contexts only (pretraining, distillation).
public struct ContextBuilder: Sendable {
  public let contextLength: Int
  /// Tokens kept free for the answer.
  public let reserve: Int
  /// Whether contexts are left-padded so the answer starts at `answerPosition`.
  public let alignsAnswer: Bool
  /// Chat rendering through the server, when the policy asks for it.
  public let chat: ChatContexts?

  public init(contextLength: Int, reserve: Int, alignsAnswer: Bool = true, chat: ChatContexts? = nil) {
    self.contextLength = contextLength
    self.reserve = reserve
    self.alignsAnswer = chat == nil && alignsAnswer
    self.chat = chat
  }

  /// Contexts for `policy`: chat contexts when it renders them, otherwise aligned exactly when
  /// its position encoding needs it.
  public init(policy: Policy, reserve: Int) {
    self.init(
      contextLength: policy.contextLength, reserve: reserve, alignsAnswer: policy.alignsAnswers,
      chat: policy.chatContexts)
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
    fit(hindsight) { attempt, feedback, critique, notes in
      var segments: [(Tokenizer.Special, String)] = [
        (.task, task), (.attempt, attempt), (.feedback, feedback),
      ]
      if let critique { segments.append((.critique, critique)) }
      for note in notes { segments.append((.note, note)) }
      return Tokenizer.encode(segments: segments) + [Tokenizer.Special.answer.rawValue]
    }
  }

  /// The student's prompt for `task`: chat-rendered or the embedded tokens (`student`).
  public func studentPrompt(task: String) throws -> [Int32] {
    guard let chat else { return student(task: task) }
    return try chat.renderer.render(chat.student(task: task))
  }

  /// The teacher's prompt for `task` and the notes that fit: chat-rendered or `teacher`.
  public func teacherPrompt(task: String, hindsight: Hindsight) throws -> (tokens: [Int32], notesKept: Int) {
    guard let chat else { return teacher(task: task, hindsight: hindsight) }
    return try fit(hindsight) { attempt, feedback, critique, notes in
      try chat.renderer.render(
        chat.teacher(
          task: task,
          hindsight: Hindsight(attempt: attempt, feedback: feedback, critique: critique, notes: notes)))
    }
  }

  /// The tokens of an answer as the policy writes it: the text and its end token (`<end>`, or the
  /// chat template's end-of-turn token).
  public func answerTokens(_ text: String) throws -> [Int32] {
    guard let chat else { return Self.completion(text) }
    return try chat.renderer.completion(text)
  }

  /// The answer text of generated tokens: the embedded tokens without special tokens, or the
  /// server's text up to the end-of-turn token.
  public func answerText(_ tokens: [Int32]) throws -> String {
    guard let chat else { return Tokenizer.decodeText(tokens) }
    return try chat.renderer.text(tokens)
  }

  /// A context as readable text, markers and special tokens included (for records).
  public func contextText(_ tokens: [Int32]) throws -> String {
    guard let chat else { return Tokenizer.decode(tokens) }
    return try chat.renderer.detokenize(tokens)
  }

  /// Shortens the hindsight until `render` fits within `contextLength - reserve` tokens: notes go
  /// first (from the last), then the critique, then the feedback is cut from its end. When even
  /// the bare context is too long, its last `contextLength - reserve` tokens are kept.
  func fit(
    _ hindsight: Hindsight,
    render: (_ attempt: String, _ feedback: String, _ critique: String?, _ notes: [String]) throws -> [Int32]
  ) rethrows -> (tokens: [Int32], notesKept: Int) {
    let limit = max(0, contextLength - reserve)
    var notes = hindsight.notes
    var critique = hindsight.critique
    var feedback = hindsight.feedback
    while true {
      let tokens = try render(hindsight.attempt, feedback, critique, notes)
      if tokens.count <= limit || (notes.isEmpty && critique == nil && feedback.isEmpty) {
        return (aligned(Array(tokens.suffix(max(limit, 1)))), notes.count)
      }
      if !notes.isEmpty {
        notes.removeLast()
      } else if critique != nil {
        critique = nil
      } else {
        // Every token is at least one byte, so this never cuts more than the excess.
        feedback = String(feedback.utf8.prefix(max(0, feedback.utf8.count - (tokens.count - limit)))) ?? ""
      }
    }
  }

  /// The tokens of a solution as the policy writes it: the text and `<end>`.
  public static func completion(_ solution: String) -> [Int32] {
    Tokenizer.encode(solution) + [Tokenizer.Special.end.rawValue]
  }
}

/// How contexts are rendered for a chat model (`[policy] context = "chat"`): the conversations of
/// `ChatPrompts`, rendered by the model's own chat template and counted by the server's tokenizer.
public struct ChatContexts: Sendable {
  public let renderer: RemoteChat
  public let prompts: ChatPrompts

  public init(renderer: RemoteChat, prompts: ChatPrompts) {
    self.renderer = renderer
    self.prompts = prompts
  }

  func student(task: String) -> [ChatMessage] { prompts.student(task: task) }

  func teacher(task: String, hindsight: ContextBuilder.Hindsight) -> [ChatMessage] {
    prompts.teacher(task: task, hindsight: hindsight)
  }
}

/// The conversations of chat contexts: one user turn, optionally after a system message.
///
///     student user turn:  INSTRUCTION TASK
///     teacher user turn:  INSTRUCTION TASK
///
///                         Your previous attempt:
///                         ATTEMPT
///
///                         Feedback on it:
///                         FEEDBACK
///
///                         Critique:            (when shown)
///                         CRITIQUE
///
///                         Notes:               (the sibling and memory notes, when shown)
///                         - NOTE
///
///                         Answer the task again.
///
/// The feedback, critique, sibling and notes are privileged context: only the teacher sees them.
public struct ChatPrompts: Sendable, Equatable {
  /// The system message, if any (`[policy] system`); none keeps the template's default.
  public var system: String?
  /// Text before the task in the user turn (`[policy] instruction`), e.g. the answer format.
  public var instruction: String

  public init(system: String?, instruction: String) {
    self.system = system
    self.instruction = instruction
  }

  /// The prompts a spec's `[policy]` keys choose.
  public init(spec: PipelineSpec) {
    self.init(system: spec.policy.system, instruction: spec.policy.instruction)
  }

  /// The student's conversation.
  public func student(task: String) -> [ChatMessage] {
    conversation(instruction + task)
  }

  /// The teacher's conversation: the task and the privileged context in the user turn.
  public func teacher(task: String, hindsight: ContextBuilder.Hindsight) -> [ChatMessage] {
    conversation(instruction + task + privileged(hindsight))
  }

  /// The part of the teacher's user turn that follows the task.
  public func privileged(_ hindsight: ContextBuilder.Hindsight) -> String {
    var text = "\n\nYour previous attempt:\n" + hindsight.attempt
    text += "\n\nFeedback on it:\n" + hindsight.feedback
    if let critique = hindsight.critique { text += "\n\nCritique:\n" + critique }
    if !hindsight.notes.isEmpty {
      text += "\n\nNotes:" + hindsight.notes.map { "\n- " + $0 }.joined()
    }
    return text + "\n\nAnswer the task again."
  }

  func conversation(_ user: String) -> [ChatMessage] {
    (system.map { [ChatMessage(.system, $0)] } ?? []) + [ChatMessage(.user, user)]
  }
}
