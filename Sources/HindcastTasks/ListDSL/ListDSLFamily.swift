import HindcastSupport

/// Program synthesis from examples in a tiny list language (`ListLanguage`).
///
/// A task shows 3 input/output examples (`[3,1,2]>[1,2];...`); the attempt is a program such as
/// `sort|take 2`. It passes when it reproduces the examples and 2 hidden tests, so any equivalent
/// program passes. Levels 1...4 are the number of ops of the generating program; inputs are lists
/// of 3-6 digits. Pure and deterministic.
public struct ListDSLFamily: TaskFamily {
  public let name = "listdsl"
  public let levels = 1...4
  public static let exampleCount = 3
  public static let hiddenTestCount = 2
  /// Longest prompt generated, so that a teacher context (prompt, attempt, feedback, critique,
  /// answer) stays near 256 bytes.
  public static let maxPromptBytes = 80

  public init() {}

  public var critic: any Critic { ListDSLCritic() }

  // MARK: - Generation

  public func generate(split: TaskSplit, count: Int, seed: UInt64, difficulty: TaskDifficulty) throws
    -> [TaskRecord]
  {
    try difficulty.validate(for: name, supported: levels)
    var rng = SeededRandom(seed: SeedDerivation.derive(seed, labels: [name, split.rawValue]))
    var collector = try DistinctTaskCollector(family: name, split: split, count: count)
    while !collector.isDone && collector.mayDrawMore {
      let level = difficulty.levels.lowerBound + rng.nextInt(below: difficulty.levels.count)
      guard let drawn = drawTask(opCount: level, rng: &rng) else { continue }
      collector.offer(key: drawn.prompt) {
        record(program: drawn.program, cases: drawn.cases, prompt: drawn.prompt, split: split, level: level)
      }
    }
    return try collector.finish(difficulty: difficulty)
  }

  private func randomOp(rng: inout SeededRandom, last: Bool) -> ListOp {
    let choice = rng.nextInt(below: last ? 12 : 10)
    switch choice {
    case 0: return .mapAdd(1 + rng.nextInt(below: 9))
    case 1: return .mapMul(2 + rng.nextInt(below: 2))
    case 2: return .keepGreater(1 + rng.nextInt(below: 8))
    case 3: return .keepLess(2 + rng.nextInt(below: 8))
    case 4: return .keepEven
    case 5: return .keepOdd
    case 6: return .sort
    case 7: return .rev
    case 8: return .take(1 + rng.nextInt(below: 3))
    case 9: return .drop(1 + rng.nextInt(below: 3))
    case 10: return .sum
    default: return .max
    }
  }

  private func randomList(rng: inout SeededRandom) -> [Int] {
    (0..<(3 + rng.nextInt(below: 4))).map { _ in rng.nextInt(below: 10) }
  }

  /// One program with 5 distinct inputs on which it runs, or nil if this draw is uninformative.
  private func drawTask(opCount: Int, rng: inout SeededRandom)
    -> (program: ListProgram, cases: [(input: [Int], output: ListValue)], prompt: String)?
  {
    var ops: [ListOp] = []
    while ops.count < opCount {
      let op = randomOp(rng: &rng, last: ops.count == opCount - 1)
      if let previous = ops.last, previous.kind == op.kind { continue }
      ops.append(op)
    }
    let program = ListProgram(ops: ops)
    var cases: [(input: [Int], output: ListValue)] = []
    var inputs: Set<[Int]> = []
    for _ in 0..<40 where cases.count < Self.exampleCount + Self.hiddenTestCount {
      let input = randomList(rng: &rng)
      guard !inputs.contains(input), case .success(let output) = ListLanguage.run(program, on: input) else {
        continue
      }
      if case .list(let items) = output, items.isEmpty, rng.nextInt(below: 4) != 0 { continue }
      inputs.insert(input)
      cases.append((input, output))
    }
    guard cases.count == Self.exampleCount + Self.hiddenTestCount else { return nil }
    let outputs = cases.map(\.output)
    // Reject programs the tests cannot tell apart from something simpler.
    if Set(outputs.map(\.text)).count == 1 { return nil }
    if cases.allSatisfy({ $0.output == .list($0.input) }) { return nil }
    for index in ops.indices where ops.count > 1 {
      var shorter = ops
      shorter.remove(at: index)
      let shortProgram = ListProgram(ops: shorter)
      if cases.allSatisfy({ (try? ListLanguage.run(shortProgram, on: $0.input).get()) == $0.output }) {
        return nil
      }
    }
    let prompt = cases.prefix(Self.exampleCount).map { "\(ListValue.list($0.input).text)>\($0.output.text)" }
      .joined(separator: ";")
    guard prompt.utf8.count <= Self.maxPromptBytes else { return nil }
    return (program, cases, prompt)
  }

