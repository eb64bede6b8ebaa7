import Foundation
import HindcastModel
import HindcastSupport
import HindcastTasks

/// A validated pipeline spec (`pipelines/NAME.toml`). Every field has a default; every key in the
/// file must be known, of the right type and in range. `docs/pipeline-spec.md` documents each key.
public struct PipelineSpec: Codable, Sendable, Equatable {
  public enum Teacher: String, Codable, CaseIterable, Sendable {
    case base, roundStart = "round-start", ema
    /// A snapshot of the policy, replaced by a round's policy only when that round's held-out
    /// greedy pass@1 beat the snapshot's (CGTR-style refresh on improvement; `TeacherSnapshot`).
    case best
  }
  /// What the collapse guard compares a newly distilled policy with (`guard.reference`).
  public enum GuardReference: String, Codable, CaseIterable, Sendable {
    /// The policy the round started from (the previous round's, or the one a rollback restored).
    case previous
    /// The best policy in force so far on validation greedy pass@1: a slow slide in steps each
    /// within the margin is caught once it adds up to more than the margin.
    case best
  }
  public enum PositionMask: String, Codable, CaseIterable, Sendable {
    case upToFirstError = "up-to-first-error", all
  }
  public enum Divergence: String, Codable, CaseIterable, Sendable {
    case forwardKL = "forward-kl", reverseKL = "reverse-kl", jsd
  }
  public enum Feedback: String, Codable, CaseIterable, Sendable {
    case full, location, bare
  }

  public struct Model: Codable, Sendable, Equatable {
    public var preset: String = "small"
    public var config: ModelConfig = .small
    public var threads: Int = 2
  }

  public struct Tasks: Codable, Sendable, Equatable {
    public var family: String = "arith"
    public var difficulty: Int = 1
    public var trainPerRound: Int = 64
    public var samplesPerTask: Int = 8
    /// Tasks of the validation split: every choice (collapse guard, rollbacks, sweeps) is made on
    /// their greedy pass@1.
    public var validation: Int = 200
    /// Tasks of the test split: only ever reported.
    public var test: Int = 1000
    public var tasksPerShard: Int = 16
    /// For the exec family: the tasks file and checker command.
    public var execTasks: String?
    public var execChecker: [String] = []
  }

  public struct Pretrain: Codable, Sendable, Equatable {
    public var steps: Int = 600
    public var batch: Int = 32
    public var learningRate: Double = 2e-3
    public var warmup: Int = 50
    public var revisionFraction: Double = 0.75
    public var corpusTasks: Int = 4000
    /// Concatenate examples into sequences of the model's context (see `PretrainStage`).
    public var pack: Bool = false
    /// When the own-mistake revisions start, as a fraction of `steps`.
    public var ownMistakesFrom: Double = 1.0 / 3.0
    /// Steps between refreshes of the own-mistake revisions (0: built once).
    public var ownMistakesEvery: Int = 100
    /// Corpus tasks sampled (at `ownTemperature`) per refresh.
    public var ownMistakesTasks: Int = 512
    /// Probability that a revision example is an own mistake, once there are any.
    public var ownFraction: Double = 0.5
    /// Sampling temperature of the own-mistake attempts (0: greedy, the first attempts `hindcast
    /// gap` measures; 1: the rollouts' temperature).
    public var ownTemperature: Double = 1
    /// Probability that a revision example also shows the strategy note the memory's proposer
    /// writes for its flaw (when it fits the context), so the base policy learns to read `<note>`
    /// segments before the memory ever offers one.
    public var noteFraction: Double = 0
    /// Loss weight of a revision example's copied prefix (`RevisionCorpus`; 1 = plain).
    public var revisionPrefixWeight: Double = 1
    /// Loss weight of a revision example's corrected step (`RevisionCorpus`; 1 = plain).
    public var revisionFixWeight: Double = 1
  }

  public struct Rollout: Codable, Sendable, Equatable {
    public var temperature: Double = 1.0
    /// Keep only the k most likely tokens when sampling; 0 keeps all.
    public var topK: Int = 0
    /// Nucleus mass when sampling; 1 keeps all.
    public var topP: Double = 1
    public var maxTokens: Int = 96

