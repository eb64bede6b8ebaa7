import HindcastSupport

/// Multi-digit integer arithmetic, solved as a column scratchpad (family `arith`, format:
/// `ArithScratchpad`) or answered in plain text (family `arith-plain`: the last number in the
/// reply is the answer, `PlainArithChecker`), with the same problems for both.
///
/// Levels 1...4: the longer operand has level+1 digits (2...5); the other has as many or one
/// fewer (add, sub) or is a one-digit multiplier 2...9 (mul). `arith-plain` also has level 0:
/// one-digit operands, for models that cannot yet add two-digit numbers in their heads. The
/// operation is drawn uniformly from `operations` for each task. Pure and deterministic.
public struct ArithFamily: TaskFamily {
  public let name: String
  public let levels: ClosedRange<Int>
  public let operations: [ArithOp]
  public let format: ArithAnswerFormat

  public init(operations: [ArithOp] = ArithOp.allCases, format: ArithAnswerFormat = .scratchpad) {
    self.operations = operations.isEmpty ? ArithOp.allCases : operations
    self.format = format
    name = format == .plain ? "arith-plain" : "arith"
    levels = format == .plain ? 0...4 : 1...4
  }

  public var critic: any Critic {
    switch format {
    case .scratchpad: return ArithCritic()
    case .plain: return PlainArithCritic()
    }
  }

  // MARK: - Generation

  public func generate(split: TaskSplit, count: Int, seed: UInt64, difficulty: TaskDifficulty) throws
    -> [TaskRecord]
  {
    try difficulty.validate(for: name, supported: levels)
    var rng = SeededRandom(seed: SeedDerivation.derive(seed, labels: [name, split.rawValue]))
    var collector = try DistinctTaskCollector(family: name, split: split, count: count)
    while !collector.isDone && collector.mayDrawMore {
      let level = difficulty.levels.lowerBound + rng.nextInt(below: difficulty.levels.count)
      let problem = drawProblem(level: level, rng: &rng)
      collector.offer(key: problem.prompt) { record(for: problem, split: split, level: level) }
    }
    return try collector.finish(difficulty: difficulty)
  }

  private func drawProblem(level: Int, rng: inout SeededRandom) -> ArithProblem {
    func number(digits: Int) -> Int {
      let low = digits <= 1 ? 0 : Int(pow10(digits - 1))
      return low + rng.nextInt(below: Int(pow10(digits)) - low)
    }
    let op = operations[rng.nextInt(below: operations.count)]
    let longDigits = level + 1
    switch op {
    case .mul:
      return ArithProblem(op: .mul, a: number(digits: longDigits), b: 2 + rng.nextInt(below: 8))
    case .add, .sub:
      var a = number(digits: longDigits)
      var b = number(digits: max(1, longDigits - rng.nextInt(below: 2)))
      if op == .sub && a < b { swap(&a, &b) }
      if op == .add && rng.nextInt(below: 2) == 0 { swap(&a, &b) }
      return ArithProblem(op: op, a: a, b: b)
    }
  }

  private func pow10(_ exponent: Int) -> Int {
    (0..<exponent).reduce(1) { result, _ in result * 10 }
  }

  func record(for problem: ArithProblem, split: TaskSplit, level: Int?) -> TaskRecord {
    let (steps, _) = ArithScratchpad.write(problem)
    var features = [
      "op:\(problem.op.rawValue)", "digits:\(problem.columnCount)",
      "carries:\(steps.filter { $0.carryOut > 0 }.count)",
    ]
    if let level { features.append("level:\(level)") }
    return TaskRecord(
      id: SplitAssignment.id(family: name, key: problem.prompt), family: name, split: split,
      prompt: problem.prompt,
      canonical: format == .plain ? String(problem.result) : ArithScratchpad.canonical(problem),
      payload: .object([
        "op": .string(problem.op.rawValue), "a": .number(Double(problem.a)), "b": .number(Double(problem.b)),
      ]), features: features)
  }

