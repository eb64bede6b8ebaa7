import HindcastSupport
import HindcastTasks

/// Cross-key and shape checks of a pipeline spec that a plain range cannot express. Each one
/// mirrors a check a stage would otherwise make at run time, so that a spec the reader accepts
/// never fails later because of a value in it.
enum SpecChecks {
  /// The task families `TaskFamilyRegistry` knows.
  static let families = TaskFamilyRegistry.names
  /// The shortest student prompt (`<task>` and `<answer>`): `rollout.max_tokens` must leave room
  /// for it inside the model's context.
  static let shortestPrompt = 2
  /// The longest run name.
  static let longestName = 128

  /// A run name becomes a directory under `runs/`: one path component of letters, digits, `.`,
  /// `_`, `-` and `+` (experiment runs are named after arms such as `sdpo+sft`), not starting
  /// with a dot (so `..`, `/` and hidden names are impossible).
  static func runName(_ name: String, reader: SpecReader) throws {
    let bytes = Array(name.utf8)
    let allowed = bytes.allSatisfy { c in
      (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45 || c == 46
        || c == 43
    }
    guard !bytes.isEmpty, bytes.count <= longestName, allowed, bytes.first != UInt8(ascii: ".") else {
      throw reader.invalid(
        "name",
        "must be 1...\(longestName) letters, digits, '.', '_', '-' or '+' and not start with '.'"
          + " (it names the directory runs/NAME), got '\(name)'")
    }
  }

  /// The exec family needs its tasks file and a checker command of non-empty words.
  static func exec(_ tasks: PipelineSpec.Tasks, reader: SpecReader) throws {
    guard tasks.family == "exec" else { return }
    guard let file = tasks.execTasks, !file.isEmpty else {
      throw reader.invalid("tasks.exec_tasks", "must name the tasks file when tasks.family is 'exec'")
    }
    guard !tasks.execChecker.isEmpty, !tasks.execChecker.contains(where: \.isEmpty) else {
      throw reader.invalid(
        "tasks.exec_checker", "must be a non-empty array of non-empty strings when tasks.family is 'exec'")
    }
  }
}