    /// The sampler settings of rollouts (top-k and top-p only when they truncate).
    public var settings: SamplingSettings {
      SamplingSettings(
        temperature: Float(temperature), topK: topK > 0 ? topK : nil, topP: topP < 1 ? Float(topP) : nil,
        maxNewTokens: maxTokens)
    }
  }

  public struct Rewrite: Codable, Sendable, Equatable {
    public var samples: Int = 1
    public var temperature: Double = 1.0
    public var teacherTopK: Int = 16
    public var feedback: Feedback = .full
    public var memory: Bool = true
    public var memoryBudgetTokens: Int = 64
    public var useSibling: Bool = true
    /// Whether the teacher's context holds the critic's critique (its own segment, independent
    /// of the feedback level).
    public var critique: Bool = true
  }

  public struct Distill: Codable, Sendable, Equatable {
    /// Objective weights above zero by registry name (`distill.NAME`; `ObjectiveRegistry`).
    public var weights: [String: Double] = ["sdpo": 1]
    /// Validated `[objective.NAME]` options by objective name; only objectives with an option
    /// set differently from its default are listed (`ObjectiveRegistry.options(of:in:)` fills in
    /// defaults).
    public var options: [String: ObjectiveOptions] = [:]
    public var sdpo: Double {
      get { weights["sdpo"] ?? 0 }
      set { weights["sdpo"] = newValue > 0 ? newValue : nil }
    }
    public var sft: Double {
      get { weights["sft"] ?? 0 }
      set { weights["sft"] = newValue > 0 ? newValue : nil }
    }
    public var grpo: Double {
      get { weights["grpo"] ?? 0 }
      set { weights["grpo"] = newValue > 0 ? newValue : nil }
    }
    public var rft: Double {
      get { weights["rft"] ?? 0 }
      set { weights["rft"] = newValue > 0 ? newValue : nil }
    }
    /// Scale teacher objectives by the round's measured gap (`RoundGap`), off when its interval
    /// includes zero.
    public var gapGate: Bool = false
    /// The gap at which the gate is fully open (weight x min(1, gap / reference)).
    public var gapReference: Double = 0.25
    /// Validation tasks the pipeline measures each round's gap on (`RoundGap`; 0 = off unless
    /// the gate needs it, then 1).
    public var gapTasks: Int = 64
    /// Keep AdamW's moments from one round's distillation to the next (saved with the policy).
    public var persistMoments: Bool = false
    public var divergence: Divergence = .reverseKL
    public var teacher: Teacher = .base
    public var positions: PositionMask = .upToFirstError
    public var learningRate: Double = 3e-5
    public var steps: Int = 8
    public var batch: Int = 64
    public var emaRate: Double = 0.05
    public var ratioClip: Double = 2.0
    public var grpoClip: Double = 0.2

    /// Whether an active objective trains on sampled hindsight rewrites, so the rewrite stage must
    /// sample and verify them: each objective declares it in its own `needs`
    /// (`ObjectiveNeeds.verifiedRewrites`; today sft and rewrite_advantage). sdpo, route and credit
    /// need only the teacher's re-scoring of the student's own tokens; grpo and rft no teacher.
    public var usesVerifiedRewrites: Bool {
      ObjectiveRegistry.needs(self).contains(.verifiedRewrites)
    }
  }

  public struct Eval: Codable, Sendable, Equatable {
    public var samples: Int = 4
    public var temperature: Double = 1.0
    /// Sampled pass@1 and pass@k are measured on the first this-many test tasks (greedy pass@1 on
    /// all of them): sampling `samples` answers per task is the expensive part of an eval.
    public var sampledTasks: Int = 200
  }

  /// Which model the rollout, rewrite and eval stages use (`[policy]`).
  public enum Backend: String, Codable, CaseIterable, Sendable {
    /// The embedded transformer trained by this run.
    case embedded
    /// A model behind an OpenAI-compatible server (`RemotePolicy`).
    case openai
  }

  /// How the contexts of a remote policy are built (`[policy] context`).
  public enum ContextStyle: String, Codable, CaseIterable, Sendable {
    /// The embedded tokenizer's segment tokens (`<task>...<answer>`), sent as token ids.
    case tokens
    /// A conversation rendered by the model's chat template and counted by the server's
    /// tokenizer (`ChatContexts`).
    case chat
  }

