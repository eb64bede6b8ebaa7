import Foundation
import HindcastModel
import HindcastSupport
import HindcastTasks
import HindcastTraining
import Logging
import Testing

@testable import HindcastPipeline

/// Whole rounds in process, from a base policy that sometimes passes: a tiny rotary model trained
/// in the test on the round's own training tasks (`GlueBase`), so groups hold passes and
/// failures. Checks what only a real round shows: grpo and rft arms get examples and change the
/// policy, the distill stage's per-objective counts are the pool the shards give, the rewrite
/// stage's teacher contexts hold exactly the segments of each record's attempt, feedback and
/// sibling, and the importance ratios of rollouts sampled at temperature 1.3 with top-k and top-p
/// are 1 on the sampling weights.
@Suite(.serialized) struct EndToEndGlueTests {
  /// The arm's spec: `distill` holds its objective weights, `rollout` its sampling keys.
  static func spec(base: String, distill: String, rollout: String = "", rewrite: String = "") -> String {
    """
    name = "glue"
    seed = 3
    rounds = 1
    [base]
    policy = "\(base)"
    [model]
    preset = "tiny"
    position = "rope"
    context = 256
    threads = 1
    [tasks]
    family = "arith"
    difficulty = 1
    train_per_round = \(GlueBase.tasks)
    samples_per_task = 4
    validation = 4
    test = 4
    tasks_per_shard = 2
    [rollout]
    max_tokens = 32
    \(rollout)
    [rewrite]
    teacher_top_k = 4
    memory = false
    \(rewrite)
    [distill]
    \(distill)
    steps = 2
    batch = 8
    lr = 0.001
    [eval]
    samples = 0
    sampled_tasks = 0
    """
  }

  /// Runs the arm to the end and returns its run.
  static func run(_ name: String, distill: String, rollout: String = "", rewrite: String = "") throws -> Run {
    let base = try GlueBase.shared.get()
    let directory = try BinaryRunner.temporaryDirectory("glue-" + name)
    // The base checkpoint lives beside the arm's run; the test removes both (`remove`).
    let checkpoint = directory + "/base"
    try CheckpointIO.write(
      Checkpoint(weights: try ModelWeights(config: base.config, parameters: base.parameters), training: nil),
      to: checkpoint)
    let specPath = directory + "/spec.toml"
    try Self.spec(base: checkpoint, distill: distill, rollout: rollout, rewrite: rewrite).write(
      toFile: specPath, atomically: true, encoding: .utf8)
    do {
      let run = try Run(directory: directory + "/run", specPath: specPath, logger: Logger(label: "glue"))
      try PipelineRunner(run: run).runAll()
      return run
    } catch {
      try? FileManager.default.removeItem(atPath: directory)
      throw error
    }
  }

  /// Deletes an arm's directory (its run, spec and base checkpoint).
  static func remove(_ run: Run) {
    try? FileManager.default.removeItem(
      atPath: URL(fileURLWithPath: run.layout.root).deletingLastPathComponent().path)
  }

  /// The committed distill event of round 0.
  static func distillEvent(_ run: Run) throws -> MetricsEvent {
    try #require(try RunLedger.committedEvents(layout: run.layout).events.first { $0.stage == "distill" })
  }

  /// The pool the round's shards give, counted by objective.
  static func poolCounts(_ run: Run) throws -> [String: Int] {
    let pool = try DistillStage(run: run, tasks: try TaskSource(spec: run.spec)).pool(
      round: 0, config: run.spec.model.config)
    return pool.reduce(into: [:]) { $0[$1.objective, default: 0] += 1 }
  }

  static func changed(_ run: Run) throws -> Bool {
    let store = PolicyStore(run: run)
    return try store.load(round: 0).parameters != store.load(round: 1).parameters
  }

