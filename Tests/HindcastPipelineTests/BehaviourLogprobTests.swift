import Foundation
import HindcastModel
import HindcastSupport
import Testing

@testable import HindcastPipeline

/// The pipeline side of behaviour log-probs (`RolloutRecord.behaviourLogprobs`): what a rollout
/// stores for each sampling transform, how old shards are read or refused, and that the ratio
/// objectives build their terms from the behaviour log-probs under the rollout's transform.
@Suite struct BehaviourLogprobTests {
  static func record(temperature: Double, topK: Int? = nil, topP: Double? = nil, behaviour: [Float]? = nil)
    -> RolloutRecord
  {
    RolloutRecord(
      id: "r0000/t/s0", round: 0, taskId: "t", sample: 0, tokens: [65, 262], text: "A",
      logprobs: [-0.5, -0.25],
      finish: "stop", temperature: temperature, topK: topK, topP: topP, maxTokens: 8,
      behaviourLogprobs: behaviour)
  }

  static func encoded(_ record: RolloutRecord) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(record), as: UTF8.self)
  }

  /// Temperature 1 without truncation: the record is byte for byte what earlier versions wrote,
  /// and its behaviour log-probs are its log-probs.
  @Test func identityRolloutsAreWrittenAsBefore() throws {
    let plain = Self.record(temperature: 1)
    #expect(
      try Self.encoded(plain)
        == #"{"finish":"stop","id":"r0000/t/s0","logprobs":[-0.5,-0.25],"max_tokens":8,"round":0,"sample":0,"#
        + #""task_id":"t","temperature":1,"text":"A","tokens":[65,262]}"#)
    #expect(plain.sampling.isIdentity)
    #expect(plain.behaviour == plain.logprobs)
    let tempered = Self.record(temperature: 0.7, topK: 5, behaviour: [-0.3, -0.01])
    let text = try Self.encoded(tempered)
    #expect(text.contains(#""behaviour_logprobs":[-0.3,-0.01]"#) && text.contains(#""top_k":5"#))
    #expect(try JSONDecoder().decode(RolloutRecord.self, from: Data(text.utf8)) == tempered)
    #expect(tempered.behaviour == [-0.3, -0.01])
    #expect(tempered.sampling == SamplingTransform(temperature: 0.7, topK: 5))
  }

  /// A shard written before behaviour log-probs existed: at temperature 1 it is read as it is; at
  /// another temperature its records decode (feedback and rewrite still read them), but the
  /// distill stage refuses them with the shard, the record and what to do.
  @Test func oldTemperedRolloutsAreRefusedWhereRatiosAreComputed() throws {
    let old =
      #"{"finish":"stop","id":"r0000/t/s0","logprobs":[-0.5,-0.25],"max_tokens":8,"round":0,"#
      + #""sample":0,"task_id":"t","temperature":0.7,"text":"A","tokens":[65,262]}"#
    let record = try JSONDecoder().decode(RolloutRecord.self, from: Data(old.utf8))
    #expect(record.behaviour == nil)
    let path = "run/r0000/rollout/shard-00000.jsonl.zst"
    let plain = Self.record(temperature: 1)
    var second = record
    second.id = "r0000/t/s1"
    try StageInputs.checkRollouts([plain, second], round: 0, path: path)
    do {
      try StageInputs.checkBehaviour([plain, second], path: path)
      Issue.record("a tempered rollout without behaviour log-probs was accepted")
    } catch let error as HindcastError {
      #expect(error.location == path + "#record 2")
      #expect(error.message.contains("r0000/t/s1") && error.message.contains("behaviour_logprobs"))
      #expect(error.message.contains("temperature 0.7"))
      #expect(error.hint?.contains("rerun its rollout stage") == true)
    }
    try StageInputs.checkBehaviour([plain, Self.record(temperature: 0.7, behaviour: [-1, -2])], path: path)
    // Malformed behaviour log-probs and transforms are refused by the shard check.
    for bad in [
      Self.record(temperature: 0.7, behaviour: [-1]), Self.record(temperature: 0.7, behaviour: [-1, 0.5]),
      Self.record(temperature: 0.7, topP: 1.5, behaviour: [-1, -2]),
      Self.record(temperature: 1, topK: 0, behaviour: [-1, -2]),
    ] {
      #expect(throws: HindcastError.self) { try StageInputs.checkRollouts([bad], round: 0, path: path) }
    }
  }

  @Test func rolloutKeysChooseTheSamplingSettings() throws {
    let plain = try PipelineSpec.parse(text: TinySpec.text, source: "a.toml")
    #expect(plain.rollout.settings.transform.isIdentity)
    let truncated = try PipelineSpec.parse(
      text: TinySpec.text.replacingOccurrences(
        of: "max_tokens = 32\n", with: "max_tokens = 32\ntemperature = 0.7\ntop_k = 5\ntop_p = 0.9\n"),
      source: "b.toml")
    #expect(truncated.rollout.settings.transform == SamplingTransform(temperature: 0.7, topK: 5, topP: 0.9))
    #expect(truncated.rollout.settings.maxNewTokens == 32)
  }

  /// grpo, sdpo and credit take the old log-probs of their ratios from the behaviour log-probs and
  /// carry the rollout's transform; credit's teacher-student weights stay on the untempered
  /// log-probs, like the teacher's.
  @Test func ratioObjectivesUseBehaviourLogprobsUnderTheRolloutsTransform() throws {
    var f = try DistillPoolFixture(
      specText: DistillObjectiveRegressionTests.dropDefaultWeights(TinySpec.text)
        .replacingOccurrences(of: "[distill]\n", with: "[distill]\nsdpo = 1.0\ngrpo = 1.0\ncredit = 1.0\n"))
    let transform = SamplingTransform(temperature: 0.7, topK: 9)
    for i in f.rollouts.indices {
      f.rollouts[i].temperature = 0.7
      f.rollouts[i].topK = 9
      f.rollouts[i].behaviourLogprobs = f.rollouts[i].logprobs.map { $0 * 0.5 - 0.1 }
    }
    let objectives = try ObjectiveRegistry.active(f.spec.distill).map(\.objective)
    #expect(objectives.allSatisfy { $0.needs.contains(.behaviourLogprobs) })
    var checked: Set<String> = []
    for view in f.views() {
      let behaviour = try #require(view.rollout.behaviourLogprobs)
      for objective in objectives {
        for sequence in try objective.sequences(for: view) {
          for term in sequence.terms {
            let j = term.position - (view.prompt.count - 1)
            switch term.kind {
            case .policyGradient(let target, _, let old, _, let sampling):
              #expect(target == view.rollout.tokens[j] && old == behaviour[j] && sampling == transform)
            case .divergence(_, _, let importance):
              let weight = try #require(importance)
              #expect(weight.oldLogprob == behaviour[j] && weight.sampling == transform)
            case .crossEntropy:
              Issue.record("\(objective.name) built a cross-entropy term")
            }
          }
          checked.insert(objective.name)
          if objective.name == "credit", let teacher = view.rewrite?.teacherLogprobs,
            let advantage = GroupAdvantage.of(view)
          {
            let expected = CreditObjective.weights(
              teacher: teacher, student: view.rollout.logprobs, advantage: advantage, maxRatio: 2,
              normalize: true)
            #expect(sequence.terms.map(\.weight) == expected)
          }
        }
      }
    }
    #expect(checked == ["sdpo", "grpo", "credit"])
    // Without behaviour log-probs a tempered rollout gives no terms but an error naming it.
    f.rollouts = f.rollouts.map {
      var r = $0
      r.behaviourLogprobs = nil
      return r
    }
    let view = try #require(f.views().first { GroupAdvantage.of($0) != nil })
    for objective in objectives where objective.name != "sdpo" || !view.feedback.passed {
      #expect(throws: HindcastError.self) { _ = try objective.sequences(for: view) }
    }
  }
}