  /// The task for a prompt such as "47+85" (for `hindcast check --prompt`). Its split follows
  /// from the prompt like that of a generated task.
  public func task(prompt: String) throws -> TaskRecord {
    let text = prompt.trimmingWhitespace()
    for op in ArithOp.allCases {
      let parts = text.split(separator: op.symbol, omittingEmptySubsequences: false)
      guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]),
        parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigitCharacter) })
      else { continue }
      let problem = ArithProblem(op: op, a: a, b: b)
      if let reason = problem.invalidReason {
        throw HindcastError(.invalidInput, "arith prompt '\(prompt)': \(reason)")
      }
      return record(
        for: problem, split: SplitAssignment.split(family: name, key: problem.prompt), level: nil)
    }
    throw HindcastError(
      .invalidInput, "arith prompt '\(prompt)' is not of the form A+B, A-B or A*B",
      hint: "for example 47+85, 85-47 or 47*6")
  }

  // MARK: - Execution

  /// The problem in a task's payload, or the reason it is unusable.
  func problem(of task: TaskRecord) -> Result<ArithProblem, HindcastError> {
    guard let opName = task.payload["op"]?.stringValue, let op = ArithOp(rawValue: opName),
      let a = task.payload["a"]?.intValue, let b = task.payload["b"]?.intValue
    else {
      return .failure(
        HindcastError(
          .invalidInput, "arith task '\(task.id)' needs payload {\"op\": add|sub|mul, \"a\": int, \"b\": int}"
        ))
    }
    let problem = ArithProblem(op: op, a: a, b: b)
    if let reason = problem.invalidReason {
      return .failure(HindcastError(.invalidInput, "arith task '\(task.id)': \(reason)"))
    }
    return .success(problem)
  }

  public func validate(task: TaskRecord) throws {
    try requireOwnTask(task)
    _ = try problem(of: task).get()
  }

  public func execute(task: TaskRecord, attempt: String) -> ExecutionResult {
    let problem: ArithProblem
    switch self.problem(of: task) {
    case .success(let value): problem = value
    case .failure(let error):
      return ExecutionResult(
        passed: false, score: 0, kind: .checkerError, feedback: FeedbackText.bounded(error.message),
        details: ExecutionDetails(message: error.message))
    }
    if format == .plain { return PlainArithChecker(problem: problem).execute(attempt) }
    let checker = ArithChecker(problem: problem)
    let (finding, correctSteps) = checker.check(Array(attempt.utf8))
    let score = Double(correctSteps) / Double(checker.steps.count + 1)
    switch finding {
    case .correct:
      return .pass()
    case .parseError(let position, let message, let step):
      return ExecutionResult(
        passed: false, score: score, kind: .parseError,
        feedback: FeedbackText.bounded("parse error at \(position): \(message)"), errorOffset: position,
        details: ExecutionDetails(step: step, position: position, message: message))
    case .trailingText(let position):
      let message = "text after the answer"
      return ExecutionResult(
        passed: false, score: score, kind: .parseError,
        feedback: "parse error at \(position): \(message)", errorOffset: position,
        details: ExecutionDetails(position: position, message: message))
    case .wrongStep(let step, let written, _, let correct, let offset, _):
      let expected = correct?.text(op: problem.op) ?? "=" + checker.answer
      let shown = written.map { FeedbackText.clip($0) }
      let feedback = "step \(step): " + (shown.map { "wrote \($0)" } ?? "missing") + ", correct \(expected)"
      return ExecutionResult(
        passed: false, score: score, kind: .wrongStep, feedback: FeedbackText.bounded(feedback),
        errorOffset: offset,
        details: ExecutionDetails(
          step: step, position: offset, written: shown, expected: expected,
          message: written == nil ? "missing" : nil))
    case .wrongAnswer(let written, let offset):
      let shown = written.map { FeedbackText.clip($0) }
      let feedback = "answer: " + (shown.map { "wrote \($0)" } ?? "missing") + ", correct \(checker.answer)"
      return ExecutionResult(
        passed: false, score: score, kind: .wrongAnswer, feedback: FeedbackText.bounded(feedback),
        errorOffset: offset,
        details: ExecutionDetails(
          step: checker.steps.count + 1, position: offset, written: shown, expected: checker.answer,
          message: written == nil ? "missing" : nil))
    }
  }

  // MARK: - Flaws

  public func flaw(solution: String, task: TaskRecord, rng: inout SeededRandom) -> String {
    guard case .success(let problem) = self.problem(of: task) else {
      return solution.isEmpty ? "=" : String(solution.dropLast())
    }
    if format == .plain { return plainFlaw(problem: problem, task: task, rng: &rng) }
    for _ in 0..<16 {
      let candidate = ArithFlaws.draw(problem: problem, canonical: solution, rng: &rng)
      if candidate != solution && !execute(task: task, attempt: candidate).passed { return candidate }
    }
    let canonical = ArithScratchpad.canonical(problem)
    return String(canonical.dropLast())  // always wrong: the answer loses its last digit
  }

  /// The answer of a flawed scratchpad (a dropped carry, a wrong fact, ...), written plainly.
  private func plainFlaw(problem: ArithProblem, task: TaskRecord, rng: inout SeededRandom) -> String {
    let canonical = ArithScratchpad.canonical(problem)
    for _ in 0..<16 {
      let scratchpad = ArithFlaws.draw(problem: problem, canonical: canonical, rng: &rng)
      // The answer segment follows the last ";="; a scratchpad cut short before it has none.
      guard let equals = scratchpad.lastIndex(of: "="), equals > scratchpad.startIndex,
        scratchpad[scratchpad.index(before: equals)] == ";"
      else { continue }
      let candidate = String(scratchpad[scratchpad.index(after: equals)...])
      if !candidate.isEmpty && !execute(task: task, attempt: candidate).passed { return candidate }
    }
    return String(problem.result + 1)  // always wrong
  }
}

extension String {
  func trimmingWhitespace() -> String {
    var scalars = Substring(self)
    while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
    while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
    return String(scalars)
  }
}

extension Character {
  var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