  @Test func theBaseSometimesPasses() throws {
    let base = try GlueBase.shared.get()
    #expect(
      base.greedyPassed >= GlueBase.tasks / 2, "greedy solves \(base.greedyPassed) after \(base.steps) steps")
    #expect(
      base.sampledPassRate > 0.1 && base.sampledPassRate < 0.9,
      "sampled pass rate \(base.sampledPassRate) after \(base.steps) steps")
  }

  @Test func grpoArmGetsExamplesAndItsTemperedRatiosStartAtOne() throws {
    let run = try Self.run(
      "grpo", distill: "sdpo = 0.0\ngrpo = 1.0", rollout: "temperature = 1.3\ntop_k = 12\ntop_p = 0.95")
    defer { Self.remove(run) }
    let event = try Self.distillEvent(run)
    let examples = try #require(event.values["examples_grpo"])
    #expect(examples > 0)
    #expect(try Self.poolCounts(run) == ["grpo": Int(examples)])
    #expect(event.records == Int(examples))
    #expect(try Self.changed(run))

    // The rollouts carry their transform and behaviour log-probs; on the round's own weights the
    // current policy's ratio under that transform is 1 for every term.
    let tasks = try TaskSource(spec: run.spec)
    let pool = try DistillStage(run: run, tasks: tasks).pool(round: 0, config: run.spec.model.config)
    let model = try PolicyStore(run: run).load(round: 0)
    let v = model.config.vocabSize
    var terms = 0
    for example in pool {
      let rows = try model.forward(
        tokens: example.sequence.tokens, batch: 1, length: example.sequence.tokens.count
      ) {
        Array($0)
      }
      for term in example.sequence.terms {
        guard case .policyGradient(let target, _, let old, _, let sampling) = term.kind else {
          Issue.record("grpo built a term that is not a policy gradient")
          continue
        }
        #expect(sampling == SamplingTransform(temperature: 1.3, topK: 12, topP: 0.95))
        let unit = TokenTerm(
          position: 0, weight: 1,
          kind: .policyGradient(
            target: target, advantage: 1, oldLogprob: old, clip: .infinity, sampling: sampling))
        let row = Array(rows[(term.position * v)..<((term.position + 1) * v)])
        let ratio = -(try unit.lossAndGradient(logits: row)).loss
        #expect(abs(ratio - 1) < 2e-3, "ratio \(ratio) at position \(term.position)")
        terms += 1
      }
    }
    #expect(terms > 0)
    // Stored behaviour log-probs differ from the untempered ones (the transform is not the identity).
    let rollouts = try run.readShard(RolloutRecord.self, round: 0, stage: .rollout, shard: 0)
    let first = try #require(rollouts.first { !$0.tokens.isEmpty })
    #expect(first.topK == 12 && first.topP == 0.95 && first.temperature == 1.3)
    #expect(try #require(first.behaviourLogprobs) != first.logprobs)
  }

  @Test func rftArmGetsExamplesOfPassingAttempts() throws {
    let run = try Self.run("rft", distill: "sdpo = 0.0\nrft = 1.0")
    defer { Self.remove(run) }
    let event = try Self.distillEvent(run)
    let examples = try #require(event.values["examples_rft"])
    #expect(examples > 0)
    #expect(try Self.poolCounts(run) == ["rft": Int(examples)])
    var passed = 0
    for shard in 0..<(try run.manifest().shardCounts["r0000/feedback"] ?? 0) {
      passed += try run.readShard(FeedbackRecord.self, round: 0, stage: .feedback, shard: shard).filter(
        \.passed
      )
      .count
    }
    // One example per passing attempt (none is empty or too long at these sizes).
    #expect(Int(examples) == passed)
    #expect(try Self.changed(run))
    // At temperature 1 without truncation the rollouts are written as before: no new fields.
    let rollouts = try run.readShard(RolloutRecord.self, round: 0, stage: .rollout, shard: 0)
    #expect(rollouts.allSatisfy { $0.behaviourLogprobs == nil && $0.topK == nil && $0.topP == nil })
  }

  /// A teacher arm: the rewrite stage's records hold, token for token, the context built from each
  /// attempt's own feedback and critique and the first passing sibling of its task in the shard
  /// (for failed attempts, when it fits), and the distill metrics count what the pool holds.
  @Test func rewriteStageTeacherContextsAndExampleCountsOfATeacherArm() throws {
    let run = try Self.run("teacher", distill: "sdpo = 1.0\nsft = 1.0\ngrpo = 1.0\nrft = 1.0")
    defer { Self.remove(run) }
    let spec = run.spec
    let tasks = try TaskSource(spec: spec)
    let byId = Dictionary(uniqueKeysWithValues: try tasks.train(round: 0).map { ($0.id, $0) })
    let builder = ContextBuilder(config: spec.model.config, reserve: spec.rollout.maxTokens)
    var withSibling = 0
    var failed = 0
    var verified = 0
    for shard in 0..<(try run.manifest().shardCounts["r0000/rewrite"] ?? 0) {
      let rollouts = try run.readShard(RolloutRecord.self, round: 0, stage: .rollout, shard: shard)
      let feedback = try run.readShard(FeedbackRecord.self, round: 0, stage: .feedback, shard: shard)
      let rewrites = try run.readShard(RewriteRecord.self, round: 0, stage: .rewrite, shard: shard)
      let rolloutById = Dictionary(uniqueKeysWithValues: rollouts.map { ($0.id, $0) })
      #expect(rewrites.count == feedback.count)
      for (item, rewrite) in zip(feedback, rewrites) {
        #expect(rewrite.feedbackId == item.id && rewrite.rolloutId == item.rolloutId)
        let task = try #require(byId[item.taskId])
        let rollout = try #require(rolloutById[item.rolloutId])
        // The segments come from the records themselves: the feedback record's result and critique.
        var hindsight = ContextBuilder.Hindsight(
          attempt: rollout.text, feedback: item.result.feedbackText(level: .full),
          critique: item.critique.rendered)
        var sibling: RolloutRecord?
        if !item.passed, let passing = feedback.first(where: { $0.taskId == item.taskId && $0.passed }) {
          sibling = rolloutById[passing.rolloutId]
        }
        var expected = builder.teacher(task: task.prompt, hindsight: hindsight).tokens
        var expectedSibling: String?
        if let sibling {
          hindsight.notes = [TeacherSegments.siblingPrefix + sibling.text]
          let shown = builder.teacher(task: task.prompt, hindsight: hindsight)
          if shown.notesKept == 1 {
            expected = shown.tokens
            expectedSibling = sibling.id
          }
        }
        #expect(rewrite.teacherTokens == expected, "\(rewrite.id)")
        #expect(rewrite.teacherContext == Tokenizer.decode(rewrite.teacherTokens))
        #expect(rewrite.siblingRolloutId == expectedSibling, "\(rewrite.id)")
        if rewrite.siblingRolloutId != nil { withSibling += 1 }
        #expect(rewrite.notes.isEmpty, "memory is off")
        #expect(rewrite.teacherLogprobs.count == rollout.tokens.count)
        // Hindsight rewrites (sft trains on them) exist for failed attempts only, one each, and
        // their verdict is the executor's.
        #expect(rewrite.hindsight.count == (item.passed ? 0 : spec.rewrite.samples))
        for sample in rewrite.hindsight {
          #expect(sample.verified == tasks.family.execute(task: task, attempt: sample.text).passed)
          if sample.verified { verified += 1 }
        }
        if !item.passed { failed += 1 }
      }
    }
    #expect(failed > 0 && withSibling > 0, "failed \(failed), shown a sibling \(withSibling)")

    let event = try Self.distillEvent(run)
    let counts = try Self.poolCounts(run)
    for name in ["sdpo", "sft", "grpo", "rft"] {
      #expect(event.values["examples_" + name].map { Int($0) } == (counts[name] ?? 0), "\(name)")
    }
    #expect(counts["grpo", default: 0] > 0 && counts["rft", default: 0] > 0 && counts["sdpo", default: 0] > 0)
    // sft trains on every verified rewrite (all fit the context at these sizes).
    #expect(counts["sft", default: 0] == verified)
  }
}

