import Foundation
import HindcastSupport

/// Tasks from a user's JSON-lines file, checked by the user's command in the sandbox.
///
/// Protocol (docs/exec-protocol.md): the checker reads one JSON object
/// `{"task": TASK_OBJECT, "attempt": TEXT}` on stdin and writes one JSON object on stdout:
/// `{"passed": bool, "feedback": string, "score"?: 0...1, "kind"?: string, "error_offset"?: int,
/// "location"?: string, "critique"?: {"text", "cause", "hint"?}, "details"?: any}`.
///
/// Thread-safe. Results are cached by a hash of (task id, attempt), except wall-clock timeouts,
/// which depend on machine load.
public struct ExecFamily: TaskFamily {
  public let name = "exec"
  /// Levels come from the tasks' optional `level` field; tasks without one match any level.
  public let levels = 0...100
  /// Every task in the file, in file order.
  public let tasks: [TaskRecord]
  /// The resolved checker command (absolute program path first).
  public let checkerCommand: [String]
  public let limits: SandboxLimits
  /// Paths the checker must not see (the run directory); covered when the file system is sealed.
  public let hiddenPaths: [String]
  private let cache: ExecResultCache

  /// Loads and validates `tasksFile` and resolves `checkerCommand`. Throws `HindcastError`
  /// naming `file:line` for a malformed file, or the command if it does not exist.
  public init(
    tasksFile: String, checkerCommand: [String], limits: SandboxLimits = .standard,
    hiddenPaths: [String] = [],
    cacheCapacity: Int = 4096
  ) throws {
    try limits.validate()
    self.hiddenPaths = hiddenPaths
    self.tasks = try ExecTaskFile.load(tasksFile)
    self.checkerCommand = try CheckerCommandLine.resolve(checkerCommand)
    self.limits = limits
    self.cache = ExecResultCache(capacity: cacheCapacity)
  }

  public var critic: any Critic { ExecCritic() }

  /// The task with `id`, or an error listing how many tasks there are.
  public func task(id: String) throws -> TaskRecord {
    guard let task = tasks.first(where: { $0.id == id }) else {
      throw HindcastError(
        .invalidInput, "no exec task with id '\(id)' (the file has \(tasks.count) tasks)",
        hint: "list them with `hindcast tasks list --family exec`")
    }
    return task
  }

  public func generate(split: TaskSplit, count: Int, seed: UInt64, difficulty: TaskDifficulty) throws
    -> [TaskRecord]
  {
    try difficulty.validate(for: name, supported: levels)
    let matching = tasks.filter { task in
      guard task.split == split else { return false }
      guard
        let level = task.features.last(where: { $0.hasPrefix("level:") }).flatMap({ Int($0.dropFirst(6)) })
      else { return true }
      return difficulty.levels.contains(level)
    }
    guard count >= 0, count <= matching.count else {
      throw HindcastError(
        .invalidInput,
        "the exec tasks file has \(matching.count) \(split.rawValue) tasks at this difficulty; \(count) were asked for",
        hint:
          "ask for at most \(matching.count), or add tasks (a task's split comes from its \"split\" field or a hash of its id)"
      )
    }
    var rng = SeededRandom(seed: SeedDerivation.derive(seed, labels: [name, split.rawValue]))
    var chosen = matching
    for index in stride(from: chosen.count - 1, to: 0, by: -1) {
      chosen.swapAt(index, rng.nextInt(below: index + 1))
    }
    return Array(chosen.prefix(count))
  }

  public func validate(task: TaskRecord) throws {
    try requireOwnTask(task)
    guard task.payload.objectValue != nil else {
      throw HindcastError(.invalidInput, "exec task '\(task.id)' needs an object payload")
    }
  }

  public func execute(task: TaskRecord, attempt: String) -> ExecutionResult {
    let key = ExecResultCache.key(taskID: task.id, attempt: attempt)
    if let cached = cache.result(for: key) { return cached }
    let request = JSONValue.object(["task": task.payload, "attempt": .string(attempt)])
    let outcome = Sandbox.run(
      command: checkerCommand, stdin: Array(request.canonicalText.utf8), limits: limits,
      hiddenPaths: hiddenPaths)
    let result = CheckerOutput.interpret(outcome, attempt: attempt)
    if outcome.violation != .wallTime { cache.store(result, for: key) }
    return result
  }

  /// What the sandbox grants this family's checkers on this machine (a probe that runs nothing).
  public func probeIsolation() -> SandboxIsolation {
    Sandbox.probeIsolation(limits: limits, hiddenPaths: hiddenPaths)
  }

  /// Generic edits of source text (no execution, so the result may occasionally still pass):
  /// drop trailing lines, delete a line, flip an operator or a boolean, change a number by one.
  public func flaw(solution: String, task: TaskRecord, rng: inout SeededRandom) -> String {
    ExecFlaws.draw(solution, rng: &rng)
  }
}

/// Thread-safe cache of exec results keyed by two independent 64-bit stable hashes of
/// (task id, attempt). Evicts the oldest entries beyond `capacity`.
final class ExecResultCache: @unchecked Sendable {
  struct Key: Hashable {
    var first: UInt64
    var second: UInt64
  }

  private let lock = NSLock()
  private let capacity: Int
  private var results: [Key: ExecutionResult] = [:]
  private var order: [Key] = []

  init(capacity: Int) { self.capacity = max(0, capacity) }

  static func key(taskID: String, attempt: String) -> Key {
    let id = Array(taskID.utf8)
    let text = Array(attempt.utf8)
    let lengths = Array("\(id.count):\(text.count)".utf8)
    return Key(
      first: StableHash.fnv1a64(bytes: lengths + [0] + id + [0] + text),
      second: StableHash.fnv1a64(bytes: [1] + text + [0] + id + [0] + lengths))
  }

  func result(for key: Key) -> ExecutionResult? {
    lock.lock()
    defer { lock.unlock() }
    return results[key]
  }

  func store(_ result: ExecutionResult, for key: Key) {
    guard capacity > 0 else { return }
    lock.lock()
    defer { lock.unlock() }
    if results.updateValue(result, forKey: key) == nil { order.append(key) }
    if order.count > capacity {
      let evicted = order.count - capacity
      for old in order.prefix(evicted) { results.removeValue(forKey: old) }
      order.removeFirst(evicted)
    }
  }

  var count: Int {
    lock.lock()
    defer { lock.unlock() }
    return results.count
  }
}
