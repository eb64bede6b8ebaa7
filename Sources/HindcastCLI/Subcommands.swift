import ArgumentParser

extension HindcastCommand {
  /// Every subcommand, in the order `hindcast --help` lists them. Add new commands here.
  static let allSubcommands: [ParsableCommand.Type] = [
    RunCommand.self,
    PretrainCommand.self,
    RolloutCommand.self,
    FeedbackCommand.self,
    RewriteCommand.self,
    MemoryStageCommand.self,
    DistillCommand.self,
    EvalCommand.self,
    GapCommand.self,
    StatusCommand.self,
    VerifyCommand.self,
    TasksCommand.self,
    CheckCommand.self,
    MemoryCommand.self,
    TrainLMCommand.self,
    SampleCommand.self,
    ServeCommand.self,
    ExportCommand.self,
    ExperimentCommand.self,
    ReportCommand.self,
    BenchCommand.self,
  ]
}
