import HindcastSupport
import Testing

@testable import HindcastTasks

@Suite struct ArithTests {
  let family = ArithFamily()

  func task(_ prompt: String) throws -> TaskRecord { try family.task(prompt: prompt) }

  func run(_ prompt: String, _ attempt: String) throws -> (ExecutionResult, Critique) {
    let task = try task(prompt)
    let result = family.execute(task: task, attempt: attempt)
    return (result, family.critique(task: task, attempt: attempt, result: result))
  }

  @Test func canonicalScratchpadsHaveTheDocumentedFormat() throws {
    #expect(try task("47+85").canonical == "7+5=12;4+8+1=13;=132")
    #expect(try task("85-47").canonical == "15-7=8;8-1-4=3;=38")
    #expect(try task("47*6").canonical == "7*6=42;4*6+4=28;=282")
    #expect(try task("100-1").canonical == "10-1=9;10-1-0=9;1-1-0=0;=99")
    #expect(try task("947+85").canonical == "7+5=12;4+8+1=13;9+0+1=10;=1032")
    #expect(try task("50-50").canonical == "0-0=0;5-5=0;=0")
  }

  @Test func correctAttemptPassesWithFullScore() throws {
    let (result, critique) = try run("47+85", "7+5=12;4+8+1=13;=132")
    #expect(result.passed && result.kind == .pass && result.score == 1)
    #expect(result.feedbackText(level: .bare) == "passed")
    #expect(critique.cause == "pass")
    // A trailing newline is tolerated.
    #expect(try run("47+85", "7+5=12;4+8+1=13;=132\n").0.passed)
  }

  @Test func droppedCarryNamesTheStepTheValueAndTheOffset() throws {
    let attempt = "7+5=12;4+8=12;=122"
    let (result, critique) = try run("47+85", attempt)
    #expect(!result.passed)
    #expect(result.kind == .wrongStep)
    #expect(result.feedback == "step 2: wrote 4+8=12, correct 4+8+1=13")
    #expect(result.errorOffset == 10)  // the '=' where "+1" should be
    #expect(Array(attempt.utf8)[10] == UInt8(ascii: "="))
    #expect(result.details.step == 2 && result.details.expected == "4+8+1=13")
    #expect(result.feedbackText(level: .location) == "step 2 is wrong: wrote 4+8=12")
    #expect(result.feedbackText(level: .bare) == "wrong")
    #expect(critique.cause == "dropped-carry")
    #expect(critique.text == "the carry from the ones column was dropped")
    #expect(critique.hint == "7+5=12 carries 1")
    #expect(abs(result.score - 1.0 / 3.0) < 1e-9)
  }

  @Test func carryAndBorrowMistakesAreTellApart() throws {
    #expect(try run("42+31", "2+1+1=4;4+3=7;=74").1.cause == "spurious-carry")
    #expect(try run("85-47", "5-7=2;8-4=4;=42").1.cause == "missing-borrow")
    #expect(try run("85-47", "15-7=8;8-4=4;=48").1.cause == "borrow-not-subtracted")
    #expect(try run("85-47", "7-5=2;8-4=4;=42").1.cause == "reversed-subtraction")
    #expect(try run("83-41", "13-1=12;8-4=4;=42").1.cause == "spurious-borrow")
    #expect(try run("47*6", "7*6=42;4*6=24;=242").1.cause == "dropped-carry")
    #expect(try run("47*6", "7*6=42;4*6+2=26;=262").1.cause == "wrong-carry")
    #expect(try run("47*6", "7*6=48;4*6+4=28;=288").1.cause == "times-table-error")
    #expect(try run("47+85", "7+5=13;4+8+1=13;=133").1.cause == "addition-error")
    #expect(try run("85-47", "15-7=9;8-1-4=3;=39").1.cause == "subtraction-error")
    #expect(try run("47+85", "7+6=13;4+8+1=13;=133").1.cause == "misread-digit")
    #expect(try run("47+85", "5+7=12;4+8+1=13;=132").1.cause == "operand-order")
    #expect(try run("47+85", "7-5=2;4-8=4;=42").1.cause == "wrong-op")
  }

  @Test func answerMistakes() throws {
    let (dropped, droppedCritique) = try run("47+85", "7+5=12;4+8+1=13;=32")
    #expect(dropped.kind == .wrongAnswer)
    #expect(dropped.feedback == "answer: wrote 32, correct 132")
    #expect(dropped.errorOffset == 17)
    #expect(droppedCritique.cause == "answer-dropped-carry")
    #expect(try run("47+85", "7+5=12;4+8+1=13;=231").1.cause == "answer-reversed")
    #expect(try run("47+85", "7+5=12;4+8+1=13;=133").1.cause == "answer-mismatch")
    #expect(try run("100-1", "10-1=9;10-1-0=9;1-1-0=0;=099").1.cause == "answer-leading-zero")
    let (missing, missingCritique) = try run("47+85", "7+5=12;4+8+1=13")
    #expect(missing.kind == .wrongAnswer && missing.feedback == "answer: missing, correct 132")
    #expect(missing.errorOffset == 15)
    #expect(missingCritique.cause == "missing-answer")
  }