  public struct PolicyBackend: Codable, Sendable, Equatable {
    public var backend: Backend = .embedded
    public var context: ContextStyle = .tokens
    /// The system message of chat contexts; nil keeps the chat template's default.
    public var system: String?
    /// Text before the task in the user turn of chat contexts.
    public var instruction: String = ""
    /// The server's OpenAI base URL, ending in `/v1`.
    public var baseURL: String = ""
    /// The served model's id; empty takes the first `/v1/models` lists.
    public var model: String?
    /// The environment variable holding the API key, if the server wants one.
    public var apiKeyEnv: String?
    public var concurrency: Int = 4
    public var timeoutSeconds: Double = 120
    public var maxRetries: Int = 5
    public var backoffSeconds: Double = 0.5

    public init() {}
  }

  /// A policy checkpoint directory to start from instead of pretraining (for example the base
  /// policy shared by every arm of an experiment). Relative paths are relative to the working
  /// directory.
  public var basePolicy: String?
  /// Guard against collapse: when validation greedy pass@1 of a round's new policy falls more
  /// than this below the reference policy's (`guardReference`), the new policy is replaced by
  /// that one. 1 disables the guard.
  public var rollbackMargin: Double = 0.1
  /// What the guard measures the drop from, and restores on a rollback: the policy in force
  /// (`previous`) or the best policy in force so far (`best`).
  public var guardReference: GuardReference = .previous
  public var name: String = "pipeline"
  public var seed: UInt64 = 1
  public var rounds: Int = 3
  public var model = Model()
  public var tasks = Tasks()
  public var pretrain = Pretrain()
  public var rollout = Rollout()
  public var rewrite = Rewrite()
  public var distill = Distill()
  public var eval = Eval()
  public var policy = PolicyBackend()

  public init() {}

  static let tables: Set<String> = [
    "base", "guard", "model", "tasks", "pretrain", "rollout", "rewrite", "distill", "eval", "policy",
  ]