/// The base policy of `EndToEndGlueTests`: the tiny preset with rotary positions, trained with
/// cross-entropy on the canonical solutions of the glue spec's round-0 training tasks until a
/// third of its samples (temperature 1) pass. Each arm saves it as the checkpoint its
/// `base.policy` names.
struct GlueBase: Sendable {
  static let tasks = 4
  /// Optimizer steps between greedy checks, and the most it trains.
  static let checkEvery = 10
  static let maxSteps = 1000

  let config: ModelConfig
  let parameters: [Float]
  /// Optimizer steps it was trained for.
  let steps: Int
  /// Training tasks its greedy answer solves.
  let greedyPassed: Int
  /// Share of 16 samples per task at temperature 1 that pass.
  let sampledPassRate: Double

  static let shared: Result<GlueBase, any Error> = Result { try GlueBase.train() }

  static func train() throws -> GlueBase {
    let spec = try PipelineSpec.parse(
      text: EndToEndGlueTests.spec(base: "base", distill: "sdpo = 1.0"), source: "glue.toml")
    let source = try TaskSource(spec: spec)
    let train = try source.train(round: 0)
    let builder = ContextBuilder(config: spec.model.config, reserve: spec.rollout.maxTokens)
    let sequences = train.map {
      TrainingSequence.supervised(
        prompt: builder.student(task: $0.prompt), completion: ContextBuilder.completion($0.canonical))
    }
    let model = try Transformer(config: spec.model.config, seed: 1)
    var optimizer = try AdamW(config: AdamWConfig(weightDecay: 0), layout: model.layout)
    let policy = EmbeddedPolicy(model: model)
    let prompts = train.map { builder.student(task: $0.prompt) }
    let repeated = Array(prompts.map { [[Int32]](repeating: $0, count: 16) }.joined())
    /// Share of 16 samples per task (temperature 1) that pass.
    func sampledPassRate() throws -> Double {
      let sampled = try policy.generate(
        prompts: repeated, settings: SamplingSettings(maxNewTokens: spec.rollout.maxTokens),
        seeds: repeated.indices.map { UInt64($0) })
      let passes = zip(repeated.indices, sampled).filter { index, generation in
        source.family.execute(task: train[index / 16], attempt: Tokenizer.decodeText(generation.tokens))
          .passed
      }.count
      return Double(passes) / Double(repeated.count)
    }
    // Train until sampling passes about a third of the time: groups then mix passes and failures.
    var rate = 0.0
    var steps = 0
    while rate < 0.3 && steps < maxSteps {
      for _ in 0..<checkEvery {
        model.zeroGradients()
        _ = try model.lossAndGradients(sequences)
        _ = GradientClipping.clip(&model.gradients, maxNorm: 1)
        try optimizer.update(parameters: &model.parameters, gradients: model.gradients, learningRate: 3e-3)
      }
      steps += checkEvery
      rate = try sampledPassRate()
    }
    let greedy = try policy.generate(
      prompts: prompts, settings: .greedy(maxNewTokens: spec.rollout.maxTokens), seeds: prompts.map { _ in 0 }
    )
    let greedyPassed = zip(train, greedy).filter {
      source.family.execute(task: $0, attempt: Tokenizer.decodeText($1.tokens)).passed
    }.count
    return GlueBase(
      config: model.config, parameters: model.parameters, steps: steps, greedyPassed: greedyPassed,
      sampledPassRate: rate)
  }
}
