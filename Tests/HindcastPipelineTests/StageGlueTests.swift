import Foundation
import HindcastMemory
import HindcastModel
import HindcastSupport
import HindcastTasks
import Testing

@testable import HindcastPipeline

/// The glue between stages: the teacher context every shipped arm builds, and the mapping of a
/// located error from the text to the attempt's tokens.
@Suite struct StageGlueTests {
  /// What a teacher context holds, read back from its tokens.
  struct Contents: Equatable {
    var feedback: FeedbackLevel?
    var critique: Bool
    var sibling: Bool
    var memory: Bool
  }

  static let task = "47+85"
  static let attempt = "7+5=12;4+8=12;=122"
  static let sibling = "7+5=12;4+8+1=13;=132"
  static let note = "When a column sums to ten or more, carry one."

  /// The segments of the teacher context `spec` builds for a failed arith attempt that has a
  /// passing sibling and one memory note on offer (shown: the note's coin came up "include").
  static func contents(spec: PipelineSpec) throws -> Contents {
    let family = ArithFamily()
    let task = try family.task(prompt: Self.task)
    let result = family.execute(task: task, attempt: Self.attempt)
    #expect(!result.passed)
    let critique = family.critique(task: task, attempt: Self.attempt, result: result)
    let plan = TeacherContextPlan(
      builder: ContextBuilder(contextLength: 320, reserve: 40), segments: TeacherSegments(spec: spec))
    let parts = try plan.parts(
      task: task.prompt, attempt: Self.attempt, result: result, critique: critique, sibling: Self.sibling)
    let notes = try plan.fittingNotes(task: task.prompt, parts: parts, candidates: [Self.note], text: { $0 })
    let teacher = try plan.context(task: task.prompt, parts: parts, shown: notes)
    let text = Tokenizer.decode(teacher.tokens)
    let level = FeedbackLevel.allCases.first {
      text.contains("<feedback>" + result.feedbackText(level: $0) + "<")
    }
    return Contents(
      feedback: level, critique: text.contains("<critique>" + critique.rendered),
      sibling: text.contains("<note>" + TeacherSegments.siblingPrefix + Self.sibling),
      memory: text.contains("<note>" + Self.note))
  }

  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The shipped arms of `pipelines/arms.toml`.
  static func shippedArms() throws -> [ExperimentArm] {
    try ArmCatalog.load(path: root.appendingPathComponent("pipelines/arms.toml").path)
  }

