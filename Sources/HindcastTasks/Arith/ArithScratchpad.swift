import HindcastSupport

/// The operation of an arith task.
public enum ArithOp: String, Codable, Sendable, CaseIterable {
  case add
  case sub
  case mul

  /// The operator character in prompts and steps.
  public var symbol: Character {
    switch self {
    case .add: return "+"
    case .sub: return "-"
    case .mul: return "*"
    }
  }
}

/// One arith problem: `a op b`. For `sub`, a >= b; for `mul`, b is one digit.
public struct ArithProblem: Sendable, Equatable {
  public var op: ArithOp
  public var a: Int
  public var b: Int

  public init(op: ArithOp, a: Int, b: Int) {
    self.op = op
    self.a = a
    self.b = b
  }

  /// The prompt text, e.g. "47+85".
  public var prompt: String { "\(a)\(op.symbol)\(b)" }

  public var result: Int {
    switch op {
    case .add: return a + b
    case .sub: return a - b
    case .mul: return a * b
    }
  }

  /// Largest operand the scratchpad format is meant for (7 digits).
  static let maxOperand = 9_999_999

  /// Nil if the problem is valid, else the reason.
  var invalidReason: String? {
    if a < 0 || b < 0 { return "operands must be non-negative" }
    if a > Self.maxOperand || b > Self.maxOperand { return "operands must have at most 7 digits" }
    if op == .sub && a < b { return "a subtraction needs a >= b" }
    if op == .mul && b > 9 { return "a multiplication needs a one-digit multiplier" }
    return nil
  }

  /// Number of scratchpad steps (columns).
  var columnCount: Int {
    let longest = op == .mul ? a : max(a, b)
    return String(longest).count
  }
}

/// A mistake injected while writing a scratchpad, to make realistic flawed attempts. Columns are
/// 0-based from the ones column. After the mistake the writer continues consistently from what it
/// wrote, as a model does.
enum ArithFault: Equatable {
  case none
  /// Ignore the carry (or borrow) coming into this column.
  case dropCarry(column: Int)
  /// Add a carry of 1 (sub: subtract a borrow of 1) that does not exist.
  case spuriousCarry(column: Int)
  /// The column's result is off by `delta` (a wrong addition or times-table fact).
  case factError(column: Int, delta: Int)
  /// Read a wrong digit of the first operand in this column.
  case misreadDigit(column: Int, digit: Int)
  /// sub: do not borrow although the top digit is too small (subtract the smaller from the larger).
  case missingBorrow(column: Int)
  /// mul: the carry brought into this column is off by `delta`.
  case wrongCarry(column: Int, delta: Int)
  /// Stop before the last column's step.
  case skipLastStep
}

/// One column step of a scratchpad, with its parts, as written.
struct ArithStep: Equatable {
  /// The first operand as written (sub: the top digit, plus 10 when borrowing).
  var top: Int
  /// The second operand (add/sub: the other digit, mul: the multiplier).
  var bottom: Int
  /// add/mul: carry added; sub: borrow subtracted (0 when none, then not written).
  var carryIn: Int
  var value: Int
  /// The carry (add/mul) or borrow (sub) this step passes to the next column.
  var carryOut: Int
  /// The result digit of this column.
  var digit: Int

  func text(op: ArithOp) -> String {
    switch op {
    case .add: return "\(top)+\(bottom)" + (carryIn > 0 ? "+\(carryIn)" : "") + "=\(value)"
    case .sub: return "\(top)" + (carryIn > 0 ? "-\(carryIn)" : "") + "-\(bottom)=\(value)"
    case .mul: return "\(top)*\(bottom)" + (carryIn > 0 ? "+\(carryIn)" : "") + "=\(value)"
    }
  }
}

