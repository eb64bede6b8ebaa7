import ArgumentParser
import Foundation
import HindcastStorage
import HindcastSupport
import HindcastTasks

extension TaskSplit: ExpressibleByArgument {}
extension FeedbackLevel: ExpressibleByArgument {}

/// Picks a task family; `exec` also needs its tasks file and checker command.
struct FamilyOptions: ParsableArguments {
  @Option(help: "Task family: \(TaskFamilyRegistry.names.joined(separator: ", ")).")
  var family: String

  @Option(help: "exec: the JSON-lines tasks file (see docs/exec-protocol.md).")
  var tasksFile: String?

  @Option(help: "exec: the checker command, e.g. 'python3 data/exec/check_python.py'.")
  var checker: String?

  @Option(help: "exec: wall-clock limit of one checker run, in seconds.")
  var checkerWallSeconds: Double = SandboxLimits.standard.wallSeconds

  func validate() throws {
    if family == "exec" && (tasksFile == nil || checker == nil) {
      throw ValidationError("--family exec needs --tasks-file FILE.jsonl and --checker 'COMMAND ARGS'")
    }
    if family != "exec" && (tasksFile != nil || checker != nil) {
      throw ValidationError("--tasks-file and --checker only apply to --family exec")
    }
  }

  /// The family, loading and validating the exec tasks file and checker when needed.
  func makeFamily() throws -> any TaskFamily {
    var exec: ExecFamily?
    if family == "exec", let tasksFile, let checker {
      var limits = SandboxLimits.standard
      limits.wallSeconds = checkerWallSeconds
      exec = try ExecFamily(
        tasksFile: tasksFile, checkerCommand: try CheckerCommandLine.split(checker), limits: limits)
    }
    return try TaskFamilyRegistry(exec: exec).family(named: family)
  }
}

/// Which tasks to generate: split, count, seed, difficulty.
struct GenerationOptions: ParsableArguments {
  @Option(help: "Split: train, validation or test.")
  var split: TaskSplit = .train

  @Option(help: "Number of tasks (default: 10; for exec list, every task of the split).")
  var count: Int?

  @Option(help: "Seed of the generator.")
  var seed: UInt64 = 0

  @Option(help: "Difficulty level or range such as 2 or 1-3 (default: every level of the family).")
  var level: String?

  func validate() throws {
    if let count, count < 0 { throw ValidationError("--count must be non-negative; got \(count)") }
    if let level { _ = try Self.parseLevels(level) }
  }

  static func parseLevels(_ text: String) throws -> ClosedRange<Int> {
    let parts = text.replacingOccurrences(of: "...", with: "-").split(separator: "-").map {
      Int($0.trimmingCharacters(in: .whitespaces))
    }
    if parts.count == 1, let level = parts[0] { return level...level }
    if parts.count == 2, let low = parts[0], let high = parts[1], low <= high { return low...high }
    throw ValidationError("--level must be a level such as 2 or a range such as 1-3; got '\(text)'")
  }

  /// Generates the tasks. For exec without --count, every task of the split.
  func generate(_ family: any TaskFamily) throws -> [TaskRecord] {
    let levels = try level.map(Self.parseLevels) ?? family.levels
    if count == nil, let exec = family as? ExecFamily {
      return exec.tasks.filter { $0.split == split }
    }
    return try family.generate(
      split: split, count: count ?? 10, seed: seed, difficulty: TaskDifficulty(levels: levels))
  }
}

/// `hindcast tasks`: generate, list and show tasks of a family.
public struct TasksCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "tasks",
    abstract: "Generate, list and show tasks of a family.",
    subcommands: [Generate.self, List.self, Show.self])

  public init() {}

  struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write tasks as JSON lines (one TaskRecord per line) to a file or standard output.")

    @OptionGroup var familyOptions: FamilyOptions
    @OptionGroup var generation: GenerationOptions

    @Option(help: "Output file (written atomically); standard output if omitted.")
    var out: String?

    func run() throws {
      let tasks = try generation.generate(try familyOptions.makeFamily())
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
      var bytes: [UInt8] = []
      for task in tasks {
        bytes += try encoder.encode(task)
        bytes.append(0x0A)
      }
      if let out {
        try AtomicFile.write(bytes, to: out)
        StandardError.write("wrote \(tasks.count) tasks to \(out)\n")
      } else {
        FileHandle.standardOutput.write(Data(bytes))
      }
    }
  }

  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List tasks, one line each: id, prompt and canonical solution.")

    @OptionGroup var familyOptions: FamilyOptions
    @OptionGroup var generation: GenerationOptions

    func run() throws {
      for task in try generation.generate(try familyOptions.makeFamily()) {
        let canonical = task.canonical.replacingOccurrences(of: "\n", with: "\\n")
        print("\(task.id)\t\(task.split.rawValue)\t\(task.prompt)\t=> \(canonical)")
      }
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show one task in full, with its canonical check and an example flawed attempt.",
      discussion: "Pick the task by --id or --index among the generated ones (same options as list).")

    @OptionGroup var familyOptions: FamilyOptions
    @OptionGroup var generation: GenerationOptions

    @Option(help: "The task id.")
    var id: String?

    @Option(help: "0-based position among the generated tasks.")
    var index: Int?

    func validate() throws {
      if (id == nil) == (index == nil) { throw ValidationError("pass exactly one of --id and --index") }
    }

    func run() throws {
      let family = try familyOptions.makeFamily()
      let tasks = try generation.generate(family)
      let task: TaskRecord
      if let id {
        guard let found = tasks.first(where: { $0.id == id }) else {
          throw HindcastError(
            .invalidInput, "no task '\(id)' among the \(tasks.count) generated tasks",
            hint: "use the same --split, --count, --seed and --level as the listing that showed it")
        }
        task = found
      } else if let index, tasks.indices.contains(index) {
        task = tasks[index]
      } else {
        throw HindcastError(.invalidInput, "--index must be in 0..<\(tasks.count)")
      }
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
      print(String(decoding: try encoder.encode(task), as: UTF8.self))
      if task.hasCanonical {
        let result = family.execute(task: task, attempt: task.canonical)
        print("canonical: \(result.passed ? "passes" : "FAILS: \(result.feedback)")")
        var rng = SeededRandom(seed: SeedDerivation.derive(generation.seed, labels: ["show-flaw", task.id]))
        let flawed = family.flaw(solution: task.canonical, task: task, rng: &rng)
        print("")
        CheckReport(family: family, task: task, attempt: flawed, level: .full).printText()
      }
    }
  }
}