  /// Parses and validates a spec file. Errors name the file, the line and the key.
  public static func load(path: String) throws -> PipelineSpec {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw HindcastError(.missingFile, "spec file not found or unreadable", location: path)
    }
    return try parse(text: String(decoding: data, as: UTF8.self), source: path)
  }

  public static func parse(text: String, source: String) throws -> PipelineSpec {
    var r = SpecReader(try TOMLDocument(text: text, source: source))
    var s = PipelineSpec()
    s.name = try r.string("name", default: "pipeline") ?? "pipeline"
    try SpecChecks.runName(s.name, reader: r)
    s.seed = UInt64(try r.int("seed", default: 1, in: 0...Int.max))
    s.rounds = try r.int("rounds", default: 3, in: 0...1000)
    s.basePolicy = try r.string("base.policy", default: nil)
    s.rollbackMargin = try r.double("guard.rollback_margin", default: 0.1, in: 0...1)
    s.guardReference = try r.choice("guard.reference", default: GuardReference.previous)

    let preset = try r.string("model.preset", default: "small") ?? "small"
    guard let base = ModelConfig.presets[preset] else {
      throw r.invalid(
        "model.preset",
        "must be one of \(ModelConfig.presets.keys.sorted().map { "'\($0)'" }.joined(separator: ", "))")
    }
    s.model.preset = preset
    var config = base
    config.layers = try r.int("model.layers", default: base.layers, in: 1...128)
    config.width = try r.int("model.width", default: base.width, in: 4...16_384)
    config.heads = try r.int("model.heads", default: base.heads, in: 1...1024)
    config.contextLength = try r.int("model.context", default: base.contextLength, in: 2...16_384)
    // "learned" (absolute, with answer-aligned contexts) or "rope" (rotary, no alignment).
    config.positionEncoding = try r.choice("model.position", default: base.positionEncoding)
    guard config.heads <= config.width, config.width % config.heads == 0 else {
      throw r.invalid("model.heads", "must divide model.width (\(config.width)), got \(config.heads)")
    }
    do { try config.validate(source: source) } catch let error as HindcastError {
      throw r.invalid("model", error.message)
    }
    s.model.config = config
    s.model.threads = try r.int("model.threads", default: 2, in: 1...256)

    s.tasks.family = try r.string("tasks.family", default: "arith") ?? "arith"
    guard SpecChecks.families.contains(s.tasks.family) else {
      throw r.invalid(
        "tasks.family",
        "must be one of \(SpecChecks.families.map { "'\($0)'" }.joined(separator: ", ")), got '\(s.tasks.family)'"
      )
    }
    let lowestLevel = TaskFamilyRegistry.lowestLevel(of: s.tasks.family)
    s.tasks.difficulty = try r.int("tasks.difficulty", default: 1, in: lowestLevel...5)
    s.tasks.trainPerRound = try r.int("tasks.train_per_round", default: 64, in: 1...1_000_000)
    s.tasks.samplesPerTask = try r.int("tasks.samples_per_task", default: 8, in: 1...256)
    if r.document.entries["tasks.held_out"] != nil {
      throw r.invalid(
        "tasks.held_out",
        "was replaced by tasks.validation (tasks every choice is made on) and tasks.test (tasks that are only reported)"
      )
    }
    s.tasks.validation = try r.int("tasks.validation", default: 200, in: 1...1_000_000)
    s.tasks.test = try r.int("tasks.test", default: 1000, in: 1...1_000_000)
    s.tasks.tasksPerShard = try r.int("tasks.tasks_per_shard", default: 16, in: 1...100_000)
    s.tasks.execTasks = try r.string("tasks.exec_tasks", default: nil)
    s.tasks.execChecker = try r.strings("tasks.exec_checker", default: [])
    try SpecChecks.exec(s.tasks, reader: r)

    s.pretrain.steps = try r.int("pretrain.steps", default: 600, in: 0...10_000_000)
    s.pretrain.batch = try r.int("pretrain.batch", default: 32, in: 1...4096)
    s.pretrain.learningRate = try r.double("pretrain.lr", default: 2e-3, in: 1e-7...1)
    s.pretrain.warmup = try r.int("pretrain.warmup", default: 50, in: 0...1_000_000)
    s.pretrain.revisionFraction = try r.double("pretrain.revision_fraction", default: 0.75, in: 0...1)
    s.pretrain.corpusTasks = try r.int("pretrain.corpus_tasks", default: 4000, in: 1...10_000_000)
    s.pretrain.pack = try r.bool("pretrain.pack", default: false)
    s.pretrain.ownMistakesFrom = try r.double("pretrain.own_mistakes_from", default: 1.0 / 3.0, in: 0...1)
    s.pretrain.ownMistakesEvery = try r.int("pretrain.own_mistakes_every", default: 100, in: 0...10_000_000)
    s.pretrain.ownMistakesTasks = try r.int("pretrain.own_mistakes_tasks", default: 512, in: 0...1_000_000)
    s.pretrain.ownFraction = try r.double("pretrain.own_fraction", default: 0.5, in: 0...1)
    s.pretrain.ownTemperature = try r.temperature("pretrain.own_temperature", default: 1)
    s.pretrain.noteFraction = try r.double("pretrain.note_fraction", default: 0, in: 0...1)
    s.pretrain.revisionPrefixWeight = try r.double("pretrain.revision_prefix_weight", default: 1, in: 0...1)
    s.pretrain.revisionFixWeight = try r.double("pretrain.revision_fix_weight", default: 1, in: 1...64)

    s.rollout.temperature = try r.temperature("rollout.temperature", default: 1)
    s.rollout.topK = try r.int("rollout.top_k", default: 0, in: 0...config.vocabSize)
    s.rollout.topP = try r.positive("rollout.top_p", default: 1, in: 0...1)
    s.rollout.maxTokens = try r.int(
      "rollout.max_tokens", default: 96, in: 1...max(1, config.contextLength - SpecChecks.shortestPrompt))

    s.rewrite.samples = try r.int("rewrite.samples", default: 1, in: 0...64)
    s.rewrite.temperature = try r.temperature("rewrite.temperature", default: 1)
    s.rewrite.teacherTopK = try r.int("rewrite.teacher_top_k", default: 16, in: 1...config.vocabSize)
    s.rewrite.feedback = try r.choice("rewrite.feedback", default: Feedback.full)
    s.rewrite.memory = try r.bool("rewrite.memory", default: true)
    s.rewrite.memoryBudgetTokens = try r.int("rewrite.memory_budget_tokens", default: 64, in: 0...100_000)
    s.rewrite.useSibling = try r.bool("rewrite.use_sibling", default: true)
    s.rewrite.critique = try r.bool("rewrite.critique", default: true)

    try ObjectiveRegistry.read(&r, into: &s.distill)
    s.distill.gapGate = try r.bool("distill.gap_gate", default: false)
    s.distill.gapReference = try r.double("distill.gap_reference", default: 0.25, in: 1e-6...1)
    s.distill.gapTasks = try r.int("distill.gap_tasks", default: 64, in: 0...1_000_000)
    s.distill.persistMoments = try r.bool("distill.persist_moments", default: false)
    s.distill.divergence = try r.choice("distill.divergence", default: Divergence.reverseKL)
    s.distill.teacher = try r.choice("distill.teacher", default: Teacher.base)
    s.distill.positions = try r.choice("distill.positions", default: PositionMask.upToFirstError)
    s.distill.learningRate = try r.double("distill.lr", default: 3e-5, in: 1e-8...1)
    s.distill.steps = try r.int("distill.steps", default: 8, in: 0...1_000_000)
    s.distill.batch = try r.int("distill.batch", default: 64, in: 1...65_536)
    s.distill.emaRate = try r.double("distill.ema_rate", default: 0.05, in: 0...1)
    s.distill.ratioClip = try r.double("distill.ratio_clip", default: 2, in: 1...1000)
    s.distill.grpoClip = try r.positive("distill.grpo_clip", default: 0.2, in: 0...10)

    s.eval.samples = try r.int("eval.samples", default: 4, in: 0...256)
    s.eval.temperature = try r.temperature("eval.temperature", default: 1)
    s.eval.sampledTasks = try r.int("eval.sampled_tasks", default: 200, in: 0...1_000_000)

    s.policy.backend = try r.choice("policy.backend", default: Backend.embedded)
    s.policy.baseURL = try r.string("policy.base_url", default: "") ?? ""
    s.policy.model = try r.string("policy.model", default: nil)
    s.policy.apiKeyEnv = try r.string("policy.api_key_env", default: nil)
    s.policy.concurrency = try r.int("policy.concurrency", default: 4, in: 1...1024)
    s.policy.timeoutSeconds = try r.double("policy.timeout_seconds", default: 120, in: 0.1...86_400)
    s.policy.maxRetries = try r.int("policy.max_retries", default: 5, in: 0...100)
    s.policy.backoffSeconds = try r.double("policy.backoff_seconds", default: 0.5, in: 0...600)
    s.policy.context = try r.choice("policy.context", default: ContextStyle.tokens)
    s.policy.system = try r.string("policy.system", default: nil)
    s.policy.instruction = try r.string("policy.instruction", default: "") ?? ""
    if s.policy.context == .chat && s.policy.backend != .openai {
      throw r.invalid(
        "policy.context", "\"chat\" needs policy.backend = \"openai\" (a server with a chat template)")
    }
    if s.policy.context != .chat {
      if s.policy.system != nil {
        throw r.invalid("policy.system", "is only used with policy.context = \"chat\"")
      }
      if !s.policy.instruction.isEmpty {
        throw r.invalid("policy.instruction", "is only used with policy.context = \"chat\"")
      }
    }
    if s.policy.backend == .openai {
      guard s.policy.baseURL.hasPrefix("http://") || s.policy.baseURL.hasPrefix("https://") else {
        throw r.invalid(
          s.policy.baseURL.isEmpty ? "policy.backend" : "policy.base_url",
          "needs policy.base_url, the server's OpenAI base URL (for example \"http://127.0.0.1:8080/v1\")")
      }
    } else if !s.policy.baseURL.isEmpty {
      throw r.invalid("policy.base_url", "is only used with policy.backend = \"openai\"")
    }

    try r.finish(knownTables: tables.union(ObjectiveRegistry.tables))
    return s
  }
}