/// Writes scratchpads: `steps` joined by ";" then ";=ANSWER". Columns go right to left.
///
/// - add `47+85`: `7+5=12;4+8+1=13;=132` (a carry of 1 is written as "+1", only when present)
/// - sub `85-47`: `15-7=8;8-1-4=3;=38` (a borrowing column writes its top digit plus 10, a
///   borrow from the previous column is written "-1")
/// - mul `47*6`: `7*6=42;4*6+4=28;=282`
/// A missing digit of the shorter operand is written 0.
enum ArithScratchpad {
  static func digits(_ value: Int) -> [Int] {
    String(value).reversed().map { Int(String($0)) ?? 0 }
  }

  /// The steps and answer for `problem`, with `fault` injected.
  static func write(_ problem: ArithProblem, fault: ArithFault = .none) -> (
    steps: [ArithStep], answer: String
  ) {
    let top = digits(problem.a)
    let bottom = digits(problem.b)
    let columns = problem.columnCount
    var steps: [ArithStep] = []
    var carry = 0
    for column in 0..<columns {
      var digitA = column < top.count ? top[column] : 0
      let digitB = problem.op == .mul ? problem.b : (column < bottom.count ? bottom[column] : 0)
      if case .misreadDigit(let at, let digit) = fault, at == column { digitA = digit }
      var carryIn = carry
      if case .dropCarry(let at) = fault, at == column { carryIn = 0 }
      if case .spuriousCarry(let at) = fault, at == column { carryIn += 1 }
      if case .wrongCarry(let at, let delta) = fault, at == column { carryIn = max(0, carryIn + delta) }
      var step: ArithStep
      switch problem.op {
      case .add, .mul:
        let product = problem.op == .add ? digitA + digitB : digitA * digitB
        var value = product + carryIn
        if case .factError(let at, let delta) = fault, at == column { value = max(0, value + delta) }
        step = ArithStep(
          top: digitA, bottom: digitB, carryIn: carryIn, value: value, carryOut: value / 10,
          digit: value % 10)
      case .sub:
        var borrows = digitA - carryIn - digitB < 0
        if case .missingBorrow(let at) = fault, at == column { borrows = false }
        let written = borrows ? digitA + 10 : digitA
        var value = written - carryIn - digitB
        if value < 0 { value = -value }  // the no-borrow mistake: smaller from larger
        if case .factError(let at, let delta) = fault, at == column {
          value = min(9, max(0, value + delta))
        }
        step = ArithStep(
          top: written, bottom: digitB, carryIn: carryIn, value: value, carryOut: borrows ? 1 : 0,
          digit: value % 10)
      }
      steps.append(step)
      carry = step.carryOut
    }
    if fault == .skipLastStep, steps.count > 1 { steps.removeLast() }
    return (steps, answer(for: steps, op: problem.op))
  }

  /// The answer that follows from the written steps: result digits last step first, then (add,
  /// mul) the final carry in front; sub drops leading zeros.
  static func answer(for steps: [ArithStep], op: ArithOp) -> String {
    var text = steps.reversed().map { String($0.digit) }.joined()
    if op != .sub, let last = steps.last, last.carryOut > 0 { text = String(last.carryOut) + text }
    while text.count > 1 && text.hasPrefix("0") { text.removeFirst() }
    return text.isEmpty ? "0" : text
  }

  /// The full scratchpad text.
  static func render(_ steps: [ArithStep], answer: String, op: ArithOp) -> String {
    (steps.map { $0.text(op: op) } + ["=" + answer]).joined(separator: ";")
  }

  /// The canonical solution of `problem`.
  static func canonical(_ problem: ArithProblem) -> String {
    let (steps, answer) = write(problem)
    return render(steps, answer: answer, op: problem.op)
  }

  /// "ones", "tens", ... for a 0-based column.
  static func columnName(_ column: Int) -> String {
    let names = ["ones", "tens", "hundreds", "thousands", "ten-thousands", "hundred-thousands", "millions"]
    return column < names.count ? names[column] : "column \(column + 1)"
  }
}
