/// A written scratchpad segment parsed into numbers and operators.
struct ParsedArithStep: Equatable {
  var numbers: [Int]
  var operators: [UInt8]
  var value: Int
}

/// The first error in an arith attempt, with everything the executor and the critic need.
enum ArithFinding: Equatable {
  case correct
  /// Segment text could not be parsed; `position` is the byte offset; `step` the 1-based segment.
  case parseError(position: Int, message: String, step: Int)
  /// Step `step` (1-based) differs. `written` is nil when the step is missing, `parsed` when the
  /// written step parses. `prefixOfCorrect` marks a step cut off at the end of the attempt.
  case wrongStep(
    step: Int, written: String?, parsed: ParsedArithStep?, correct: ArithStep?, offset: Int,
    prefixOfCorrect: Bool)
  /// All steps right, answer wrong (nil when missing).
  case wrongAnswer(written: String?, offset: Int)
  /// Text after a correct answer.
  case trailingText(position: Int)
}

/// Checks scratchpads against the canonical one, segment by segment, stopping at the first error
/// (so a megabyte of text costs no more than its first bad segment).
struct ArithChecker {
  let problem: ArithProblem
  let steps: [ArithStep]
  let answer: String

  init(problem: ArithProblem) {
    self.problem = problem
    (steps, answer) = ArithScratchpad.write(problem)
  }

  /// Finds the first error. Trailing whitespace of the attempt is ignored.
  func check(_ attempt: [UInt8]) -> (finding: ArithFinding, correctSteps: Int) {
    var end = attempt.count
    while end > 0 && [0x20, 0x0A, 0x0D, 0x09].contains(attempt[end - 1]) { end -= 1 }
    if end == 0 { return (.parseError(position: 0, message: "empty attempt", step: 1), 0) }
    var start = 0
    var index = 0
    while start <= end {
      var stop = start
      while stop < end && attempt[stop] != UInt8(ascii: ";") { stop += 1 }
      let segment = attempt[start..<stop]
      let isLast = stop >= end
      if let finding = checkSegment(segment, index: index, isLast: isLast, attemptEnd: end) {
        return (finding, index)
      }
      if !segment.isEmpty && segment.first == UInt8(ascii: "=") {
        // A correct answer: anything after it is an error.
        if !isLast { return (.trailingText(position: stop), index + 1) }
        return (.correct, index + 1)
      }
      index += 1
      start = stop + 1
    }
    // Ended after a complete step without an answer.
    if index < steps.count {
      return (
        .wrongStep(
          step: index + 1, written: nil, parsed: nil, correct: steps[index], offset: end,
          prefixOfCorrect: false), index
      )
    }
    return (.wrongAnswer(written: nil, offset: end), index)
  }

  /// Checks segment `index`; nil if it is right (a step) or a right answer.
  private func checkSegment(_ segment: ArraySlice<UInt8>, index: Int, isLast: Bool, attemptEnd: Int)
    -> ArithFinding?
  {
    let start = segment.startIndex
    if segment.first == UInt8(ascii: "=") {
      if let bad = Self.firstNonDigit(segment.dropFirst()) {
        return .parseError(
          position: bad, message: Self.unexpected(segment, at: bad, wanted: "a digit"), step: index + 1)
      }
      if index < steps.count {
        return .wrongStep(
          step: index + 1, written: nil, parsed: nil, correct: steps[index], offset: start,
          prefixOfCorrect: false)
      }
      let written = String(decoding: segment.dropFirst(), as: UTF8.self)
      if written == answer { return nil }
      let offset = start + 1 + Self.firstDifference(Array(segment.dropFirst()), Array(answer.utf8))
      return .wrongAnswer(written: written, offset: offset)
    }
    let correctText = index < steps.count ? steps[index].text(op: problem.op) : "=" + answer
    if segment.elementsEqual(correctText.utf8) { return nil }
    if segment.isEmpty && isLast {
      // The attempt ends with ';': the next step (or the answer) is missing.
      if index < steps.count {
        return .wrongStep(
          step: index + 1, written: nil, parsed: nil, correct: steps[index], offset: start,
          prefixOfCorrect: false)
      }
      return .wrongAnswer(written: nil, offset: start)
    }
    let written = String(decoding: segment, as: UTF8.self)
    let offset = start + Self.firstDifference(Array(segment), Array(correctText.utf8))
    switch Self.parse(segment) {
    case .failure(let position, let message):
      if isLast && correctText.utf8.starts(with: segment) {
        return .wrongStep(
          step: index + 1, written: written, parsed: nil, correct: index < steps.count ? steps[index] : nil,
          offset: attemptEnd, prefixOfCorrect: true)
      }
      return .parseError(position: position, message: message, step: index + 1)
    case .success(let parsed):
      return .wrongStep(
        step: index + 1, written: written, parsed: parsed,
        correct: index < steps.count ? steps[index] : nil, offset: offset, prefixOfCorrect: false)
    }
  }

