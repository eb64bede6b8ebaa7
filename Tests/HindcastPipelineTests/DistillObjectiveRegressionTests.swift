import HindcastModel
import HindcastTasks
import Testing

@testable import HindcastPipeline

/// The objectives-as-plug-ins refactor must not change training: `LegacyDistillPool` is the
/// pool builder and weighting of the distill stage before the refactor (commit a22ccdc),
/// verbatim apart from reading records from arrays instead of shards; the registry's pool, and
/// the gradients of a training step on it, must equal it bit for bit.
enum LegacyDistillPool {
  enum Objective: Int, CaseIterable { case sdpo, sft, rft, grpo }

  static func pool(_ f: DistillPoolFixture, spec: PipelineSpec) -> [(TrainingSequence, Objective)] {
    let d = spec.distill
    let contextLength = f.contextLength
    let builder = f.builder
    let byId = f.tasksById
    let rollouts = f.rollouts
    let feedback = f.feedback
    let rewrites = d.sdpo > 0 || d.sft > 0 ? f.rewrites : []
    var examples: [(TrainingSequence, Objective)] = []
    let feedbackById = Dictionary(feedback.map { ($0.rolloutId, $0) }, uniquingKeysWith: { a, _ in a })
    let rewriteById = Dictionary(rewrites.map { ($0.rolloutId, $0) }, uniquingKeysWith: { a, _ in a })
    var groups: [String: [Double]] = [:]
    for item in feedback { groups[item.taskId, default: []].append(item.reward) }
    for rollout in rollouts {
      guard let task = byId[rollout.taskId], let fb = feedbackById[rollout.id], !rollout.tokens.isEmpty else {
        continue
      }
      let prompt = builder.student(task: task.prompt)
      guard prompt.count + rollout.tokens.count <= contextLength else { continue }
      let start = prompt.count - 1
      let located = d.positions == .all ? rollout.tokens.count - 1 : (fb.passed ? nil : fb.firstErrorToken)
      if d.sdpo > 0, let last = located, let rewrite = rewriteById[rollout.id],
        rewrite.teacherTopIds.count == rollout.tokens.count
      {
        let kind: DivergenceKind =
          d.divergence == .forwardKL ? .forwardKL : d.divergence == .reverseKL ? .reverseKL : .jsd
        let terms = (0...last).map { j in
          TokenTerm(
            position: start + j, weight: 1,
            kind: .divergence(
              teacher: .topK(ids: rewrite.teacherTopIds[j], logprobs: rewrite.teacherTopLogprobs[j]),
              kind: kind,
              importance: ImportanceWeight(
                oldLogprob: rollout.logprobs[j], target: rollout.tokens[j], clip: Float(d.ratioClip))))
        }
        examples.append((TrainingSequence(tokens: prompt + rollout.tokens, terms: terms), .sdpo))
      }
      if d.sft > 0, let rewrite = rewriteById[rollout.id] {
        for sample in rewrite.hindsight
        where sample.verified && prompt.count + sample.tokens.count <= contextLength {
          examples.append((.supervised(prompt: prompt, completion: sample.tokens), .sft))
        }
      }
      if d.rft > 0, fb.passed {
        examples.append((.supervised(prompt: prompt, completion: rollout.tokens), .rft))
      }
      if d.grpo > 0, let rewards = groups[rollout.taskId], rewards.count > 1 {
        let mean = rewards.reduce(0, +) / Double(rewards.count)
        let variance = rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rewards.count)
        let advantage = Float((fb.reward - mean) / (variance.squareRoot() + 1e-4))
        if variance > 0 {
          let terms = rollout.tokens.indices.map { j in
            TokenTerm(
              position: start + j, weight: 1,
              kind: .policyGradient(
                target: rollout.tokens[j], advantage: advantage, oldLogprob: rollout.logprobs[j],
                clip: Float(d.grpoClip)))
          }
          examples.append((TrainingSequence(tokens: prompt + rollout.tokens, terms: terms), .grpo))
        }
      }
    }
    return examples
  }

  static func weighted(_ batch: [(TrainingSequence, Objective)], spec: PipelineSpec) -> [TrainingSequence] {
    let d = spec.distill
    let weights: [Objective: Double] = [.sdpo: d.sdpo, .sft: d.sft, .rft: d.rft, .grpo: d.grpo]
    var termCounts: [Objective: Int] = [:]
    for example in batch { termCounts[example.1, default: 0] += example.0.terms.count }
    return batch.map { example -> TrainingSequence in
      var sequence = example.0
      let w = Float((weights[example.1] ?? 0) / Double(max(1, termCounts[example.1] ?? 1)))
      for i in sequence.terms.indices { sequence.terms[i].weight = w }
      return sequence
    }
  }
}

@Suite struct DistillObjectiveRegressionTests {
  /// Spec variants covering every legacy objective and option.
  static let variants: [String] = [
    "",
    "divergence = \"jsd\"\npositions = \"all\"\nratio_clip = 3.0\n",
    "divergence = \"forward-kl\"\ngrpo_clip = 0.1\n",
    "sdpo = 0.0\nsft = 0.0\nrft = 0.0\ngrpo = 2.0\n",
  ]

  @Test(arguments: variants) func registryPoolEqualsTheLegacyPool(variant: String) throws {
    let text = TinySpec.text.replacingOccurrences(of: "[distill]\n", with: "[distill]\n" + variant)
    let deduplicated = variant.contains("sdpo = 0.0") ? Self.dropDefaultWeights(text) : text
    let fixture = try DistillPoolFixture(specText: deduplicated)
    let spec = fixture.spec
    let legacy = LegacyDistillPool.pool(fixture, spec: spec)
    let pool = try fixture.pool(spec)
    #expect(!legacy.isEmpty)
    #expect(pool.count == legacy.count)
    #expect(pool.map(\.sequence) == legacy.map(\.0))
    #expect(pool.map(\.objective) == legacy.map { "\($0.1)" })

    // The stage's weighting of a minibatch (the whole pool) and a training step's gradients.
    let weights = try Dictionary(
      uniqueKeysWithValues: ObjectiveRegistry.active(spec.distill).map { ($0.objective.name, $0.weight) })
    let new = DistillStage.weighted(pool, weights: weights)
    let old = LegacyDistillPool.weighted(legacy, spec: spec)
    #expect(new == old)
    let model = try Transformer(config: spec.model.config, seed: 3)
    model.zeroGradients()
    let newReport = try model.lossAndGradients(new)
    let newGradients = model.gradients
    model.zeroGradients()
    let oldReport = try model.lossAndGradients(old)
    #expect(newReport.loss == oldReport.loss)
    #expect(newGradients == model.gradients)
  }

  /// The tiny spec's four weights, removed so a variant can set its own.
  static func dropDefaultWeights(_ text: String) -> String {
    text.replacingOccurrences(of: "sdpo = 1.0\nsft = 0.5\ngrpo = 0.5\nrft = 0.5\n", with: "")
  }
}
