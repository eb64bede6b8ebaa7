/// A short language critique of one execution: what went wrong, where, and a hint of why. Stored
/// next to the raw execution feedback, never instead of it.
public struct Critique: Codable, Sendable, Equatable {
  /// One short sentence, e.g. "the carry from the ones column was dropped".
  public var text: String
  /// A machine tag from the family's vocabulary (docs/tasks.md), e.g. "dropped-carry".
  public var cause: String
  /// Optional advice, e.g. "7+5=12 carries 1 into the tens column".
  public var hint: String?

  public init(text: String, cause: String, hint: String? = nil) {
    self.text = text
    self.cause = cause
    self.hint = hint
  }

  /// The critique of a passing attempt.
  public static let passed = Critique(text: "correct", cause: "pass")

  /// `text`, then the hint after "; " when there is one: the form put in a model context.
  public var rendered: String {
    guard let hint, !hint.isEmpty else { return text }
    return "\(text); \(hint)"
  }
}

/// Turns an execution result into a critique. Rule-based critics are deterministic; a model
/// critic can conform later. Implementations must not throw or crash on any attempt text.
public protocol Critic: Sendable {
  func critique(task: TaskRecord, attempt: String, result: ExecutionResult) -> Critique
}