  enum ParseOutcome {
    case success(ParsedArithStep)
    case failure(position: Int, message: String)
  }

  /// Parses `NUMBER (OP NUMBER)* = NUMBER` where OP is + - *; numbers have at most 9 digits.
  static func parse(_ segment: ArraySlice<UInt8>) -> ParseOutcome {
    var numbers: [Int] = []
    var operators: [UInt8] = []
    var cursor = segment.startIndex
    func number() -> Result<Int, ParseFailure> {
      let first = cursor
      var value = 0
      while cursor < segment.endIndex, (0x30...0x39).contains(segment[cursor]) {
        if cursor - first >= 9 { return .failure(ParseFailure(position: cursor, message: "number too long")) }
        value = value * 10 + Int(segment[cursor] - 0x30)
        cursor += 1
      }
      if cursor == first {
        return .failure(
          ParseFailure(position: cursor, message: unexpected(segment, at: cursor, wanted: "a digit")))
      }
      return .success(value)
    }
    if segment.isEmpty {
      return .failure(position: segment.startIndex, message: "empty step")
    }
    while true {
      switch number() {
      case .failure(let failure): return .failure(position: failure.position, message: failure.message)
      case .success(let value): numbers.append(value)
      }
      guard cursor < segment.endIndex else {
        return .failure(position: cursor, message: "step has no '='")
      }
      let symbol = segment[cursor]
      if symbol == UInt8(ascii: "=") {
        cursor += 1
        switch number() {
        case .failure(let failure): return .failure(position: failure.position, message: failure.message)
        case .success(let value):
          if cursor < segment.endIndex {
            return .failure(position: cursor, message: unexpected(segment, at: cursor, wanted: "';'"))
          }
          return .success(ParsedArithStep(numbers: numbers, operators: operators, value: value))
        }
      }
      guard [UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "*")].contains(symbol) else {
        return .failure(position: cursor, message: unexpected(segment, at: cursor, wanted: "+ - * or ="))
      }
      if numbers.count >= 4 {
        return .failure(position: cursor, message: "too many terms in one step")
      }
      operators.append(symbol)
      cursor += 1
    }
  }

  struct ParseFailure: Error {
    var position: Int
    var message: String
  }

  static func unexpected(_ segment: ArraySlice<UInt8>, at position: Int, wanted: String) -> String {
    guard position < segment.endIndex else { return "expected \(wanted), text ended" }
    let byte = segment[position]
    let shown = (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte \(byte)"
    return "expected \(wanted), found \(shown)"
  }

  static func firstNonDigit(_ bytes: ArraySlice<UInt8>) -> Int? {
    if bytes.isEmpty { return bytes.startIndex }
    return bytes.firstIndex { !(0x30...0x39).contains($0) }
  }

  /// Index of the first differing byte (the shorter length if one is a prefix of the other).
  static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    var index = 0
    while index < a.count && index < b.count && a[index] == b[index] { index += 1 }
    return index
  }
}
