/// How an arith attempt writes its solution.
public enum ArithAnswerFormat: String, Sendable, CaseIterable {
  /// The column scratchpad of `ArithScratchpad` (family `arith`): every step is checked.
  case scratchpad
  /// A plain-text reply whose last whole number is the answer (family `arith-plain`), the format
  /// a chat model can attempt: "47 + 85 = 132" and "132" both pass.
  case plain
}

/// The outcome of checking a plain-text arith reply.
enum PlainArithFinding: Equatable {
  case correct
  /// The reply holds no digit at all.
  case noNumber
  /// The last number in the reply is wrong. `column` is the 0-based column (from the ones
  /// digit) of the lowest wrong digit, where the written computation first went wrong;
  /// `errorOffset` the byte offset of the first character that departs from the correct answer.
  case wrong(written: String, start: Int, column: Int, errorOffset: Int, rightDigits: Int)
}

/// Checks plain-text arith replies: the answer is the last run of ASCII digits in the reply.
/// Prose around it is allowed; a real model's "47 + 85 = 132" is right, "47 + 85 = 192" is wrong
/// in its tens digit.
struct PlainArithChecker {
  /// The scratchpad checker of the same problem: its steps explain each digit of the answer.
  let scratchpad: ArithChecker
  var problem: ArithProblem { scratchpad.problem }
  var steps: [ArithStep] { scratchpad.steps }
  var answer: String { scratchpad.answer }

  init(problem: ArithProblem) { scratchpad = ArithChecker(problem: problem) }

  /// The byte range of the last run of ASCII digits, if any.
  static func lastNumber(_ bytes: [UInt8]) -> Range<Int>? {
    var end = bytes.count
    while end > 0 && !isDigit(bytes[end - 1]) { end -= 1 }
    guard end > 0 else { return nil }
    var start = end
    while start > 0 && isDigit(bytes[start - 1]) { start -= 1 }
    return start..<end
  }

  private static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

  func check(_ attempt: [UInt8]) -> PlainArithFinding {
    guard let range = Self.lastNumber(attempt) else { return .noNumber }
    let written = Array(attempt[range])
    let correct = Array(answer.utf8)
    if written == correct { return .correct }
    // The lowest wrong column, comparing right-aligned digits (a missing digit counts as wrong).
    var column = 0
    while column < max(written.count, correct.count) {
      let mine = column < written.count ? written[written.count - 1 - column] : nil
      let right = column < correct.count ? correct[correct.count - 1 - column] : nil
      if mine != right { break }
      column += 1
    }
    // The first character, left to right, that departs from the correct answer.
    var prefix = 0
    while prefix < min(written.count, correct.count) && written[prefix] == correct[prefix] { prefix += 1 }
    return .wrong(
      written: String(decoding: written, as: UTF8.self), start: range.lowerBound, column: column,
      errorOffset: range.lowerBound + prefix, rightDigits: column)
  }

  /// What the correct computation of `column` is: its scratchpad step, or the final carry.
  func columnFact(_ column: Int) -> String? {
    if column < steps.count { return steps[column].text(op: problem.op) }
    if column == steps.count, problem.op != .sub, let last = steps.last, last.carryOut > 0 {
      return "the final carry \(last.carryOut) goes in front"
    }
    return nil
  }

  /// The correct digit of `column`, if the answer has one there.
  func correctDigit(_ column: Int) -> Character? {
    let digits = Array(answer)
    return column < digits.count ? digits[digits.count - 1 - column] : nil
  }

  /// Executes a reply: pass, or a failure whose feedback names the lowest wrong digit and the
  /// column computation that gives its correct value.
  func execute(_ attempt: String) -> ExecutionResult {
    switch check(Array(attempt.utf8)) {
    case .correct:
      return .pass()
    case .noNumber:
      let message = "no number in the reply"
      return ExecutionResult(
        passed: false, score: 0, kind: .parseError,
        feedback: "parse error: \(message); reply with the result", errorOffset: 0,
        details: ExecutionDetails(position: 0, message: message))
    case .wrong(let written, _, let column, let errorOffset, let rightDigits):
      let shown = FeedbackText.clip(written)
      let place = ArithScratchpad.columnName(column)
      let location = "the \(place) digit of \(shown) is wrong"
      var feedback = "answer: wrote \(shown); the \(place) digit"
      if let digit = correctDigit(column) {
        feedback += " is \(digit)"
        if let fact = columnFact(column) { feedback += " (\(fact))" }
      } else {
        feedback += " should not be there: the result has \(answer.count) digits"
      }
      return ExecutionResult(
        passed: false, score: Double(rightDigits) / Double(answer.count + 1), kind: .wrongAnswer,
        feedback: FeedbackText.bounded(feedback), errorOffset: errorOffset,
        details: ExecutionDetails(
          step: column + 1, position: errorOffset, written: shown, expected: answer,
          location: location))
    }
  }
}

/// Explains plain-text arith failures by the lowest wrong digit: a dropped carry or a missed
/// borrow when the digit is off by exactly that, a missing final carry, reversed digits, a wrong
/// number of digits, or an error in the column's arithmetic. Deterministic.
///
/// Causes: pass, no-number, dropped-carry, missing-borrow, answer-dropped-carry, answer-reversed,
/// wrong-length, column-error, bad-task.
public struct PlainArithCritic: Critic {
  public init() {}

  public func critique(task: TaskRecord, attempt: String, result: ExecutionResult) -> Critique {
    if result.passed { return .passed }
    guard case .success(let problem) = ArithFamily().problem(of: task) else {
      return Critique(text: "the task itself is malformed", cause: "bad-task")
    }
    let checker = PlainArithChecker(problem: problem)
    switch checker.check(Array(attempt.utf8)) {
    case .correct:
      return .passed
    case .noNumber:
      return Critique(text: "the reply has no number", cause: "no-number", hint: "end with the result")
    case .wrong(let written, _, let column, _, _):
      let place = ArithScratchpad.columnName(column)
      let fact = checker.columnFact(column)
      if written.count > 1 && String(written.reversed()) == checker.answer {
        return Critique(
          text: "the digits are reversed", cause: "answer-reversed", hint: "the ones digit comes last")
      }
      if column == checker.steps.count && written.count < checker.answer.count {
        return Critique(text: "the final carry is missing", cause: "answer-dropped-carry", hint: fact)
      }
      guard column < checker.steps.count, let rightChar = checker.correctDigit(column),
        let right = rightChar.wholeNumberValue
      else {
        return Critique(
          text: "the answer has \(written.count) digits, the result \(checker.answer.count)",
          cause: "wrong-length", hint: fact)
      }
      let step = checker.steps[column]
      let mine = column < written.count ? Array(written)[written.count - 1 - column].wholeNumberValue : nil
      if step.carryIn > 0, let mine {
        let withoutCarry =
          problem.op == .sub ? (right + step.carryIn) % 10 : (right + 10 - step.carryIn % 10) % 10
        if mine == withoutCarry {
          let cause = problem.op == .sub ? "missing-borrow" : "dropped-carry"
          let what = problem.op == .sub ? "borrow" : "carry"
          return Critique(
            text: "the \(what) into the \(place) column was dropped", cause: cause, hint: fact)
        }
      }
      return Critique(text: "the \(place) column is computed wrong", cause: "column-error", hint: fact)
    }
  }
}
