import ArgumentParser
import Foundation
import HindcastStorage
import HindcastSupport
import HindcastTasks

/// `hindcast check`: run one attempt against one task and print the feedback and critique.
public struct CheckCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Run one attempt against one task; print the execution feedback and the critique.",
    discussion: """
      Pick the task with --task-json (one TaskRecord as JSON), --tasks FILE --task-id ID (a file \
      written by `hindcast tasks generate`), --task-id ID alone for exec (the tasks file), or \
      --prompt for arith and arith-plain (e.g. 47+85). Exits 0 whether or not the attempt passes; 1 on bad input.
      """)

  public init() {}

  @OptionGroup var familyOptions: FamilyOptions

  @Option(help: "The task as one JSON object (a line of `hindcast tasks generate`).")
  var taskJSON: String?

  @Option(help: "A JSON-lines file of tasks to look --task-id up in.")
  var tasks: String?

  @Option(help: "The task id (in --tasks, or in the exec tasks file).")
  var taskID: String?

  @Option(help: "arith: the problem itself, e.g. 47+85.")
  var prompt: String?

  @Option(help: "The attempt text.")
  var attempt: String?

  @Option(help: "Read the attempt from this file (exact bytes).")
  var attemptFile: String?

  @Flag(help: "Check the task's canonical solution.")
  var canonical = false

  @Option(help: "Feedback detail to print: full, location or bare.")
  var level: FeedbackLevel = .full

  @Flag(help: "Print the result and critique as one JSON object.")
  var json = false

  public func validate() throws {
    let sources = [taskJSON != nil, tasks != nil, prompt != nil, taskID != nil && tasks == nil]
    if sources.filter({ $0 }).count != 1 {
      throw ValidationError(
        "pick the task with exactly one of --task-json, --tasks with --task-id, --task-id, --prompt")
    }
    if tasks != nil && taskID == nil { throw ValidationError("--tasks needs --task-id") }
    if taskID != nil && tasks == nil && familyOptions.family != "exec" {
      throw ValidationError("--task-id alone works for exec; for other families add --tasks FILE")
    }
    if [attempt != nil, attemptFile != nil, canonical].filter({ $0 }).count != 1 {
      throw ValidationError("give exactly one of --attempt, --attempt-file, --canonical")
    }
  }

  public func run() throws {
    let family = try familyOptions.makeFamily()
    let task = try resolveTask(family)
    try family.validate(task: task)
    let text: String
    if let attempt {
      text = attempt
    } else if let attemptFile {
      text = String(decoding: try AtomicFile.read(attemptFile), as: UTF8.self)
    } else {
      guard task.hasCanonical else {
        throw HindcastError(.invalidInput, "task '\(task.id)' has no canonical solution")
      }
      text = task.canonical
    }
    let report = CheckReport(family: family, task: task, attempt: text, level: level)
    if json { try report.printJSON() } else { report.printText() }
  }

  private func resolveTask(_ family: any TaskFamily) throws -> TaskRecord {
    if let taskJSON {
      do {
        return try JSONDecoder().decode(TaskRecord.self, from: Data(taskJSON.utf8))
      } catch {
        throw HindcastError(
          .invalidInput, "--task-json is not a task record: \(JSONLines.describe(error))",
          hint: "pass one line of `hindcast tasks generate`")
      }
    }
    if let prompt {
      guard let arith = family as? ArithFamily else {
        throw HindcastError(
          .invalidInput, "--prompt only works for arith and arith-plain; got --family \(family.name)",
          hint: "pick a task of this family with --tasks FILE --task-id ID")
      }
      return try arith.task(prompt: prompt)
    }
    if let tasks, let taskID {
      let records = try JSONLines.decode(TaskRecord.self, from: tasks)
      guard let task = records.first(where: { $0.id == taskID }) else {
        throw HindcastError(.invalidInput, "no task '\(taskID)' in \(records.count) tasks", location: tasks)
      }
      return task
    }
    if let taskID, let exec = family as? ExecFamily { return try exec.task(id: taskID) }
    throw ValidationError("no task given")
  }
}

/// Executes one attempt and prints what the pipeline would store: result and critique.
struct CheckReport {
  let task: TaskRecord
  let attempt: String
  let level: FeedbackLevel
  let result: ExecutionResult
  let critique: Critique

  init(family: any TaskFamily, task: TaskRecord, attempt: String, level: FeedbackLevel) {
    self.task = task
    self.attempt = attempt
    self.level = level
    result = family.execute(task: task, attempt: attempt)
    critique = family.critique(task: task, attempt: attempt, result: result)
  }

  func printText() {
    func row(_ label: String, _ value: String) {
      print(label.padding(toLength: 10, withPad: " ", startingAt: 0) + value)
    }
    row("task", "\(task.id) (\(task.split.rawValue))")
    row("prompt", task.prompt.replacingOccurrences(of: "\n", with: "\\n"))
    row(
      "attempt",
      attempt.count > 300 ? String(attempt.prefix(300)) + "... (\(attempt.utf8.count) bytes)" : attempt)
    var summary = "\(result.kind.rawValue)  score \(String(format: "%.2f", result.score))"
    if let offset = result.errorOffset { summary += "  error offset \(offset)" }
    row("result", summary)
    row("feedback", result.feedbackText(level: level))
    row("critique", "\(critique.text)  [\(critique.cause)]")
    if let hint = critique.hint { row("hint", hint) }
  }

  func printJSON() throws {
    struct Output: Encodable {
      var taskID: String
      var result: ExecutionResult
      var feedback: String
      var critique: Critique
      enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case result, feedback, critique
      }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let output = Output(
      taskID: task.id, result: result, feedback: result.feedbackText(level: level), critique: critique)
    print(String(decoding: try encoder.encode(output), as: UTF8.self))
  }
}
