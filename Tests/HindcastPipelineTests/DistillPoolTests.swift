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

  /// The advantages inside grpo's pool terms, against a hand computation from the fixture's
  /// rewards: every term of an attempt carries its group's normalized reward, its own token, the
  /// rollout's behaviour log-prob and the spec's clip, at the position that predicts the token.
  @Test func grpoPoolTermsCarryHandComputedAdvantages() throws {
    let f = try fixture()
    let rewards = Dictionary(grouping: f.feedback, by: \.taskId).mapValues { $0.map(\.reward) }
    // The fixture's rewards in feedback order: task 0 always passes; tasks 1 and 2 pass with
    // sample 0 only; task 3 likewise, and its sample 2 has no feedback.
    #expect(rewards[f.tasks[0].id] == [1, 1, 1, 1])
    #expect(rewards[f.tasks[1].id] == [1, 0, 0, 0])
    #expect(rewards[f.tasks[2].id] == [1, 0, 0, 0])
    #expect(rewards[f.tasks[3].id] == [1, 0, 0])
    // By hand. One pass in four: mean 1/4, population sd sqrt(3)/4 = 0.4330127. One in three:
    // mean 1/3, sd sqrt(2)/3 = 0.4714045. Advantage (r - mean) / (sd + 1e-4).
    let four = (passed: 0.75 / 0.4331127, failed: -0.25 / 0.4331127)
    let three = (passed: (2.0 / 3) / 0.4715045, failed: (-1.0 / 3) / 0.4715045)
    let pool = try f.pool(f.spec)
    // Task 0 has no reward spread, so no example.
    let views = f.views().filter { $0.task.id != f.tasks[0].id }
    #expect(pool.count == views.count && pool.count == 9)
    for (example, view) in zip(pool, views) {
      let group = view.task.id == f.tasks[3].id ? three : four
      let expected = view.feedback.passed ? group.passed : group.failed
      #expect(example.objective == "grpo")
      #expect(example.sequence.tokens == view.prompt + view.rollout.tokens)
      #expect(example.sequence.terms.count == view.rollout.tokens.count)
      for (j, term) in example.sequence.terms.enumerated() {
        guard case .policyGradient(let target, let advantage, let old, let clip, let sampling) = term.kind
        else {
          Issue.record("grpo built a term that is not a policy gradient")
          continue
        }
        #expect(abs(Double(advantage) - expected) < 1e-5, "\(view.rollout.id): \(advantage) vs \(expected)")
        #expect(target == view.rollout.tokens[j] && old == view.rollout.logprobs[j])
        #expect(clip == Float(f.spec.distill.grpoClip) && sampling == .identity)
        #expect(term.position == view.prompt.count - 1 + j && term.weight == 1)
      }
    }
  }

  /// Every `distill.positions` setting (the switch is exhaustive, so a new setting must be added
  /// here), for both objectives that read it: the divergence terms sit exactly on the positions
  /// the setting names, each with its token's teacher row and importance weight. route covers
  /// failed attempts with divergence and passing ones with grpo whatever the setting.
  @Test(arguments: PipelineSpec.PositionMask.allCases)
  func everyPositionsSettingMasksExactlyItsTokens(mask: PipelineSpec.PositionMask) throws {
    for name in ["sdpo", "route"] {
      let f = try fixture("\(name) = 1.0\npositions = \"\(mask.rawValue)\"\n")
      let objective = try #require(try ObjectiveRegistry.active(f.spec.distill).first?.objective)
      #expect(objective.name == name)
      var covered = 0
      for view in f.views() {
        let start = view.prompt.count - 1
        let count: Int
        switch mask {
        case .upToFirstError:
          count = view.feedback.passed ? 0 : (view.feedback.firstErrorToken.map { $0 + 1 } ?? 0)
        case .all: count = view.rollout.tokens.count
        }
        let distilled = name == "sdpo" || !view.feedback.passed
        let expected = distilled ? Array(start..<(start + count)) : []
        var positions: [Int] = []
        for sequence in try objective.sequences(for: view) {
          for term in sequence.terms {
            guard case .divergence(let teacher, _, let importance) = term.kind else { continue }
            let j = term.position - start
            positions.append(term.position)
            let rewrite = try #require(view.rewrite)
            #expect(
              teacher == .topK(ids: rewrite.teacherTopIds[j], logprobs: rewrite.teacherTopLogprobs[j]))
            #expect(importance?.target == view.rollout.tokens[j])
            #expect(importance?.oldLogprob == view.rollout.logprobs[j])
          }
        }
        #expect(positions == expected, "\(name) \(mask.rawValue) \(view.rollout.id)")
        covered += positions.count
      }
      #expect(covered > 0)
    }
  }

  /// The number of examples each registered objective builds from the fixture, counted by hand
  /// (a new objective must be added here). Joined: 13 attempts, 6 of them failed (5 with a located
  /// error), 7 passed; groups with a reward spread: tasks 1-3 (9 attempts, 3 of them passing).
  @Test func examplesPerObjectiveForEveryRegisteredObjective() throws {
    let expected: [String: Int] = [
      "sdpo": 5,  // failed attempts with a located error
      "sft": 6,  // one verified rewrite per failed attempt
      "rft": 7,  // passing attempts
      "grpo": 9,  // attempts in groups with a spread
      "route": 8,  // sdpo's 5 failed ones, grpo's 3 passing ones
      "credit": 9,  // as grpo
      "rewrite_advantage": 12,  // both rewrites (verified and not) of each failed attempt
    ]
    #expect(Set(expected.keys) == Set(ObjectiveRegistry.entries.map(\.name)), "count a new objective by hand")
    for entry in ObjectiveRegistry.entries {
      let f = try fixture("\(entry.name) = 1.0\n")
      var views = f.views()
      // rewrite_advantage masks by the round-start student's scores: -1 on every token (kept).
      for i in views.indices {
        views[i].rewriteStudentLogprobs = views[i].rewrite?.hindsight.map { $0.tokens.map { _ in -1 } }
      }
      let pool = try DistillStage.pool(
        views: views, objectives: ObjectiveRegistry.active(f.spec.distill).map(\.objective))
      #expect(pool.count == expected[entry.name], "\(entry.name)")
      #expect(pool.allSatisfy { $0.objective == entry.name })
    }
  }

  /// Whether the rewrite stage samples and verifies rewrites follows what the active objectives
  /// declare in their own files (`ObjectiveNeeds.verifiedRewrites`), not a list of names.
  @Test func verifiedRewritesAreADeclaredNeedOfEachObjective() throws {
    var declaring: [String] = []
    for entry in ObjectiveRegistry.entries {
      for memory in [false, true] {
        var spec = try fixture("\(entry.name) = 1.0\n").spec
        spec.rewrite.memory = memory
        let objective = try #require(try ObjectiveRegistry.active(spec.distill).first?.objective)
        let declares = objective.needs.contains(.verifiedRewrites)
        #expect(spec.distill.usesVerifiedRewrites == declares, "\(entry.name)")
        let plan = RewriteStage.rewritePlan(spec: spec)
        #expect(plan.sample == (declares || memory) && plan.chargedToMemory == (!declares && memory))
        if declares && !memory { declaring.append(entry.name) }
        // A need for verified rewrites implies the rewrite stage runs.
        if declares { #expect(objective.needs.contains(.rewrites)) }
      }
    }
    #expect(declaring == ["sft", "rewrite_advantage"])
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
      task: task, attempt: attempt, family: source.family, builder: f.builder,
      weights: .init(prefix: 0.25, fix: 1))
    #expect(plain.terms.allSatisfy { $0.weight == 1 })
    #expect(weighted.tokens == plain.tokens)
    #expect(weighted.terms.map(\.weight) == plain.terms.indices.map { $0 < copied ? 0.25 : 1 })
    // The corrected step: from the copied prefix through the next ';' (or the end) weighs `fix`.
    let fixEnd = RevisionCorpus.correctedStepEnd(canonical: task.canonical, from: copied)
    let canonical = Array(task.canonical.utf8)
    #expect(fixEnd > copied && fixEnd <= canonical.count)
    #expect(fixEnd == canonical.count || canonical[fixEnd - 1] == UInt8(ascii: ";"))
    let both = RevisionCorpus.example(
      task: task, attempt: attempt, family: source.family, builder: f.builder,
      weights: .init(prefix: 0.5, fix: 4))
    #expect(both.terms.map(\.weight) == plain.terms.indices.map { $0 < copied ? 0.5 : $0 < fixEnd ? 4 : 1 })
    #expect(RevisionCorpus.correctedStepEnd(canonical: "7+5=12;4+8+1=13;=132", from: 7) == 16)
    #expect(RevisionCorpus.correctedStepEnd(canonical: "7+5=12;4+8+1=13;=132", from: 17) == 20)
    // `rewrite.critique = false`: the same example without the critique segment.
    let critiqueToken = Tokenizer.Special.critique.rawValue
    #expect(plain.tokens.contains(critiqueToken))
    let bare = RevisionCorpus.example(
      task: task, attempt: attempt, family: source.family, builder: f.builder, critique: false)
    #expect(!bare.tokens.contains(critiqueToken))
    #expect(Array(bare.tokens.suffix(canonical.count + 1)) == Array(plain.tokens.suffix(canonical.count + 1)))
    #expect(RevisionCorpus.copiedPrefix(attempt: "12x4", canonical: "1234", errorOffset: nil) == 2)
    #expect(RevisionCorpus.copiedPrefix(attempt: "1234", canonical: "1234", errorOffset: 1) == 1)
  }
}
