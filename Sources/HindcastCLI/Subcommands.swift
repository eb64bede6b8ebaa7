import ArgumentParser

extension HindcastCommand {
  /// Every subcommand, in the order `hindcast --help` lists them. Add new commands here.
  static let allSubcommands: [ParsableCommand.Type] = [
    MemoryCommand.self
  ]
}
