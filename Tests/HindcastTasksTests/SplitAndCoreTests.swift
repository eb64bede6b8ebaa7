import Foundation
import HindcastSupport
import Testing

@testable import HindcastTasks

@Suite struct SplitTests {
  @Test(arguments: ["arith", "arith-plain", "listdsl"])
  func trainValidationAndTestNeverOverlap(familyName: String) throws {
    let family = try TaskFamilyRegistry().family(named: familyName)
    let all = TaskDifficulty(levels: family.levels)
    var bySplit: [TaskSplit: [TaskRecord]] = [:]
    for seed in UInt64(1)...3 {
      bySplit[.train, default: []] += try family.generate(
        split: .train, count: 1500, seed: seed, difficulty: all)
    }
    bySplit[.validation] = try family.generate(split: .validation, count: 1500, seed: 98, difficulty: all)
    bySplit[.test] = try family.generate(split: .test, count: 1500, seed: 99, difficulty: all)
    for (split, tasks) in bySplit {
      #expect(tasks.allSatisfy { $0.split == split })
      // The assignment itself is what guarantees it: every prompt maps to exactly one split.
      #expect(tasks.allSatisfy { SplitAssignment.split(family: familyName, key: $0.prompt) == split })
    }
    for a in TaskSplit.allCases {
      for b in TaskSplit.allCases where a != b {
        let prompts = Set(bySplit[b, default: []].map(\.prompt))
        let ids = Set(bySplit[b, default: []].map(\.id))
        #expect(bySplit[a, default: []].allSatisfy { !prompts.contains($0.prompt) && !ids.contains($0.id) })
      }
    }
    #expect(Set(bySplit[.test, default: []].map(\.prompt)).count == 1500)
  }

  @Test func validationAndTestAreEachAboutOneEighthOfAllTasks() {
    let keys = (0..<20_000).map { "\($0)+\($0 * 7 % 1000)" }
    let counts = Dictionary(grouping: keys) { SplitAssignment.split(family: "arith", key: $0) }.mapValues(
      \.count)
    #expect((2000...3000).contains(counts[.test, default: 0]))
    #expect((2000...3000).contains(counts[.validation, default: 0]))
    #expect((14_000...16_000).contains(counts[.train, default: 0]))
  }

  @Test func oldHeldOutNameIsAClearError() throws {
    #expect(throws: HindcastError.self) { try TaskSplit.parse("held-out") }
    #expect(try TaskSplit.parse("validation") == .validation)
  }

  @Test func generationIsReproducibleAndDistinct() throws {
    let family = ListDSLFamily()
    let difficulty = TaskDifficulty(levels: 1...3)
    let first = try family.generate(split: .train, count: 50, seed: 42, difficulty: difficulty)
    let again = try family.generate(split: .train, count: 50, seed: 42, difficulty: difficulty)
    let other = try family.generate(split: .train, count: 50, seed: 43, difficulty: difficulty)
    #expect(first == again)
    #expect(first != other)
    #expect(Set(first.map(\.id)).count == 50)
    #expect(SplitAssignment.id(family: "arith", key: "47+85") == (try ArithFamily().task(prompt: "47+85")).id)
  }

  @Test func exhaustedSpaceAndBadDifficultyAreClearErrors() throws {
    let multiplyOnly = ArithFamily(operations: [.mul])
    // Level 1 multiplication has 90 * 8 = 720 problems, about 90 of them in the test split.
    #expect(throws: HindcastError.self) {
      try multiplyOnly.generate(split: .test, count: 500, seed: 1, difficulty: TaskDifficulty(level: 1))
    }
    do {
      _ = try ArithFamily().generate(split: .train, count: 5, seed: 1, difficulty: TaskDifficulty(level: 9))
      Issue.record("expected an error")
    } catch let error as HindcastError {
      #expect(error.message.contains("1...4"))
    }
    #expect(
      try ArithFamily().generate(split: .train, count: 0, seed: 1, difficulty: TaskDifficulty(level: 1))
        .isEmpty)
  }
}

@Suite struct CoreTests {
  @Test func registryListsValidNames() throws {
    let registry = TaskFamilyRegistry()
    #expect(try registry.family(named: "arith").name == "arith")
    #expect(try registry.family(named: "arith-plain").name == "arith-plain")
    #expect(try registry.family(named: "listdsl").name == "listdsl")
    do {
      _ = try registry.family(named: "chess")
      Issue.record("expected an error")
    } catch let error as HindcastError {
      #expect(error.hint?.contains("arith, arith-plain, listdsl, exec") == true)
    }
    #expect(throws: HindcastError.self) { try registry.family(named: "exec") }
  }

  @Test func taskRecordRoundTripsThroughJSON() throws {
    let task = try ListDSLFamily().generate(
      split: .test, count: 1, seed: 3, difficulty: TaskDifficulty(level: 2))[0]
    let data = try JSONEncoder().encode(task)
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("\"split\":\"test\""))
    #expect(try JSONDecoder().decode(TaskRecord.self, from: data) == task)
  }

  @Test func jsonValueKeepsTypes() throws {
    let value = try JSONValue.parse(Array(#"{"a":1,"b":true,"c":[1.5,"x",null],"d":{}}"#.utf8))
    #expect(value["a"] == .number(1))
    #expect(value["b"] == .bool(true))
    #expect(value["c"] == .array([.number(1.5), .string("x"), .null]))
    #expect(value.canonicalText == #"{"a":1,"b":true,"c":[1.5,"x",null],"d":{}}"#)
    #expect(throws: HindcastError.self) { try JSONValue.parse(Array("{".utf8)) }
  }

  @Test func resultEncodesWithStableKeysAndLevels() throws {
    let result = ExecutionResult(
      passed: false, score: 0.5, kind: .wrongStep, feedback: "step 2: wrote 4+8=12, correct 4+8+1=13",
      errorOffset: 10, details: ExecutionDetails(step: 2, written: "4+8=12", expected: "4+8+1=13"))
    let text = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
    #expect(text.contains("\"kind\":\"wrong-step\"") && text.contains("\"error_offset\":10"))
    #expect(result.feedbackText(level: .full) == result.feedback)
    #expect(!result.feedbackText(level: .location).contains("4+8+1=13"))
    #expect(result.feedbackText(level: .bare) == "wrong")
    let limit = ExecutionResult(
      passed: false, score: 0, kind: .timeLimit, feedback: "time limit exceeded (wall 10 s)")
    #expect(limit.feedbackText(level: .location) == limit.feedback)
  }

  @Test func critiqueRendering() {
    #expect(Critique(text: "a", cause: "b", hint: "c").rendered == "a; c")
    #expect(Critique(text: "a", cause: "b").rendered == "a")
  }
}
