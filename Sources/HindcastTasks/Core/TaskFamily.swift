import HindcastSupport

/// A family of tasks: a generator with seed and difficulty, an executor that checks attempts,
/// a critic that explains failures, and a flaw generator for revision training examples.
///
/// Contract: `execute` never throws and never crashes, whatever the attempt (empty, megabytes,
/// invalid UTF-8 decoded with replacement characters); built-in families are pure and
/// deterministic. Every generated task's canonical solution passes `execute`.
public protocol TaskFamily: Sendable {
  /// The registry name: "arith", "arith-plain", "listdsl", "exec".
  var name: String { get }
  /// Difficulty levels the generator understands (docs/tasks.md says what each means).
  var levels: ClosedRange<Int> { get }
  var critic: any Critic { get }

  /// `count` distinct tasks (distinct ids) of `split`, reproducible from `seed`. Throws
  /// `HindcastError(.invalidInput)` if the difficulty is out of range or the split does not hold
  /// that many distinct tasks at this difficulty.
  func generate(split: TaskSplit, count: Int, seed: UInt64, difficulty: TaskDifficulty) throws
    -> [TaskRecord]

  /// Checks one attempt at `task`.
  func execute(task: TaskRecord, attempt: String) -> ExecutionResult

  /// A realistic flawed version of `solution` for revision examples: mistakes like the ones a
  /// small model makes (a dropped carry, an off-by-one digit, a wrong op or argument, swapped
  /// order, truncated output). For arith and listdsl the result always fails `execute`.
  func flaw(solution: String, task: TaskRecord, rng: inout SeededRandom) -> String

  /// Throws `HindcastError(.invalidInput)` if `task` cannot be executed by this family (wrong
  /// family name, malformed payload). `execute` on such a task returns a `.checkerError`.
  func validate(task: TaskRecord) throws
}

extension TaskFamily {
  /// The critique of `result` by this family's critic.
  public func critique(task: TaskRecord, attempt: String, result: ExecutionResult) -> Critique {
    critic.critique(task: task, attempt: attempt, result: result)
  }

  /// Shared check for `validate`: the task belongs to this family.
  func requireOwnTask(_ task: TaskRecord) throws {
    guard task.family == name else {
      throw HindcastError(
        .invalidInput, "task '\(task.id)' belongs to family '\(task.family)', not '\(name)'",
        hint: "check it with --family \(task.family)")
    }
  }
}

/// Draws distinct tasks of one split until `count` are found; shared by the built-in generators.
struct DistinctTaskCollector {
  let family: String
  let split: TaskSplit
  let count: Int
  private(set) var tasks: [TaskRecord] = []
  private var seen: Set<String> = []
  private var draws = 0

  init(family: String, split: TaskSplit, count: Int) throws {
    guard count >= 0 else {
      throw HindcastError(.invalidInput, "task count must be non-negative; got \(count)")
    }
    self.family = family
    self.split = split
    self.count = count
  }

  var isDone: Bool { tasks.count >= count }

  /// Draw budget: generous, but bounded so that an exhausted task space ends with an error.
  var mayDrawMore: Bool { draws < 200 * count + 10_000 }

  /// Offers a drawn task identified by its content key. Keeps it if it is of the wanted split
  /// and new.
  mutating func offer(key: String, make: () -> TaskRecord) {
    draws += 1
    guard SplitAssignment.split(family: family, key: key) == split, !seen.contains(key) else { return }
    seen.insert(key)
    tasks.append(make())
  }

  /// The tasks, or an error saying the space ran out.
  func finish(difficulty: TaskDifficulty) throws -> [TaskRecord] {
    guard isDone else {
      throw HindcastError(
        .invalidInput,
        "found only \(tasks.count) distinct \(split.rawValue) \(family) tasks at levels "
          + "\(difficulty.levels.lowerBound)...\(difficulty.levels.upperBound); \(count) were asked for",
        hint: "ask for fewer tasks or allow higher difficulty levels")
    }
    return tasks
  }
}

/// Looks families up by name. Built-in families need no options; `exec` needs its tasks file
/// and checker command.
public struct TaskFamilyRegistry: Sendable {
  /// Every family name, in the order help texts list them.
  public static let names = ["arith", "arith-plain", "listdsl", "exec"]

  private let exec: ExecFamily?

  /// The lowest difficulty level of the family called `name`, for checking a spec before the
  /// family is built: the built-in family's own `levels`, or 1 for exec (its levels come from
  /// its tasks file) and unknown names (the spec reader rejects those itself).
  public static func lowestLevel(of name: String) -> Int {
    (try? TaskFamilyRegistry().family(named: name))?.levels.lowerBound ?? 1
  }

  /// `exec` is the configured exec family, if the caller has one.
  public init(exec: ExecFamily? = nil) { self.exec = exec }

  /// The family called `name`. Throws a `HindcastError` listing the valid names when there is
  /// none, or saying what `exec` needs when it is not configured.
  public func family(named name: String) throws -> any TaskFamily {
    switch name {
    case "arith": return ArithFamily()
    case "arith-plain": return ArithFamily(format: .plain)
    case "listdsl": return ListDSLFamily()
    case "exec":
      guard let exec else {
        throw HindcastError(
          .invalidInput, "family 'exec' needs a tasks file and a checker command",
          hint: "pass --tasks-file FILE.jsonl and --checker 'COMMAND ARGS'")
      }
      return exec
    default:
      throw HindcastError(
        .invalidInput, "unknown task family '\(name)'",
        hint: "valid families: \(Self.names.joined(separator: ", "))")
    }
  }
}
