import HindcastMemory
import HindcastModel
import HindcastSupport
import HindcastTasks
import Testing

@testable import HindcastPipeline

@Suite struct ContextBuilderTests {
  let builder = ContextBuilder(contextLength: 192, reserve: 48)

  @Test func studentAndTeacherAnswersStartAtTheSamePosition() {
    let student = builder.student(task: "47+85")
    let hindsight = ContextBuilder.Hindsight(
      attempt: "7+5=12;4+8=12;=122", feedback: "step 2: wrote 4+8=12, correct 4+8+1=13",
      critique: "the carry from the ones column was dropped", notes: ["a short note"])
    let teacher = builder.teacher(task: "47+85", hindsight: hindsight)
    #expect(student.count == builder.answerPosition)
    #expect(teacher.tokens.count == builder.answerPosition)
    #expect(
      student.last == Tokenizer.Special.answer.rawValue
        && teacher.tokens.last == Tokenizer.Special.answer.rawValue)
    // Padding comes first and the task text is intact after it.
    #expect(student.first == Tokenizer.Special.pad.rawValue)
    #expect(Tokenizer.decode(student).hasSuffix("<task>47+85<answer>"))
    #expect(teacher.notesKept == 1)
    #expect(Tokenizer.decode(teacher.tokens).contains("<note>a short note<answer>"))
  }

  @Test func contextsThatDoNotFitLoseNotesThenCritiqueThenFeedback() {
    let small = ContextBuilder(contextLength: 96, reserve: 32)
    let hindsight = ContextBuilder.Hindsight(
      attempt: "7+5=12;4+8=12;=122", feedback: "step 2: wrote 4+8=12, correct 4+8+1=13",
      critique: "the carry from the ones column was dropped", notes: ["note one", "note two"])
    let teacher = small.teacher(task: "47+85", hindsight: hindsight)
    let text = Tokenizer.decode(teacher.tokens)
    #expect(teacher.tokens.count == small.answerPosition)
    #expect(teacher.notesKept == 0 && !text.contains("<note>"))
    #expect(!text.contains("<critique>"))
    #expect(text.contains("<attempt>7+5=12;4+8=12;=122<feedback>step 2"))
  }

  @Test func packingShiftsEveryTermToItsExample() {
    let examples = [
      TrainingSequence.supervised(prompt: [1, 2], completion: [3, 4]),
      TrainingSequence.supervised(prompt: [5], completion: [6, 7, 8]),
    ]
    var next = 0
    let packed = PretrainStage.pack(length: 9, misses: 0) {
      defer { next += 1 }
      return examples[next % 2]
    }
    #expect(packed.tokens == [1, 2, 3, 4, 5, 6, 7, 8])
    // Every term still predicts the token that follows its position.
    for term in packed.terms {
      guard case .crossEntropy(let target) = term.kind else {
        Issue.record("unexpected term kind")
        continue
      }
      #expect(packed.tokens[term.position + 1] == target)
    }
    #expect(packed.terms.count == 5)
  }

  /// The quickstart's geometry (context 224, answers of at most 40 tokens, notes of at most 64)
  /// must leave room for a memory note beside the full hindsight of most arith flaws: otherwise
  /// the rewrite stage never shows a note and memory values are measured in one arm only.
  @Test func quickstartTeacherContextsFitANote() throws {
    let family = ArithFamily()
    let tasks = try family.generate(split: .train, count: 200, seed: 7, difficulty: TaskDifficulty(level: 1))
    let builder = ContextBuilder(contextLength: 224, reserve: 40)
    let writer = RuleBasedNoteProposer(maxTokens: 64)
    var rng = SeededRandom(seed: 3)
    var shown = 0
    for task in tasks {
      let attempt = family.flaw(solution: task.canonical, task: task, rng: &rng)
      let example = PretrainStage.revision(
        task: task, attempt: attempt, family: family, builder: builder, noteWriter: writer)
      #expect(example.tokens.count <= 224)
      if example.tokens.contains(Tokenizer.Special.note.rawValue) { shown += 1 }
    }
    #expect(shown >= 160, "a note fits in only \(shown) of 200 revision contexts")
    // Without a writer no note segment appears.
    let task = tasks[0]
    let plain = PretrainStage.revision(
      task: task, attempt: family.flaw(solution: task.canonical, task: task, rng: &rng), family: family,
      builder: builder)
    #expect(!plain.tokens.contains(Tokenizer.Special.note.rawValue))
  }
}
