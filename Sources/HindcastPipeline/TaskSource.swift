import HindcastSupport
import HindcastTasks

/// The tasks of a run: a fresh train set per round, one fixed validation set (every choice is made
/// on it) and one fixed test set (only ever reported).
///
/// Train tasks of round r come from `SeedDerivation.derive(runSeed, [r, trainLabel])`; the
/// validation and test sets use fixed seeds independent of the run seed, so every arm and seed of
/// an experiment is evaluated on the same tasks. The split assignment of the tasks module keeps
/// the three disjoint.
public struct TaskSource {
  public let family: any TaskFamily
  public let spec: PipelineSpec
  static let trainLabel: UInt64 = 0x7472_6169_6E
  static let pretrainLabel: UInt64 = 0x7072_6574
  /// Fixed seed of the test set (shared by all runs of a family and difficulty).
  public static let testSeed: UInt64 = 20_261_125
  /// Fixed seed of the validation set.
  public static let validationSeed: UInt64 = 20_261_203

  public init(spec: PipelineSpec) throws {
    self.spec = spec
    var exec: ExecFamily?
    if spec.tasks.family == "exec" {
      guard let file = spec.tasks.execTasks, !spec.tasks.execChecker.isEmpty else {
        throw HindcastError(
          .invalidConfig, "family 'exec' needs tasks.exec_tasks and tasks.exec_checker in the spec")
      }
      exec = try ExecFamily(tasksFile: file, checkerCommand: spec.tasks.execChecker)
    }
    family = try TaskFamilyRegistry(exec: exec).family(named: spec.tasks.family)
  }

  var difficulty: TaskDifficulty { TaskDifficulty(levels: family.levels.lowerBound...spec.tasks.difficulty) }

  /// The training tasks of `round`, in a fixed order.
  public func train(round: Int) throws -> [TaskRecord] {
    try family.generate(
      split: .train, count: spec.tasks.trainPerRound,
      seed: SeedDerivation.derive(spec.seed, [UInt64(round), Self.trainLabel]), difficulty: difficulty)
  }

  /// The validation tasks (`tasks.validation` of them), in a fixed order.
  public func validation() throws -> [TaskRecord] {
    try family.generate(
      split: .validation, count: spec.tasks.validation, seed: Self.validationSeed, difficulty: difficulty)
  }

  /// The test tasks (`tasks.test` of them), in a fixed order.
  public func test() throws -> [TaskRecord] {
    try family.generate(split: .test, count: spec.tasks.test, seed: Self.testSeed, difficulty: difficulty)
  }

  /// The tasks of `split` that evaluations use (`validation()` or `test()`; train has none).
  public func evaluation(_ split: TaskSplit) throws -> [TaskRecord] {
    split == .validation ? try validation() : try test()
  }

  /// The test tasks: the former held-out set, kept under this name for `hindcast gap`.
  public func heldOut() throws -> [TaskRecord] { try test() }

  /// Tasks for the pretraining corpus (train split, independent of the rounds' tasks).
  public func pretraining(count: Int) throws -> [TaskRecord] {
    try family.generate(
      split: .train, count: count, seed: SeedDerivation.derive(spec.seed, [Self.pretrainLabel]),
      difficulty: difficulty)
  }

  /// The slice of `tasks` that shard `shard` covers.
  public func shardSlice<T>(_ tasks: [T], shard: Int) -> ArraySlice<T> {
    let size = spec.tasks.tasksPerShard
    let start = min(tasks.count, shard * size)
    return tasks[start..<min(tasks.count, start + size)]
  }

  public func shardCount(taskCount: Int) -> Int {
    (taskCount + spec.tasks.tasksPerShard - 1) / spec.tasks.tasksPerShard
  }
}
