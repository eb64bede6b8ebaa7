import ArgumentParser
import HindcastSupport

/// The root `hindcast` command. Every stage and tool is its own subcommand in `Commands/`.
///
/// Subcommands parse and validate their arguments, then call a library function; they never hold
/// pipeline logic themselves. Errors thrown as `HindcastError` are printed with their location and
/// hint and end the process with a non-zero exit code.
public struct HindcastCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "hindcast",
    abstract: "Language-feedback self-distillation: learn from where and why attempts failed.",
    discussion: """
      Hindcast is a staged batch pipeline. Each stage is its own command, reads the shards the \
      previous stage wrote, and resumes from its last completed shard when run again.
      """,
    version: HindcastVersion.string,
    subcommands: HindcastCommand.allSubcommands
  )

  public init() {}
}

/// The program's version, printed by `hindcast --version`.
public enum HindcastVersion {
  public static let string = "0.1.0"
}

/// Runs the root command with the process arguments and maps errors to exit codes:
/// 0 success, 1 a `HindcastError` (bad input, corrupt file, ...), 64 usage errors (ArgumentParser).
public func hindcastMain(arguments: [String]? = nil) {
  do {
    var command = try HindcastCommand.parseAsRoot(arguments)
    try command.run()
  } catch let error as HindcastError {
    StandardError.write("error: \(error)\n")
    HindcastCommand.exit(withError: ExitCode(1))
  } catch {
    HindcastCommand.exit(withError: error)
  }
}
