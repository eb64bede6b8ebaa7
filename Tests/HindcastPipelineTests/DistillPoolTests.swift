import HindcastModel
import HindcastSupport
import Testing

@testable import HindcastPipeline

/// The distill pool on a fixed set of records: GRPO advantages against a hand computation, the
/// positions each `distill.positions` setting covers, and the number of examples per objective.
@Suite struct DistillPoolTests {
  func fixture(_ distill: String = "grpo = 1.0\n") throws -> DistillPoolFixture {
    try DistillPoolFixture(
      specText: DistillObjectiveRegressionTests.dropDefaultWeights(TinySpec.text)
        .replacingOccurrences(
          of: "[distill]\n", with: "[distill]\n" + (distill.contains("sdpo") ? "" : "sdpo = 0.0\n") + distill)
    )
  }

  @Test func groupAdvantagesMatchAHandComputation() throws {
    var view = try #require(try fixture().views().first)
    // One pass among four: mean 0.25, population sd sqrt(0.1875) = 0.4330127.
    view.group = [
      .init(rolloutId: "a", reward: 1, passed: true), .init(rolloutId: "b", reward: 0, passed: false),
      .init(rolloutId: "c", reward: 0, passed: false), .init(rolloutId: "d", reward: 0, passed: false),
    ]
    view.feedback.reward = 1
    #expect(abs(Double(try #require(GroupAdvantage.of(view))) - 0.75 / (0.4330127 + 1e-4)) < 1e-5)
    view.feedback.reward = 0
    #expect(abs(Double(try #require(GroupAdvantage.of(view))) - (-0.25 / (0.4330127 + 1e-4))) < 1e-5)
    // Equal rewards and singleton groups carry no signal.
    view.group = view.group.map {
      var s = $0; s.reward = 1; return s
    }
    #expect(GroupAdvantage.of(view) == nil)
    view.group = [view.group[0]]
    #expect(GroupAdvantage.of(view) == nil)
    #expect(ObjectiveModifiers.difficultyWeight(passRate: 0.25) == Float((0.25 * 0.75).squareRoot()))
  }

  @Test func theJoinSkipsEmptyTooLongAndUnmatchedRollouts() throws {
    let f = try fixture()
    let views = f.views()
    // 16 rollouts: one empty, one longer than the context, one without feedback.
    #expect(f.rollouts.count == 16)
    #expect(views.count == 13)
    #expect(
      !views.contains {
        $0.rollout.tokens.isEmpty || $0.rollout.id.hasSuffix("s3") && $0.task.id == f.tasks[2].id
      })
    // Groups hold every feedback record of the task, including the skipped rollouts'.
    let second = try #require(views.first { $0.task.id == f.tasks[1].id })
    #expect(second.group.count == 4)
    #expect(views.first { $0.task.id == f.tasks[3].id }?.group.count == 3)
  }

  @Test func upToFirstErrorCoversFailedLocatedAttemptsUpToTheirError() throws {
    let f = try fixture("sdpo = 1.0\n")
    let views = f.views()
    let pool = try f.pool(f.spec)
    let expected = views.filter {
      !$0.feedback.passed && $0.feedback.firstErrorToken != nil && $0.rewrite != nil
    }
    #expect(pool.count == expected.count && !expected.isEmpty)
    for (example, view) in zip(pool, expected) {
      let last = try #require(view.feedback.firstErrorToken)
      #expect(example.sequence.tokens == view.prompt + view.rollout.tokens)
      #expect(
        example.sequence.terms.map(\.position)
          == Array((view.prompt.count - 1)...(view.prompt.count - 1 + last)))
    }
  }

  @Test func allPositionsCoversEveryTokenOfEveryAttempt() throws {
    let f = try fixture("sdpo = 1.0\npositions = \"all\"\n")
    let views = f.views()
    let pool = try f.pool(f.spec)
    #expect(pool.count == views.count)
    for (example, view) in zip(pool, views) {
      #expect(example.sequence.terms.count == view.rollout.tokens.count)
      #expect(example.sequence.terms.first?.position == view.prompt.count - 1)
      #expect(example.sequence.terms.last?.position == view.prompt.count + view.rollout.tokens.count - 2)
    }
  }

  @Test func examplesPerObjective() throws {
    let f = try fixture("sdpo = 1.0\nsft = 1.0\nrft = 1.0\ngrpo = 1.0\n")
    let pool = try f.pool(f.spec)
    func count(_ name: String) -> Int { pool.filter { $0.objective == name }.count }
    // By hand from the fixture: tasks 1-3 have sample 0 passing and the others failing; task 0's
    // four samples all pass (no GRPO signal). Joined: task 0: 4, task 1: 3 (s3 empty),
    // task 2: 3 (s3 too long), task 3: 3 (s2 has no feedback); failures: 2 + 2 + 2.
    let views = f.views()
    let failed = views.filter { !$0.feedback.passed }
    #expect(failed.count == 6)
    // sdpo: failed attempts with a located error (task 3 s1 has none).
    #expect(count("sdpo") == 5)
    // sft: one verified rewrite per failed attempt.
    #expect(count("sft") == 6)
    // rft: every passing attempt.
    #expect(count("rft") == views.count - 6)
    // grpo: every joined attempt of tasks 1-3.
    #expect(count("grpo") == 9)
  }
}

/// The stage-0 revision examples' prefix weighting (`pretrain.revision_prefix_weight`).
@Suite struct RevisionCorpusTests {
  @Test func theCopiedPrefixIsWeightedAndWeightOneIsThePlainExample() throws {
    let f = try DistillPoolFixture()
    let source = try TaskSource(spec: f.spec)
    let task = f.tasks[1]
    var bytes = Array(task.canonical.utf8)
    let wrong = bytes.count / 2
    bytes[wrong] = bytes[wrong] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
    let attempt = String(decoding: bytes, as: UTF8.self)
    let result = source.family.execute(task: task, attempt: attempt)
    #expect(!result.passed)
    let copied = RevisionCorpus.copiedPrefix(
      attempt: attempt, canonical: task.canonical, errorOffset: result.errorOffset)
    #expect(copied > 0 && copied <= wrong)
    let plain = RevisionCorpus.example(
      task: task, attempt: attempt, family: source.family, builder: f.builder)
    let weighted = RevisionCorpus.example(
      task: task, attempt: attempt, family: source.family, builder: f.builder, prefixWeight: 0.25)
    #expect(plain.terms.allSatisfy { $0.weight == 1 })
    #expect(weighted.tokens == plain.tokens)
    #expect(weighted.terms.map(\.weight) == plain.terms.indices.map { $0 < copied ? 0.25 : 1 })
    #expect(RevisionCorpus.copiedPrefix(attempt: "12x4", canonical: "1234", errorOffset: nil) == 2)
    #expect(RevisionCorpus.copiedPrefix(attempt: "1234", canonical: "1234", errorOffset: 1) == 1)
  }
}
