import HindcastSupport
import Testing

@testable import HindcastTasks

@Suite struct ListDSLTests {
  let family = ListDSLFamily()

  /// A task with hand-written examples and hidden tests for `program`.
  func task(_ program: String, inputs: [[Int]]) throws -> TaskRecord {
    let parsed = try ListLanguage.parse(program).get()
    let cases = try inputs.map { input -> JSONValue in
      let output = try ListLanguage.run(parsed, on: input).get()
      return .object(["in": ListValue.list(input).json, "out": output.json])
    }
    return TaskRecord(
      id: "listdsl-test", family: "listdsl", split: .train, prompt: "", canonical: program,
      payload: .object([
        "examples": .array(Array(cases.prefix(3))), "tests": .array(Array(cases.dropFirst(3))),
      ]),
      features: [])
  }

  let inputs = [[3, 1, 2], [5, 4, 0, 9], [7, 7, 1], [2, 8, 6, 1, 3], [9, 0, 4]]

  func run(_ program: String, attempt: String) throws -> (ExecutionResult, Critique) {
    let task = try task(program, inputs: inputs)
    let result = family.execute(task: task, attempt: attempt)
    return (result, family.critique(task: task, attempt: attempt, result: result))
  }

  @Test func interpreterSemantics() throws {
    func eval(_ program: String, _ input: [Int]) throws -> ListValue {
      try ListLanguage.run(try ListLanguage.parse(program).get(), on: input).get()
    }
    #expect(try eval("sort|take 2|map +3", [3, 1, 2]) == .list([4, 5]))
    #expect(try eval("keep even|rev", [1, 2, 3, 4]) == .list([4, 2]))
    #expect(try eval("keep >4|map *2", [3, 5, 9]) == .list([10, 18]))
    #expect(try eval("keep <3|sum", [3, 1, 2]) == .number(3))
    #expect(try eval("drop 1|max", [9, 1, 2]) == .number(2))
    #expect(try eval("keep odd", [2, 4]) == .list([]))
    #expect(try eval(" sort | take2 ", [3, 1, 2]) == .list([1, 2]))  // spacing is lenient
    #expect(try ListLanguage.parse("sort|take 2|map +3").get().text == "sort|take 2|map +3")
  }

  @Test func equivalentProgramsPass() throws {
    #expect(try run("sort|take 2", attempt: "sort|take 2").0.passed)
    #expect(try run("rev|sort", attempt: "sort").0.passed)
    #expect(try run("map +2|map +1", attempt: "map +3").0.passed)
  }

  @Test func failingTestReportsInputWantAndGot() throws {
    let (result, critique) = try run("sort|take 2", attempt: "take 2")
    #expect(result.kind == .failingTest)
    #expect(result.feedback == "example 1: in [3,1,2] want [1,2] got [3,1]")
    #expect(result.feedbackText(level: .location) == "example 1 fails: in [3,1,2] got [3,1]")
    #expect(result.errorOffset == nil)
    #expect(critique.cause == "missing-sort")  // the wanted outputs are sorted, [3,1] is not
    #expect(result.score < 1 && result.score >= 0)
  }

  @Test func hiddenTestsAreChecked() throws {
    // Examples [3,1,2], [5,4,0,9], [7,7,1] all have a 1 or a 0 ... the hidden [2,8,6,1,3] does not.
    let task = try task(
      "keep <5", inputs: [[3, 1, 2], [5, 4, 0, 9], [7, 7, 1], [2, 8, 6, 1, 3], [9, 0, 4]])
    let result = family.execute(task: task, attempt: "keep <6")
    #expect(result.kind == .failingTest)
    #expect(result.details.testSet == "example" || result.details.testSet == "test")
    let hiddenOnly = family.execute(
      task: try self.task("keep <9", inputs: [[1, 2], [3, 4], [5], [9, 1], [8]]), attempt: "keep <10")
    #expect(hiddenOnly.feedback == "test 1: in [9,1] want [1] got [9,1]")
  }

  @Test func critiquesDescribeHowTheOutputIsWrong() throws {
    #expect(try run("sort", attempt: "rev").1.cause == "missing-sort")
    #expect(try run("rev", attempt: "sort|rev").1.cause == "wrong-order")
    #expect(try run("keep odd", attempt: "keep odd|sort").1.cause == "extra-sort")
    #expect(try run("sort", attempt: "sort|rev").1.cause == "reversed-order")
    #expect(try run("map +3", attempt: "map +2").1.cause == "map-offset")
    #expect(try run("map *2", attempt: "map *3").1.cause == "map-scale")
    #expect(try run("take 2", attempt: "take 3").1.cause == "take-too-many")
    #expect(try run("take 3", attempt: "take 2").1.cause == "take-too-few")
    #expect(try run("drop 1", attempt: "drop 2").1.cause == "drop-too-many")
    let (filter, filterCritique) = try run("keep >2", attempt: "map +0")
    #expect(!filter.passed)
    #expect(filterCritique.cause == "missing-filter")
    #expect(filterCritique.hint == "try keep >2")
    #expect(try run("take 2", attempt: "drop 1").1.cause == "wrong-end")
    #expect(try run("keep odd", attempt: "keep even").1.cause == "wrong-filter")
    #expect(try run("keep >2", attempt: "keep <2").1.cause == "wrong-filter")
    #expect(try run("map *2", attempt: "map +2").1.cause == "wrong-map")
    #expect(try run("map *2", attempt: "map +2").1.hint == "map *2")
    #expect(try run("sum", attempt: "sort").1.cause == "missing-reduction")
    #expect(try run("sort", attempt: "sum").1.cause == "extra-reduction")
    #expect(try run("sum", attempt: "max").1.cause == "wrong-number")
  }