  @Test func missingExtraAndTruncatedSteps() throws {
    let (missing, missingCritique) = try run("947+85", "7+5=12;4+8+1=13;=132")
    #expect(missing.feedback == "step 3: missing, correct 9+0+1=10")
    #expect(missing.errorOffset == 16)
    #expect(missing.feedbackText(level: .location) == "step 3 is wrong: missing")
    #expect(missingCritique.cause == "missing-step")
    let (extra, extraCritique) = try run("47+85", "7+5=12;4+8+1=13;0+0+1=1;=132")
    #expect(extra.feedback == "step 3: wrote 0+0+1=1, correct =132")
    #expect(extraCritique.cause == "extra-step")
    let (cut, cutCritique) = try run("47+85", "7+5=12;4+8+")
    #expect(cut.kind == .wrongStep)
    #expect(cut.errorOffset == 11)  // the attempt ended where the step needed more
    #expect(cutCritique.cause == "truncated")
    #expect(try run("47+85", "7+5=12;").0.feedback == "step 2: missing, correct 4+8+1=13")
  }

  @Test func malformedAttemptsAreParseErrorsWithPositions() throws {
    let (empty, emptyCritique) = try run("47+85", "")
    #expect(empty.kind == .parseError && empty.errorOffset == 0)
    #expect(emptyCritique.cause == "empty-attempt")
    let (garbage, _) = try run("47+85", "7+5=12;4+8+1=1x;=132")
    #expect(garbage.kind == .parseError)
    #expect(garbage.errorOffset == 14)
    #expect(garbage.feedback == "parse error at 14: expected ';', found 'x'")
    #expect(garbage.feedbackText(level: .location) == "parse error at 14")
    let unbalanced = try run("47+85", "(7+5=12;4+8+1=13;=132").0
    #expect(unbalanced.kind == .parseError && unbalanced.errorOffset == 0)
    let binary = String(decoding: [0xFF, 0x00, 0xC3, 0x28, 0x37], as: UTF8.self)
    let (binaryResult, binaryCritique) = try run("47+85", binary)
    #expect(binaryResult.kind == .parseError && binaryResult.errorOffset == 0)
    #expect(binaryResult.feedback.utf8.allSatisfy { (0x20...0x7E).contains($0) })
    #expect(binaryCritique.cause == "parse-error")
    let trailing = try run("47+85", "7+5=12;4+8+1=13;=132;7").0
    #expect(trailing.kind == .parseError && trailing.errorOffset == 20)
  }

  @Test func hugeAttemptsStayCheapAndShort() throws {
    let huge = String(repeating: "7+5=12;", count: 150_000)  // about 1 MB
    let (result, critique) = try run("47+85", huge)
    #expect(result.kind == .wrongStep && result.details.step == 2)
    #expect(result.feedback.utf8.count <= ExecutionResult.maxFeedbackBytes)
    let hugeAnswer = "7+5=12;4+8+1=13;=" + String(repeating: "1", count: 1 << 20)
    let answer = try run("47+85", hugeAnswer).0
    #expect(answer.kind == .wrongAnswer)
    #expect(answer.feedback.utf8.count <= ExecutionResult.maxFeedbackBytes)
    #expect(critique.rendered.utf8.count <= 100)
  }

  @Test func promptsAreParsedAndValidated() throws {
    #expect(try task(" 12+3 ").prompt == "12+3")
    #expect(throws: HindcastError.self) { try family.task(prompt: "12/3") }
    #expect(throws: HindcastError.self) { try family.task(prompt: "3-12") }
    #expect(throws: HindcastError.self) { try family.task(prompt: "12*34") }
    var bad = try task("47+85")
    bad.payload = .object(["op": .string("pow"), "a": .number(1), "b": .number(2)])
    #expect(throws: HindcastError.self) { try family.validate(task: bad) }
    #expect(family.execute(task: bad, attempt: "x").kind == .checkerError)
  }

  @Test(arguments: [1, 2, 3, 4])
  func everyCanonicalPassesAndEveryFlawFailsConcisely(level: Int) throws {
    // Many seeds, both splits.
    var tasks: [TaskRecord] = []
    for seed in UInt64(1)...6 {
      tasks += try family.generate(
        split: [TaskSplit.train, .validation, .test][Int(seed % 3)], count: 40,
        seed: seed * 977 + UInt64(level),
        difficulty: TaskDifficulty(level: level))
    }
    var rng = SeededRandom(seed: 11)
    var causes: Set<String> = []
    for task in tasks {
      let passed = family.execute(task: task, attempt: task.canonical)
      #expect(passed.passed, "canonical failed: \(task.prompt) \(task.canonical) -> \(passed.feedback)")
      #expect(task.features.contains("level:\(level)"))
      let flawed = family.flaw(solution: task.canonical, task: task, rng: &rng)
      let result = family.execute(task: task, attempt: flawed)
      #expect(!result.passed, "flaw passed: \(task.prompt) \(flawed)")
      #expect(result.feedback.utf8.count <= ExecutionResult.maxFeedbackBytes)
      #expect(result.errorOffset.map { (0...flawed.utf8.count).contains($0) } ?? true)
      let critique = family.critique(task: task, attempt: flawed, result: result)
      #expect(critique.rendered.utf8.count <= 100, "long critique: \(critique.rendered)")
      #expect(critique.cause != "other")
      causes.insert(critique.cause)
    }
    #expect(causes.count >= 5, "flaws should be varied: \(causes.sorted())")
  }

  @Test func executionIsDeterministic() throws {
    let task = try task("85-47")
    let first = family.execute(task: task, attempt: "15-7=8;8-4=4;=48")
    let second = family.execute(task: task, attempt: "15-7=8;8-4=4;=48")
    #expect(first == second)
  }
}
