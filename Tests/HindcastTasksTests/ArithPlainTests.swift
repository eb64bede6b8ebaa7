import HindcastSupport
import Testing

@testable import HindcastTasks

@Suite struct ArithPlainTests {
  let family = ArithFamily(format: .plain)

  func run(_ prompt: String, _ attempt: String) throws -> (ExecutionResult, Critique) {
    let task = try family.task(prompt: prompt)
    let result = family.execute(task: task, attempt: attempt)
    return (result, family.critique(task: task, attempt: attempt, result: result))
  }

  @Test func theCanonicalSolutionIsTheNumberAndTheTaskBelongsToItsOwnFamily() throws {
    let task = try family.task(prompt: "47+85")
    #expect(task.canonical == "132")
    #expect(task.family == "arith-plain")
    #expect(task.id.hasPrefix("arith-plain-"))
    #expect(throws: HindcastError.self) { try ArithFamily().validate(task: task) }
  }

  @Test(arguments: ["132", "47 + 85 = 132", "47+85=132.", "The answer is 132\n", "  132  "])
  func theLastNumberOfTheReplyIsTheAnswer(reply: String) throws {
    let (result, critique) = try run("47+85", reply)
    #expect(result.passed && result.score == 1 && critique.cause == "pass")
  }

  @Test func aWrongDigitIsNamedWithItsColumnFactAndItsOffset() throws {
    let reply = "47 + 85 = 192"
    let (result, critique) = try run("47+85", reply)
    #expect(!result.passed && result.kind == .wrongAnswer)
    #expect(result.feedback == "answer: wrote 192; the tens digit is 3 (4+8+1=13)")
    // "1" is right, "9" is the first character off the correct answer.
    #expect(result.errorOffset == 11)
    #expect(Array(reply.utf8)[11] == UInt8(ascii: "9"))
    #expect(result.score == 0.25)
    #expect(result.feedbackText(level: .location) == "the tens digit of 192 is wrong")
    #expect(!result.feedbackText(level: .location).contains("3"))
    #expect(result.feedbackText(level: .bare) == "wrong")
    #expect(critique.hint == "4+8+1=13")
  }

  @Test func critiquesNameTheLikelyCause() throws {
    #expect(try run("47+85", "122").1.cause == "dropped-carry")
    #expect(try run("85-47", "48").1.cause == "missing-borrow")
    #expect(try run("47+85", "32").1.cause == "answer-dropped-carry")
    #expect(try run("47+85", "231").1.cause == "answer-reversed")
    #expect(try run("47+85", "1132").1.cause == "wrong-length")
    #expect(try run("47*6", "272").1.cause == "column-error")
    let (noNumber, critique) = try run("47+85", "I think it is large")
    #expect(noNumber.kind == .parseError && noNumber.errorOffset == 0 && critique.cause == "no-number")
  }

  @Test func extraDigitsSayHowLongTheResultIs() throws {
    let (result, _) = try run("47+85", "1132")
    #expect(
      result.feedback
        == "answer: wrote 1132; the thousands digit should not be there: the result has 3 digits")
    #expect(result.errorOffset == 1)
  }

  @Test func flawsAreWrongPlainNumbersAndTheCanonicalAnswerPasses() throws {
    let tasks = try family.generate(
      split: .train, count: 200, seed: 3, difficulty: TaskDifficulty(levels: 1...4))
    var rng = SeededRandom(seed: 11)
    for task in tasks {
      #expect(family.execute(task: task, attempt: task.canonical).passed)
      let flawed = family.flaw(solution: task.canonical, task: task, rng: &rng)
      let digitsOnly = flawed.allSatisfy { $0.isASCIIDigitCharacter }
      #expect(digitsOnly, "\(task.prompt): \(flawed)")
      let result = family.execute(task: task, attempt: flawed)
      #expect(!result.passed, "flaw passed: \(task.prompt) \(flawed)")
      #expect(result.errorOffset.map { (0...flawed.utf8.count).contains($0) } ?? false)
    }
  }

  @Test func anyReplyIsCheckedWithoutCrashing() throws {
    let task = try family.task(prompt: "947+85")
    for reply in ["", "\u{0}", String(repeating: "9", count: 100_000), "１２３", "-1032", "10 32"] {
      let result = family.execute(task: task, attempt: reply)
      #expect(result.feedback.utf8.count <= ExecutionResult.maxFeedbackBytes)
      _ = family.critique(task: task, attempt: reply, result: result)
    }
    #expect(family.execute(task: task, attempt: "-1032").passed)  // the sign is prose
  }
}
