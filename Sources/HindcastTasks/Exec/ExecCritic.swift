import HindcastSupport

/// Critiques exec results. A checker may supply its own critique (`"critique": {"text", "cause",
/// "hint"}` or a string) and it is used as is; otherwise the critique follows from the kind of
/// failure and the first line of the feedback. Deterministic.
///
/// Causes: pass, the checker's own causes, time-limit, memory-limit, output-limit,
/// file-size-limit, process-limit, checker-error, syntax-error, runtime-error, failing-test,
/// wrong-answer, other.
public struct ExecCritic: Critic {
  public init() {}

  public func critique(task: TaskRecord, attempt: String, result: ExecutionResult) -> Critique {
    if result.passed { return .passed }
    if attempt.allSatisfy(\.isWhitespace) && !result.kind.isInfrastructureFailure {
      return Critique(text: "the attempt is empty", cause: "empty-attempt", hint: "write a solution")
    }
    if let provided = Self.checkerCritique(result.details.checker?["critique"]) { return provided }
    let firstLine = FeedbackText.clip(
      String(result.feedback.split(whereSeparator: \.isNewline).first ?? ""), limit: 120)
    switch result.kind {
    case .timeLimit:
      return Critique(
        text: "the program did not finish in time", cause: "time-limit",
        hint: "look for an infinite loop or a much slower algorithm than needed")
    case .memoryLimit:
      return Critique(
        text: "the program used too much memory", cause: "memory-limit", hint: "avoid building huge lists")
    case .outputLimit:
      return Critique(
        text: "the program printed far too much", cause: "output-limit", hint: "remove prints in loops")
    case .fileSizeLimit:
      return Critique(text: "the program wrote a file that is too large", cause: "file-size-limit")
    case .processLimit:
      return Critique(text: "the program started too many processes", cause: "process-limit")
    case .checkerError, .checkerCrash:
      return Critique(
        text: "the checker failed; this says nothing about the attempt", cause: "checker-error",
        hint: "fix the checker: \(firstLine)")
    case .parseError:
      return Critique(
        text: "the code does not parse: \(firstLine)", cause: "syntax-error",
        hint: "check brackets, colons and indentation")
    case .runtimeError:
      return Critique(text: "the code raised an error: \(firstLine)", cause: "runtime-error")
    case .failingTest:
      return Critique(text: "a test fails: \(firstLine)", cause: "failing-test")
    case .wrongStep, .wrongAnswer:
      return Critique(text: firstLine, cause: "wrong-answer")
    case .pass, .stepLimit:
      return Critique(text: firstLine, cause: "other")
    }
  }

  static func checkerCritique(_ value: JSONValue?) -> Critique? {
    guard let value else { return nil }
    if let text = value.stringValue, !text.isEmpty { return Critique(text: text, cause: "checker") }
    guard let text = value["text"]?.stringValue, !text.isEmpty else { return nil }
    return Critique(
      text: text, cause: value["cause"]?.stringValue ?? "checker", hint: value["hint"]?.stringValue)
  }
}