  @Test func runtimeErrorsHavePositions() throws {
    let (take, takeCritique) = try run("sort", attempt: "sort|take 4")
    #expect(take.kind == .runtimeError)
    #expect(take.errorOffset == 5)
    #expect(take.feedback == "runtime error at 5 on [3,1,2]: take 4 on a 3-element list")
    #expect(take.feedbackText(level: .location) == "runtime error at 5")
    #expect(takeCritique.cause == "take-too-long")
    #expect(try run("sort", attempt: "keep >20|max").1.cause == "max-of-empty")
    #expect(try run("sort", attempt: "sum|sort").1.cause == "op-after-reduction")
    #expect(
      try run("sort", attempt: String(repeating: "map *9|", count: 8) + "sort").1.cause == "value-too-large")
  }

  @Test func parseErrorsHavePositions() throws {
    let cases: [(String, Int, String)] = [
      ("", 0, "empty-program"),
      ("sort||rev", 5, "empty-op"),
      ("sortt|rev", 0, "unknown-op"),
      ("sort|take", 9, "missing-argument"),
      ("keep 3", 5, "bad-argument"),
      ("sort rev", 5, "unexpected-text"),
      ("sort|(take 2", 5, "unknown-op"),
      ("sort|take 2)", 11, "unexpected-text"),
    ]
    for (attempt, position, cause) in cases {
      let (result, critique) = try run("sort", attempt: attempt)
      #expect(result.kind == .parseError, "\(attempt)")
      #expect(result.errorOffset == position, "\(attempt): \(result.feedback)")
      #expect(critique.cause == cause, "\(attempt)")
    }
  }

  @Test func binaryAndHugeAttempts() throws {
    let binary = String(decoding: [0x00, 0xFF, 0xFE, 0x7C, 0x80], as: UTF8.self)
    let (binaryResult, _) = try run("sort", attempt: binary)
    #expect(binaryResult.kind == .parseError && binaryResult.errorOffset == 0)
    #expect(binaryResult.feedback.utf8.allSatisfy { (0x20...0x7E).contains($0) })
    let huge = String(repeating: "rev|", count: 250_000) + "sort"  // about 1 MB, parses
    let (hugeResult, hugeCritique) = try run("sort", attempt: huge)
    #expect(hugeResult.kind == .stepLimit)
    #expect(hugeResult.feedback.utf8.count <= ExecutionResult.maxFeedbackBytes)
    #expect(hugeCritique.cause == "step-limit")
    let hugeWord = String(repeating: "x", count: 1 << 20)
    let word = try run("sort", attempt: hugeWord).0
    #expect(word.kind == .parseError && word.feedback.utf8.count <= ExecutionResult.maxFeedbackBytes)
  }

  @Test(arguments: [1, 2, 3, 4])
  func everyCanonicalPassesAndEveryFlawFailsConcisely(level: Int) throws {
    // Many seeds, both splits.
    var tasks: [TaskRecord] = []
    for seed in UInt64(1)...6 {
      tasks += try family.generate(
        split: [TaskSplit.train, .validation, .test][Int(seed % 3)], count: 30,
        seed: seed * 31 + UInt64(level),
        difficulty: TaskDifficulty(level: level))
    }
    var rng = SeededRandom(seed: 5)
    var causes: Set<String> = []
    for task in tasks {
      #expect(family.execute(task: task, attempt: task.canonical).passed, "\(task.prompt) \(task.canonical)")
      #expect(task.features.contains("ops:\(level)"))
      #expect(task.prompt.utf8.count <= ListDSLFamily.maxPromptBytes, "long prompt: \(task.prompt)")
      let flawed = family.flaw(solution: task.canonical, task: task, rng: &rng)
      let result = family.execute(task: task, attempt: flawed)
      #expect(!result.passed, "flaw passed: \(task.canonical) -> \(flawed)")
      #expect(result.feedback.utf8.count <= ExecutionResult.maxFeedbackBytes)
      #expect(result.errorOffset.map { (0...flawed.utf8.count).contains($0) } ?? true)
      let critique = family.critique(task: task, attempt: flawed, result: result)
      #expect(critique.rendered.utf8.count <= 100, "long critique: \(critique.rendered)")
      causes.insert(critique.cause)
    }
    #expect(causes.count >= 5, "flaws should be varied: \(causes.sorted())")
  }

  @Test func malformedPayloadIsACheckerError() throws {
    var task = try task("sort", inputs: inputs)
    task.payload = .object(["examples": .string("nope")])
    #expect(family.execute(task: task, attempt: "sort").kind == .checkerError)
    #expect(throws: HindcastError.self) { try family.validate(task: task) }
  }
}
