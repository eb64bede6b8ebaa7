import ArgumentParser
import HindcastPipeline

/// One command per stage: `hindcast <stage> --run DIR --round R`. They share this behaviour and
/// differ only in the stage they run.
protocol StageCommand: ParsableCommand {
  static var stage: StageName { get }
  var options: RunOptions { get }
  var round: Int { get }
}

extension StageCommand {
  func run() throws {
    let run = try options.open()
    try PipelineRunner(run: run).stage(Self.stage, round: round)
  }

  static func stageConfiguration(_ abstract: String) -> CommandConfiguration {
    CommandConfiguration(
      commandName: stage.rawValue, abstract: abstract,
      discussion: """
        Reads the shards of the stage before it and writes its own under RUN/rNNNN/\(stage.rawValue)/. \
        Completed shards are skipped, so running it again after a crash resumes. With \
        --worker i --workers n, n processes split the shards without doing any twice.
        """)
  }
}

struct RolloutCommand: StageCommand {
  static let stage = StageName.rollout
  static let configuration = stageConfiguration(
    "Sample k attempts per training task from the round's policy.")
  @OptionGroup var options: RunOptions
  @Option(help: "Round number (0-based).") var round: Int = 0
}

struct FeedbackCommand: StageCommand {
  static let stage = StageName.feedback
  static let configuration = stageConfiguration("Execute every rollout and write its feedback and critique.")
  @OptionGroup var options: RunOptions
  @Option(help: "Round number (0-based).") var round: Int = 0
}

struct RewriteCommand: StageCommand {
  static let stage = StageName.rewrite
  static let configuration = stageConfiguration(
    "Teacher with privileged context: re-score attempts token by token and sample verified rewrites.")
  @OptionGroup var options: RunOptions
  @Option(help: "Round number (0-based).") var round: Int = 0
}

struct MemoryStageCommand: StageCommand {
  static let stage = StageName.memory
  static let configuration = CommandConfiguration(
    commandName: "memory-update",
    abstract: "Propose memory notes from the round's critiques and fold in note value observations.")
  @OptionGroup var options: RunOptions
  @Option(help: "Round number (0-based).") var round: Int = 0
}

struct DistillCommand: StageCommand {
  static let stage = StageName.distill
  static let configuration = stageConfiguration(
    "Train the next round's policy toward the teacher (sdpo, sft, rft, grpo as the spec weighs them).")
  @OptionGroup var options: RunOptions
  @Option(help: "Round number (0-based).") var round: Int = 0
}

struct EvalCommand: StageCommand {
  static let stage = StageName.eval
  static let configuration = stageConfiguration(
    "Evaluate the policy that starts the round on the validation and test tasks (first attempt, no feedback)."
  )
  @OptionGroup var options: RunOptions
  @Option(help: "Round number (0-based); round R evaluates policy/round-R.") var round: Int = 0
}

struct PretrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pretrain",
    abstract: "Stage 0: train the base policy on a corpus generated from the task family.",
    discussion: """
      Writes RUN/policy/round-0000. The corpus mixes direct examples with revision examples \
      (flawed attempt + feedback + critique -> solution), including the model's own mistakes.
      """)
  @OptionGroup var options: RunOptions

  func run() throws {
    try PipelineRunner(run: try options.open()).pretrain()
  }
}
