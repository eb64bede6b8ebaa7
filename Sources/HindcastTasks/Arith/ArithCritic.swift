/// Explains arith failures: which column, and whether a carry, a borrow, an addition or
/// times-table fact, a digit read from the operands, or the answer went wrong. Deterministic.
///
/// Causes: pass, empty-attempt, parse-error, truncated, trailing-text, missing-step, extra-step,
/// dropped-carry, spurious-carry, wrong-carry, missing-borrow, spurious-borrow,
/// borrow-not-subtracted, reversed-subtraction, wrong-op, misread-digit, operand-order,
/// addition-error, subtraction-error, times-table-error, answer-dropped-carry, answer-reversed,
/// answer-leading-zero, answer-mismatch, missing-answer, bad-task, other.
public struct ArithCritic: Critic {
  public init() {}

  public func critique(task: TaskRecord, attempt: String, result: ExecutionResult) -> Critique {
    if result.passed { return .passed }
    guard case .success(let problem) = ArithFamily().problem(of: task) else {
      return Critique(text: "the task itself is malformed", cause: "bad-task")
    }
    let checker = ArithChecker(problem: problem)
    let (finding, _) = checker.check(Array(attempt.utf8))
    let example = Self.example(problem.op)
    switch finding {
    case .correct:
      return .passed
    case .parseError(_, let message, let step):
      if message == "empty attempt" {
        return Critique(
          text: "the attempt is empty", cause: "empty-attempt",
          hint: "write one step per column, e.g. \(example)")
      }
      return Critique(text: "step \(step) is malformed", cause: "parse-error", hint: message)
    case .trailingText:
      return Critique(text: "text after the final answer", cause: "trailing-text", hint: "stop after =ANSWER")
    case .wrongStep(let step, let written, let parsed, let correct, _, let prefixOfCorrect):
      if prefixOfCorrect {
        return Critique(
          text: "stopped in the middle of step \(step)", cause: "truncated", hint: "finish every column")
      }
      guard written != nil else {
        return Critique(
          text: "stopped before the \(ArithScratchpad.columnName(step - 1)) column", cause: "missing-step",
          hint: "one step per column")
      }
      guard let correct else {
        return Critique(
          text: "an extra step after the last column", cause: "extra-step", hint: "then write =ANSWER")
      }
      guard let parsed else {
        return Critique(
          text: "step \(step) is garbled", cause: "parse-error", hint: "steps look like \(example)")
      }
      return Self.explainStep(
        problem: problem, column: step - 1, parsed: parsed, correct: correct, checker: checker)
    case .wrongAnswer(let written, _):
      return Self.explainAnswer(written: written, correct: checker.answer, op: problem.op)
    }
  }

  static func example(_ op: ArithOp) -> String {
    switch op {
    case .add: return "7+5=12;4+8+1=13;=132"
    case .sub: return "15-7=8;8-1-4=3;=38"
    case .mul: return "7*6=42;4*6+4=28;=282"
    }
  }

