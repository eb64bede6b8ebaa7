import HindcastSupport

/// Realistic wrong scratchpads: the mistakes a small model makes on column arithmetic, written
/// consistently after the mistake (later steps use the wrong carry, the answer follows the steps).
enum ArithFlaws {
  /// Draws one flawed scratchpad for `problem`. May rarely equal the canonical text (the caller
  /// retries).
  static func draw(problem: ArithProblem, canonical: String, rng: inout SeededRandom) -> String {
    let (steps, answer) = ArithScratchpad.write(problem)
    let columns = steps.count
    let roll = rng.nextInt(below: 100)
    if roll < 10 {
      return truncate(
        canonical.isEmpty ? ArithScratchpad.render(steps, answer: answer, op: problem.op) : canonical,
        rng: &rng)
    }
    if roll < 20 {
      return ArithScratchpad.render(steps, answer: wrongAnswer(answer, rng: &rng), op: problem.op)
    }
    func factError() -> ArithFault {
      let column = rng.nextInt(below: columns)
      let size = problem.op == .mul && rng.nextInt(below: 2) == 0 ? problem.b : 1
      return .factError(column: column, delta: rng.nextInt(below: 2) == 0 ? size : -size)
    }
    let fault: ArithFault
    if roll < 55 {
      // Carries and borrows are the commonest mistakes; without any, a wrong fact instead.
      fault = carryFault(problem: problem, steps: steps, rng: &rng) ?? factError()
    } else if roll < 68 {
      let column = rng.nextInt(below: columns)
      let digits = ArithScratchpad.digits(problem.a)
      let actual = column < digits.count ? digits[column] : 0
      var misread =
        column + 1 < digits.count && rng.nextInt(below: 2) == 0 ? digits[column + 1] : actual + 1
      if misread == actual || misread > 9 { misread = (actual + 9) % 10 }
      fault = .misreadDigit(column: column, digit: misread)
    } else if roll < 75 && columns > 1 {
      fault = .skipLastStep
    } else {
      fault = factError()
    }
    let (flawedSteps, flawedAnswer) = ArithScratchpad.write(problem, fault: fault)
    return ArithScratchpad.render(flawedSteps, answer: flawedAnswer, op: problem.op)
  }

  /// A carry or borrow mistake at a column where it makes a difference, or nil if none applies.
  private static func carryFault(problem: ArithProblem, steps: [ArithStep], rng: inout SeededRandom)
    -> ArithFault?
  {
    let withCarryIn = steps.indices.filter { steps[$0].carryIn > 0 }
    let withoutCarryIn = steps.indices.filter { steps[$0].carryIn == 0 }
    var options: [ArithFault] = withCarryIn.map { .dropCarry(column: $0) }
    options += withCarryIn.map { .dropCarry(column: $0) }  // the most common mistake: twice the weight
    switch problem.op {
    case .add:
      options += withoutCarryIn.prefix(2).map { .spuriousCarry(column: $0) }
    case .sub:
      let borrowing = steps.indices.filter { steps[$0].carryOut > 0 }
      options += borrowing.map { .missingBorrow(column: $0) }
      options += borrowing.map { .missingBorrow(column: $0) }
    case .mul:
      options += withCarryIn.map { .wrongCarry(column: $0, delta: rng.nextInt(below: 2) == 0 ? 1 : -1) }
    }
    guard !options.isEmpty else { return nil }
    return options[rng.nextInt(below: options.count)]
  }

  /// The answer with a typical copying mistake: final carry dropped, two digits swapped, one digit
  /// off by one, or all digits reversed.
  static func wrongAnswer(_ answer: String, rng: inout SeededRandom) -> String {
    var digits = Array(answer)
    switch rng.nextInt(below: 4) {
    case 0 where digits.count > 1:
      digits.removeFirst()
    case 1 where digits.count > 1:
      let index = rng.nextInt(below: digits.count - 1)
      digits.swapAt(index, index + 1)
    case 2 where digits.count > 1:
      digits.reverse()
    default:
      let index = rng.nextInt(below: digits.count)
      let value = Int(String(digits[index])) ?? 0
      digits[index] = Character(String((value + (rng.nextInt(below: 2) == 0 ? 1 : 9)) % 10))
    }
    let text = String(digits)
    return text == answer ? answer + "0" : text
  }

  /// The text cut at a random point: a model that stopped early.
  static func truncate(_ text: String, rng: inout SeededRandom) -> String {
    let bytes = Array(text.utf8)
    guard bytes.count > 1 else { return "" }
    return String(decoding: bytes.prefix(1 + rng.nextInt(below: bytes.count - 1)), as: UTF8.self)
  }
}