  private func record(
    program: ListProgram, cases: [(input: [Int], output: ListValue)], prompt: String, split: TaskSplit,
    level: Int
  ) -> TaskRecord {
    func json(_ cases: ArraySlice<(input: [Int], output: ListValue)>) -> JSONValue {
      .array(cases.map { .object(["in": ListValue.list($0.input).json, "out": $0.output.json]) })
    }
    let isNumber = program.ops.last?.reduces ?? false
    var features = ["ops:\(program.ops.count)"] + program.ops.map { "op:\($0.name)" }
    features.append(isNumber ? "out:number" : "out:list")
    features.append("level:\(level)")
    return TaskRecord(
      id: SplitAssignment.id(family: name, key: prompt), family: name, split: split, prompt: prompt,
      canonical: program.text,
      payload: .object([
        "examples": json(cases.prefix(Self.exampleCount)),
        "tests": json(cases.dropFirst(Self.exampleCount)),
      ]), features: Array(OrderedUnique.unique(features)))
  }

  // MARK: - Execution

  /// One check the attempt must pass.
  struct TestCase {
    var input: [Int]
    var output: ListValue
    /// "example" (visible in the prompt) or "test" (hidden).
    var set: String
    /// 1-based within its set.
    var number: Int
  }

  func testCases(of task: TaskRecord) -> Result<[TestCase], HindcastError> {
    func cases(_ key: String, _ set: String) -> [TestCase]? {
      guard let items = task.payload[key]?.arrayValue else { return nil }
      var result: [TestCase] = []
      for (index, item) in items.enumerated() {
        guard let inputJSON = item["in"], case .list(let input)? = ListValue(json: inputJSON),
          let outputJSON = item["out"], let output = ListValue(json: outputJSON)
        else { return nil }
        result.append(TestCase(input: input, output: output, set: set, number: index + 1))
      }
      return result
    }
    guard let examples = cases("examples", "example"), let tests = cases("tests", "test"),
      !(examples + tests).isEmpty
    else {
      return .failure(
        HindcastError(
          .invalidInput,
          "listdsl task '\(task.id)' needs payload {\"examples\": [{\"in\": [ints], \"out\": [ints] or int}], \"tests\": [...]}"
        ))
    }
    return .success(examples + tests)
  }

  public func validate(task: TaskRecord) throws {
    try requireOwnTask(task)
    _ = try testCases(of: task).get()
  }

  public func execute(task: TaskRecord, attempt: String) -> ExecutionResult {
    let cases: [TestCase]
    switch testCases(of: task) {
    case .success(let value): cases = value
    case .failure(let error):
      return ExecutionResult(
        passed: false, score: 0, kind: .checkerError, feedback: FeedbackText.bounded(error.message),
        details: ExecutionDetails(message: error.message))
    }
    let program: ListProgram
    switch ListLanguage.parse(attempt) {
    case .failure(let error):
      return ExecutionResult(
        passed: false, score: 0, kind: .parseError,
        feedback: FeedbackText.bounded("parse error at \(error.position): \(error.message)"),
        errorOffset: error.position,
        details: ExecutionDetails(position: error.position, message: error.message))
    case .success(let parsed): program = parsed
    }
    var passedCount = 0
    var firstFailure: ExecutionResult?
    for testCase in cases {
      let input = ListValue.list(testCase.input).text
      switch ListLanguage.run(program, on: testCase.input) {
      case .success(let output) where output == testCase.output:
        passedCount += 1
      case .success(let output):
        if firstFailure == nil {
          let got = FeedbackText.clip(output.text, limit: 32)
          let want = testCase.output.text
          firstFailure = ExecutionResult(
            passed: false, score: 0, kind: .failingTest,
            feedback: FeedbackText.bounded(
              "\(testCase.set) \(testCase.number): in \(input) want \(want) got \(got)"),
            errorOffset: nil,
            details: ExecutionDetails(
              test: testCase.number, testSet: testCase.set, expected: want, input: input, got: got))
        }
      case .failure(let error):
        if firstFailure == nil {
          let kind: ExecutionKind = error.reason == .stepLimit ? .stepLimit : .runtimeError
          let feedback =
            kind == .stepLimit
            ? "\(error.message) on \(input)"
            : "runtime error at \(error.position) on \(input): \(error.message)"
          firstFailure = ExecutionResult(
            passed: false, score: 0, kind: kind, feedback: FeedbackText.bounded(feedback),
            errorOffset: error.position,
            details: ExecutionDetails(
              test: testCase.number, testSet: testCase.set, position: error.position,
              written: FeedbackText.clip(program.ops[error.opIndex].text), input: input,
              message: error.message))
        }
      }
    }
    guard var failure = firstFailure else { return .pass() }
    failure.score = Double(passedCount) / Double(cases.count)
    return failure
  }

  // MARK: - Flaws

  public func flaw(solution: String, task: TaskRecord, rng: inout SeededRandom) -> String {
    let program = (try? ListLanguage.parse(solution).get()) ?? ListProgram(ops: [.sort])
    for _ in 0..<16 {
      let candidate = ListFlaws.draw(program: program, rng: &rng)
      if candidate != solution && !execute(task: task, attempt: candidate).passed { return candidate }
    }
    return program.text + "|"  // always a parse error: a missing op
  }
}

/// Order-preserving de-duplication.
enum OrderedUnique {
  static func unique(_ items: [String]) -> [String] {
    var seen: Set<String> = []
    return items.filter { seen.insert($0).inserted }
  }
}
