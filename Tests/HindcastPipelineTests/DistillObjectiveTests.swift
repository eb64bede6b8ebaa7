import Foundation
import HindcastModel
import HindcastSupport
import Testing

@testable import HindcastPipeline

/// The objectives added as plug-ins, each on the fixed fixture of `DistillPoolFixture`.
@Suite struct DistillObjectiveTests {
  func fixture(_ distill: String, tables: String = "") throws -> DistillPoolFixture {
    try DistillPoolFixture(
      specText: DistillObjectiveRegressionTests.dropDefaultWeights(TinySpec.text)
        .replacingOccurrences(
          of: "[distill]\n", with: "[distill]\n" + (distill.contains("sdpo") ? "" : "sdpo = 0.0\n") + distill)
        + "\n" + tables)
  }

  func kinds(_ sequence: TrainingSequence) -> Set<String> {
    Set(
      sequence.terms.map {
        switch $0.kind {
        case .crossEntropy: return "ce"
        case .policyGradient: return "pg"
        case .divergence: return "div"
        }
      })
  }

  @Test func routeDistillsFailuresAndReinforcesPasses() throws {
    let f = try fixture("route = 1.0\n", tables: "[objective.route]\npassed_weight = 0.5\n")
    let views = f.views()
    let route = try #require(try ObjectiveRegistry.active(f.spec.distill).first?.objective)
    #expect(route.name == "route")
    var failedWithTerms = 0
    var passedWithTerms = 0
    for view in views {
      let sequences = try route.sequences(for: view)
      if view.feedback.passed {
        for s in sequences {
          #expect(kinds(s) == ["pg"])
          #expect(s.terms.allSatisfy { $0.weight == 0.5 })
          if case .policyGradient(_, let advantage, _, _, _) = s.terms[0].kind { #expect(advantage > 0) }
          passedWithTerms += 1
        }
      } else {
        for s in sequences {
          #expect(kinds(s) == ["div"])
          #expect(s.terms.allSatisfy { $0.weight == 1 })
          failedWithTerms += 1
        }
      }
    }
    // Failures: located ones get divergence (5); passes: only those in groups with a spread (3).
    #expect(failedWithTerms == 5 && passedWithTerms == 3)
    let rft = try fixture("route = 1.0\n", tables: "[objective.route]\npassed = \"rft\"\n")
    let passes = try DistillStage.pool(
      views: rft.views().filter(\.feedback.passed),
      objectives: ObjectiveRegistry.active(rft.spec.distill).map(\.objective))
    #expect(passes.count == rft.views().filter(\.feedback.passed).count)
    #expect(passes.allSatisfy { kinds($0.sequence) == ["ce"] })
  }

  @Test func creditWeightsFollowTheTeacherInTheRewardsDirection() throws {
    let up = CreditObjective.weights(
      teacher: [-1, -2, -1], student: [-2, -1, -1], advantage: 1, maxRatio: 2, normalize: false)
    #expect(up == [2, 0.5, 1])
    let down = CreditObjective.weights(
      teacher: [-1, -2, -1], student: [-2, -1, -1], advantage: -1, maxRatio: 2, normalize: true)
    // Unnormalized [0.5, 2, 1], mean 7/6.
    let expectedDown: [Double] = [3.0 / 7, 12.0 / 7, 6.0 / 7]
    for (value, reference) in zip(down, expectedDown) { #expect(abs(Double(value) - reference) < 1e-6) }

    let f = try fixture("credit = 1.0\n")
    let credit = try #require(try ObjectiveRegistry.active(f.spec.distill).first?.objective)
    let view = try #require(f.views().first { !$0.feedback.passed })
    let sequence = try #require(try credit.sequences(for: view).first)
    let advantage = try #require(GroupAdvantage.of(view))
    let expected = CreditObjective.weights(
      teacher: view.rewrite?.teacherLogprobs ?? [], student: view.rollout.logprobs, advantage: advantage,
      maxRatio: 2, normalize: true)
    #expect(sequence.terms.map(\.weight) == expected)
    #expect(kinds(sequence) == ["pg"])
    let mean = expected.reduce(0, +) / Float(expected.count)
    #expect(abs(mean - 1) < 1e-5)
  }

  @Test func difficultyWeightingScalesByGroupPassRate() throws {
    let f = try fixture("grpo = 1.0\n", tables: "[objective.grpo]\ndifficulty = true\n")
    let grpo = try #require(try ObjectiveRegistry.active(f.spec.distill).first?.objective)
    for view in f.views() {
      let sequences = try grpo.sequences(for: view)
      guard let sequence = sequences.first else { continue }
      let factor = ObjectiveModifiers.difficultyWeight(passRate: view.groupPassRate)
      #expect(factor > 0)
      #expect(sequence.terms.allSatisfy { $0.weight == factor })
    }
  }

  @Test func rewriteAdvantageWeighsByRewardMinusGroupMeanAndMasksUnlikelyTokens() throws {
    let f = try fixture(
      "rewrite_advantage = 1.0\n", tables: "[objective.rewrite_advantage]\nmin_logprob = -1.0\n")
    let objective = try #require(try ObjectiveRegistry.active(f.spec.distill).first?.objective)
    var view = try #require(f.views().first { !$0.feedback.passed && $0.rewrite?.hindsight.count == 2 })
    let hindsight = try #require(view.rewrite?.hindsight)
    // Student log-probs alternating above and below the threshold.
    view.rewriteStudentLogprobs = hindsight.map { sample in
      sample.tokens.indices.map { $0 % 2 == 0 ? -0.5 : -3 }
    }
    let sequences = try objective.sequences(for: view)
    try #require(sequences.count == 2)
    let mean = view.groupMeanReward
    #expect(mean > 0 && mean < 1)
    #expect(sequences[0].terms.allSatisfy { $0.weight == Float(1 - mean) })
    #expect(sequences[1].terms.allSatisfy { $0.weight == Float(-mean) })
    for (sequence, sample) in zip(sequences, hindsight) {
      #expect(sequence.terms.count == (sample.tokens.count + 1) / 2)
      #expect(
        sequence.terms.map(\.position)
          == stride(from: 0, to: sample.tokens.count, by: 2).map { view.prompt.count - 1 + $0 })
    }
    // Without student scores (not computed) it builds nothing rather than guessing.
    view.rewriteStudentLogprobs = nil
    #expect(try objective.sequences(for: view).isEmpty)
  }

  @Test func fullVocabularyTeacherIsRescoredAndUsedWhole() throws {
    let f = try fixture("sdpo = 1.0\n", tables: "[objective.sdpo]\nvocabulary = \"full\"\n")
    let sdpo = try #require(try ObjectiveRegistry.active(f.spec.distill).first?.objective)
    #expect(sdpo.needs.contains(.fullTeacher))
    var views = f.views()
    let teacher = try Transformer(config: f.spec.model.config, seed: 11)
    let student = try Transformer(config: f.spec.model.config, seed: 12)
    try DistillStage.complete(&views, needs: sdpo.needs, teacher: { teacher }, student: student)
    let view = try #require(views.first { !$0.feedback.passed && $0.feedback.firstErrorToken != nil })
    let rows = try #require(view.fullTeacher)
    #expect(rows.count == view.rollout.tokens.count)
    let reference = try Scorer.score(
      model: teacher, prompts: [view.rewrite?.teacherTokens ?? []], continuations: [view.rollout.tokens])[0]
    for (j, row) in rows.enumerated() {
      #expect(row.count == Tokenizer.vocabSize)
      #expect(abs(row.reduce(0.0) { $0 + exp(Double($1)) } - 1) < 1e-4)
      #expect(abs(row[Int(view.rollout.tokens[j])] - reference.logprobs[j]) < 1e-5)
    }
    let sequence = try #require(try sdpo.sequences(for: view).first)
    for (j, term) in sequence.terms.enumerated() {
      guard case .divergence(let distribution, _, _) = term.kind else {
        Issue.record("expected a divergence term")
        continue
      }
      #expect(distribution == .full(logprobs: rows[j]))
    }
  }

  @Test func gapGateScalesAndSwitchesOff() throws {
    func report(_ feedback: [Bool], _ resample: [Bool]) -> GapReport {
      GapReport(
        tasks: feedback.count, firstAttemptPassed: 0, feedbackGreedy: .init(0, 0),
        feedbackSampled: .init(0, 0),
        resampleNoFeedback: .init(0, 0), repeatedAttempt: 0, logprobGain: 0, logprobGainStandardError: 0,
        greedyMinusResample: .init(feedback, resample), sampledMinusResample: .init(feedback, resample))
    }
    // 12 fixed with feedback, 2 by resampling (1 of them also with feedback), of 40.
    let feedback = (0..<40).map { $0 < 12 }
    let resample = (0..<40).map { $0 == 0 || $0 == 30 }
    let d = GapReport.Difference(feedback, resample)
    #expect(d.onlyFirst == 11 && d.onlySecond == 1 && d.of == 40)
    #expect(abs(d.mean - 0.25) < 1e-12)
    // x: 11 ones, 1 minus one, 28 zeros; sample variance (11 (0.75)^2 + (1.25)^2 + 28 (0.25)^2) / 39.
    let sd = ((11 * 0.5625 + 1.5625 + 28 * 0.0625) / 39).squareRoot()
    #expect(abs(d.low - (0.25 - 1.96 * sd / 40.squareRoot())) < 1e-12)
    let open = RoundGap.Gate(report: report(feedback, resample), reference: 0.5)
    #expect(d.low > 0 && abs(open.factor - 0.5) < 1e-12)
    #expect(RoundGap.Gate(report: report(feedback, resample), reference: 0.1).factor == 1)
    // A difference whose interval includes zero closes the gate.
    let weak = RoundGap.Gate(
      report: report((0..<40).map { $0 < 3 }, (0..<40).map { $0 == 39 }), reference: 0.25)
    #expect(weak.low <= 0 && weak.factor == 0)
  }

  @Test func objectiveOptionsAreValidatedWithFileLineAndKey() throws {
    func error(_ extra: String) -> HindcastError? {
      do {
        _ = try PipelineSpec.parse(text: TinySpec.text + "\n" + extra, source: "x.toml")
        return nil
      } catch let e as HindcastError { return e } catch { return nil }
    }
    let range = try #require(error("[objective.credit]\nmax_ratio = 0.5\n"))
    #expect(range.message.contains("objective.credit.max_ratio"))
    #expect(range.location?.contains("x.toml") == true)
    let line = TinySpec.text.split(separator: "\n", omittingEmptySubsequences: false).count + 2
    #expect(range.location?.contains(":\(line)") == true)
    let choice = try #require(error("[objective.route]\npassed = \"sft\"\n"))
    #expect(choice.message.contains("'grpo', 'rft'"))
    let unknown = try #require(error("[objective.route]\npased = \"rft\"\n"))
    #expect(unknown.message.contains("objective.route.pased"))
    let table = try #require(error("[objective.nope]\nweight = 1\n"))
    #expect(table.message.contains("objective.nope"))
    // Defaults are not stored, so a spec without option tables equals one with default values.
    let plain = try PipelineSpec.parse(text: TinySpec.text, source: "a.toml")
    let explicit = try PipelineSpec.parse(
      text: TinySpec.text + "\n[objective.sdpo]\nvocabulary = \"top-k\"\n", source: "b.toml")
    #expect(plain == explicit)
  }
}