  /// Compares a parsed wrong step with the correct one and names the difference.
  private static func explainStep(
    problem: ArithProblem, column: Int, parsed: ParsedArithStep, correct: ArithStep, checker: ArithChecker
  ) -> Critique {
    let here = ArithScratchpad.columnName(column)
    let previous = column > 0 ? ArithScratchpad.columnName(column - 1) : "previous"
    let previousText = column > 0 ? checker.steps[column - 1].text(op: problem.op) : ""
    let op = problem.op
    let correctText = correct.text(op: op)
    let expression = correctText.split(separator: "=").first.map(String.init) ?? correctText
    if let first = parsed.operators.first, first != op.symbol.asciiValue {
      return Critique(
        text: "step \(column + 1) uses '\(Character(Unicode.Scalar(first)))' in a \(op.rawValue) task",
        cause: "wrong-op", hint: "every step uses \(op.symbol)")
    }
    let numbers = parsed.numbers
    let top = numbers.first ?? -1
    // sub writes "top-borrow-bottom", add and mul write "top+bottom+carry" / "top*k+carry".
    let bottom = op == .sub && numbers.count == 3 ? numbers[2] : (numbers.count > 1 ? numbers[1] : -1)
    let carry = op == .sub ? (numbers.count == 3 ? numbers[1] : 0) : (numbers.count > 2 ? numbers[2] : 0)

    if op == .sub {
      let digitTop = correct.carryOut > 0 ? correct.top - 10 : correct.top
      if top == correct.bottom && bottom == digitTop && digitTop != correct.bottom {
        return Critique(
          text: "subtracted top from bottom in the \(here) column", cause: "reversed-subtraction",
          hint: "borrow: \(correctText)")
      }
      if (top != digitTop && top != digitTop + 10) || bottom != correct.bottom {
        return misread(column: column, problem: problem, correct: correct)
      }
      if correct.carryOut > 0 && top == digitTop {
        return Critique(
          text: "the \(here) column needs a borrow", cause: "missing-borrow",
          hint: "borrow 10: \(correctText)")
      }
      if correct.carryOut == 0 && top == digitTop + 10 {
        return Critique(
          text: "borrowed in the \(here) column without need", cause: "spurious-borrow", hint: correctText)
      }
    } else {
      if top == correct.bottom && bottom == correct.top && correct.top != correct.bottom {
        return Critique(
          text: "the digits of step \(column + 1) are in the wrong order", cause: "operand-order",
          hint: "write the first number's digit first: \(correctText)")
      }
      if top != correct.top || bottom != correct.bottom {
        return misread(column: column, problem: problem, correct: correct)
      }
    }
    let borrowWord = op == .sub ? "borrow" : "carry"
    if correct.carryIn > 0 && carry == 0 {
      if op == .sub {
        return Critique(
          text: "the borrow from the \(previous) column was not subtracted", cause: "borrow-not-subtracted",
          hint: correctText)
      }
      return Critique(
        text: "the carry from the \(previous) column was dropped", cause: "dropped-carry",
        hint: "\(previousText) carries \(correct.carryIn)")
    }
    if correct.carryIn == 0 && carry > 0 {
      return Critique(
        text: "used a \(borrowWord) the \(previous) column did not produce",
        cause: op == .sub ? "spurious-borrow" : "spurious-carry",
        hint: column > 0 ? "\(previousText) has no \(borrowWord)" : "nothing comes into the ones column")
    }
    if carry != correct.carryIn {
      return Critique(
        text: "used \(borrowWord) \(carry) but the \(previous) column gave \(correct.carryIn)",
        cause: "wrong-carry", hint: "\(previousText) gives \(correct.carryIn)")
    }
    let fact: String
    switch op {
    case .add: fact = "addition-error"
    case .sub: fact = "subtraction-error"
    case .mul: fact = "times-table-error"
    }
    return Critique(
      text: "\(expression) is \(correct.value), not \(parsed.value)", cause: fact,
      hint: "recompute the \(here) column")
  }

  private static func misread(column: Int, problem: ArithProblem, correct: ArithStep) -> Critique {
    let here = ArithScratchpad.columnName(column)
    return Critique(
      text: "step \(column + 1) misreads the \(here) digits", cause: "misread-digit",
      hint: correct.text(op: problem.op))
  }

  private static func explainAnswer(written: String?, correct: String, op: ArithOp) -> Critique {
    guard let written else {
      return Critique(
        text: "the final answer is missing", cause: "missing-answer", hint: "end with =\(correct)")
    }
    if op != .sub && correct.count > 1 && written == String(correct.dropFirst()) {
      return Critique(
        text: "the final carry is missing from the answer", cause: "answer-dropped-carry",
        hint: "the last carry goes in front")
    }
    if written.count > 1 && String(written.reversed()) == correct {
      return Critique(
        text: "the answer digits are reversed", cause: "answer-reversed", hint: "read steps last to first")
    }
    if written.hasPrefix("0") && written.drop(while: { $0 == "0" }) == correct {
      return Critique(
        text: "the answer has a leading zero", cause: "answer-leading-zero", hint: "drop leading zeros")
    }
    return Critique(
      text: "the answer does not match the steps", cause: "answer-mismatch",
      hint: "last digits of the steps, last first")
  }
}