  /// The spec of one shipped arm, rendered on the quickstart base like an experiment does.
  static func spec(arm name: String) throws -> (arm: ExperimentArm, spec: PipelineSpec) {
    let arm = try #require(
      try shippedArms().first { $0.name == name }, "no arm \(name) in pipelines/arms.toml")
    let path = root.appendingPathComponent("pipelines/quickstart.toml").path
    let base = try TOMLDocument(text: try String(contentsOfFile: path, encoding: .utf8), source: path)
    let spec = try PipelineSpec.parse(
      text: try SpecRendering.render(base: base, overrides: arm.overrides, comment: []), source: "arm.toml")
    return (arm, spec)
  }

  /// The arms file ships exactly the arms this suite checks.
  static let shippedNames = [
    "sdpo", "sdpo-all-roundstart", "sdpo-ema", "sft", "sdpo+sft", "grpo", "rft", "sdpo+grpo", "sdpo-nomemory",
    "sdpo-bare", "sdpo-location", "sdpo-nocritique", "sdpo-nosibling",
  ]

  @Test func theArmsFileShipsEveryCheckedArm() throws {
    #expect(try Self.shippedArms().map(\.name) == Self.shippedNames)
  }

  /// Every shipped arm that has a teacher holds exactly the segments it names; each ablation
  /// differs from sdpo in exactly one segment.
  @Test(arguments: StageGlueTests.shippedNames)
  func teacherContextOfEveryShippedArm(name: String) throws {
    let (arm, spec) = try Self.spec(arm: name)
    guard !arm.isBaseline else {
      #expect(spec.distill.sdpo == 0 && spec.distill.sft == 0, "baselines have no teacher")
      return
    }
    let full = Contents(feedback: .full, critique: true, sibling: true, memory: true)
    var expected = full
    switch name {
    case "sdpo-bare": expected.feedback = .bare
    case "sdpo-location": expected.feedback = .location
    case "sdpo-nocritique": expected.critique = false
    case "sdpo-nosibling": expected.sibling = false
    case "sdpo-nomemory": expected.memory = false
    default: break
    }
    #expect(try Self.contents(spec: spec) == expected, "\(name)")
  }

  /// The switches are independent: turning one off never removes another.
  @Test func segmentSwitchesAreIndependent() throws {
    for level in FeedbackLevel.allCases {
      for mask in 0..<8 {
        var spec = PipelineSpec()
        spec.rewrite.feedback = PipelineSpec.Feedback(rawValue: level.rawValue) ?? .full
        spec.rewrite.critique = mask & 1 != 0
        spec.rewrite.useSibling = mask & 2 != 0
        spec.rewrite.memory = mask & 4 != 0
        let contents = try Self.contents(spec: spec)
        #expect(
          contents
            == Contents(
              feedback: level, critique: mask & 1 != 0, sibling: mask & 2 != 0, memory: mask & 4 != 0))
      }
    }
  }

  // MARK: - Note values

  /// Simulated verification outcomes with a known effect of showing the note (+10 points), on
  /// attempts whose length decides both whether the note fits and how likely a rewrite is to
  /// verify. The stage's rule (fit decided before the coin) recovers the effect within the
  /// estimator's 90% interval; the old rule (coin first, dropping shown notes that did not fit)
  /// is biased far outside it, so the test can tell the two apart.
  @Test func noteValueEstimatorRecoversAKnownEffect() throws {
    let effect = 0.10
    let plan = TeacherContextPlan(
      builder: ContextBuilder(contextLength: 224, reserve: 40),
      segments: TeacherSegments(feedback: .full, critique: false, sibling: false, memory: true))
    let note = "When a column sums to ten or more, write the last digit and carry one."
    var rng = SeededRandom(seed: 5)
    var outcomes = SeededRandom(seed: 6)
    var fair = (included: ArmCounts(), withheld: ArmCounts())
    var old = (included: ArmCounts(), withheld: ArmCounts())
    var notFitting = 0
    for _ in 0..<6000 {
      let length = 10 + rng.nextInt(below: 140)
      let attempt = String(repeating: "7", count: length)
      let parts = TeacherContextPlan.Parts(
        attempt: attempt, feedback: "the answer is wrong", critique: nil, sibling: nil)
      // Short attempts are easy to fix: 70% verify; long ones 20%.
      let base = length < 80 ? 0.7 : 0.2
      func verified(_ included: Bool) -> Bool {
        Double(outcomes.next() % 1_000_000) / 1_000_000 < base + (included ? effect : 0)
      }
      let eligible = try plan.fittingNotes(task: "47+85", parts: parts, candidates: [note], text: { $0 })
      if eligible.isEmpty { notFitting += 1 }
      for (_, included) in TeacherContextPlan.expose(eligible, rng: &rng) {
        let success = verified(included)
        if included {
          fair.included = fair.included + ArmCounts(trials: 1, successes: success ? 1 : 0)
        } else {
          fair.withheld = fair.withheld + ArmCounts(trials: 1, successes: success ? 1 : 0)
        }
      }
      // The old rule: flip first; a shown note that does not fit is dropped, a withheld one kept.
      let shown = rng.next() & 1 == 1
      let fits = !eligible.isEmpty
      let success = verified(shown && fits)
      if shown {
        if fits { old.included = old.included + ArmCounts(trials: 1, successes: success ? 1 : 0) }
      } else {
        old.withheld = old.withheld + ArmCounts(trials: 1, successes: success ? 1 : 0)
      }
    }
    #expect(notFitting > 1000 && notFitting < 5000, "the simulation must have notes that do not fit")
    let estimate = ValueEvidence(included: fair.included, withheld: fair.withheld).estimate
    #expect(estimate.lower <= effect && effect <= estimate.upper, "\(estimate)")
    let biased = ValueEvidence(included: old.included, withheld: old.withheld).estimate
    #expect(!(biased.lower <= effect && effect <= biased.upper), "\(biased)")
  }

  // MARK: - Error positions

  @Test func errorOffsetsMapToTokensAcrossSpecialTokensAndMultiByteText() {
    let pad = Tokenizer.Special.pad.rawValue
    // "ab" <pad> "c" 0xFF "é" "d": the text is "abc\u{FFFD}éd" (0xFF becomes three bytes, é is two
    // valid bytes, <pad> vanishes).
    let tokens: [Int32] = [97, 98, pad, 99, 0xFF, 0xC3, 0xA9, 100]
    #expect(Array(Tokenizer.decodeText(tokens).utf8).count == 9)
    let expected: [Int: Int] = [0: 0, 1: 1, 2: 3, 3: 4, 4: 4, 5: 4, 6: 5, 7: 6, 8: 7, 40: 7]
    for (offset, token) in expected {
      #expect(FeedbackStage.tokenIndex(ofTextByte: offset, in: tokens) == token, "offset \(offset)")
    }
    // Through the stage's entry point, with a real executor result on such an attempt.
    let failed = ExecutionResult(passed: false, score: 0, kind: .wrongAnswer, feedback: "x", errorOffset: 6)
    #expect(FeedbackStage.firstErrorToken(result: failed, tokens: tokens) == 5)
  }

  /// Against an independent computation: for random attempts mixing ASCII, multi-byte
  /// characters, special tokens and malformed bytes, the token found for the first byte of every
  /// character of the text is the one whose prefix first decodes past that byte.
  @Test func errorOffsetsAgreeWithPrefixDecoding() {
    var rng = SeededRandom(seed: 11)
    let pieces: [[Int32]] = [
      [65], [48], [61], [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xFF], [Tokenizer.Special.pad.rawValue],
      [Tokenizer.Special.end.rawValue], [0xF0, 0x9F, 0x98, 0x80],
    ]
    for _ in 0..<200 {
      var tokens: [Int32] = []
      for _ in 0..<(1 + rng.nextInt(below: 12)) { tokens += pieces[rng.nextInt(below: pieces.count)] }
      let text = Tokenizer.decodeText(tokens)
      var offset = 0
      for character in text.unicodeScalars {
        let token = FeedbackStage.tokenIndex(ofTextByte: offset, in: tokens)
        // The prefix before the token decodes to at most `offset` bytes; with it, to more.
        #expect(Array(Tokenizer.decodeText(Array(tokens[..<token])).utf8).count <= offset)
        #expect(Array(Tokenizer.decodeText(Array(tokens[...token])).utf8).count > offset)
        #expect((0...255).contains(tokens[token]), "an error never lands on a special token")
        offset += String(character).utf8.count
      }
    }
  }
}
