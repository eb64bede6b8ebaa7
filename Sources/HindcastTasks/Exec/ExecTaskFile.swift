import Foundation
import HindcastSupport

/// Loads exec tasks from a user's JSON-lines file: one object per line with `id` (string,
/// unique), `prompt` (string), and optionally `canonical` (string), `split` ("train",
/// "validation" or "test"; otherwise assigned by a hash of the id), `level` (integer difficulty) and
/// `features` (array of strings). The whole object is the task's payload and is what the checker
/// receives. Blank lines are skipped. Every error names `file:line`.
public enum ExecTaskFile {
  public static func load(_ path: String) throws -> [TaskRecord] {
    guard FileManager.default.fileExists(atPath: path) else {
      throw HindcastError(
        .missingFile, "exec tasks file not found", location: path,
        hint: "pass an existing JSON-lines file with --tasks-file")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw HindcastError(.ioFailure, "cannot read exec tasks file", location: path)
    }
    var tasks: [TaskRecord] = []
    var lineOfID: [String: Int] = [:]
    var lineNumber = 0
    for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
      lineNumber += 1
      var bytes = Array(line)
      if bytes.last == 0x0D { bytes.removeLast() }
      if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
      let location = HindcastError.at(path, line: lineNumber)
      let task = try parseLine(bytes, location: location)
      if let first = lineOfID[task.id] {
        throw HindcastError(
          .invalidInput, "duplicate task id '\(task.id)' (first on line \(first))", location: location,
          hint: "every task needs its own id")
      }
      lineOfID[task.id] = lineNumber
      tasks.append(task)
    }
    if tasks.isEmpty {
      throw HindcastError(
        .invalidInput, "exec tasks file has no tasks", location: path, hint: "write one JSON object per line")
    }
    return tasks
  }

  /// Parses one line into a task; `location` is `file:line` for errors.
  static func parseLine(_ bytes: [UInt8], location: String) throws -> TaskRecord {
    let value = try JSONValue.parse(bytes, location: location)
    guard let object = value.objectValue else {
      throw HindcastError(
        .invalidInput, "expected a JSON object", location: location, hint: "one task object per line")
    }
    func requiredString(_ key: String) throws -> String {
      guard let field = object[key] else {
        throw HindcastError(
          .invalidInput, "missing field '\(key)'", location: location,
          hint: "every task needs \"id\" and \"prompt\" strings")
      }
      guard let text = field.stringValue else {
        throw HindcastError(.invalidInput, "field '\(key)' must be a string", location: location)
      }
      return text
    }
    let id = try requiredString("id")
    guard !id.isEmpty, !id.contains(where: { $0.isNewline }) else {
      throw HindcastError(
        .invalidInput, "field 'id' must be a non-empty single-line string", location: location)
    }
    let prompt = try requiredString("prompt")
    var canonical = ""
    if let field = object["canonical"], field != .null {
      guard let text = field.stringValue else {
        throw HindcastError(.invalidInput, "field 'canonical' must be a string", location: location)
      }
      canonical = text
    }
    var split = SplitAssignment.split(family: "exec", key: id)
    if let field = object["split"], field != .null {
      guard let name = field.stringValue else {
        throw HindcastError(
          .invalidInput, "field 'split' must be \"train\", \"validation\" or \"test\"", location: location)
      }
      split = try TaskSplit.parse(name, location: location)
    }
    var features: [String] = []
    if let field = object["features"], field != .null {
      guard let items = field.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
        throw HindcastError(.invalidInput, "field 'features' must be an array of strings", location: location)
      }
      features = items.compactMap(\.stringValue)
    }
    if let field = object["level"], field != .null {
      guard let level = field.intValue, (0...100).contains(level) else {
        throw HindcastError(.invalidInput, "field 'level' must be an integer in 0...100", location: location)
      }
      features.append("level:\(level)")
    }
    return TaskRecord(
      id: id, family: "exec", split: split, prompt: prompt, canonical: canonical, payload: value,
      features: features)
  }
}

/// Splits a command line the way a shell would for simple cases: words separated by spaces,
/// single quotes keep text literally, double quotes keep spaces, a backslash escapes one
/// character. No variables, globs or pipes.
public enum CheckerCommandLine {
  public static func split(_ text: String) throws -> [String] {
    var words: [String] = []
    var current = ""
    var inWord = false
    var quote: Character?
    var escaping = false
    for character in text {
      if escaping {
        current.append(character)
        escaping = false
        continue
      }
      if let open = quote {
        if character == open {
          quote = nil
        } else if character == "\\" && open == "\"" {
          escaping = true
        } else {
          current.append(character)
        }
        continue
      }
      switch character {
      case "\\":
        escaping = true
        inWord = true
      case "'", "\"":
        quote = character
        inWord = true
      case " ", "\t", "\n":
        if inWord { words.append(current) }
        current = ""
        inWord = false
      default:
        current.append(character)
        inWord = true
      }
    }
    if quote != nil || escaping {
      throw HindcastError(
        .invalidInput, "checker command has an unclosed quote or a trailing backslash: \(text)")
    }
    if inWord { words.append(current) }
    if words.isEmpty {
      throw HindcastError(
        .invalidInput, "checker command is empty", hint: "for example --checker 'python3 check.py'")
    }
    return words
  }

  /// Resolves `command` for running in a fresh directory: the program becomes an absolute path
  /// (searched in PATH), and arguments that name existing files relative to the current
  /// directory become absolute real paths (symbolic links resolved, so a script reached through a
  /// link under /tmp stays visible in the sandbox's sealed view, where /tmp is private). Throws
  /// if the program does not exist.
  public static func resolve(_ command: [String]) throws -> [String] {
    guard let program = command.first else {
      throw HindcastError(.invalidInput, "checker command is empty")
    }
    guard let path = Sandbox.resolveExecutable(program) else {
      throw HindcastError(
        .missingPrerequisite, "checker command '\(program)' not found or not executable",
        hint: program.contains("/")
          ? "check the path and its execute permission" : "install it or put it on PATH")
    }
    let directory = FileManager.default.currentDirectoryPath
    let scriptExtensions = [".py", ".sh", ".js", ".rb", ".pl", ".lua", ".jl", ".r", ".R"]
    for argument in command.dropFirst()
    where scriptExtensions.contains(where: { argument.hasSuffix($0) }) && !argument.hasPrefix("-") {
      let absolute = argument.hasPrefix("/") ? argument : directory + "/" + argument
      if !FileManager.default.fileExists(atPath: absolute) {
        throw HindcastError(
          .missingFile, "checker script '\(argument)' not found", location: absolute,
          hint: "paths in the checker command are relative to the current directory")
      }
    }
    let arguments = command.dropFirst().map { argument -> String in
      guard !argument.hasPrefix("/"), !argument.hasPrefix("-"), !argument.isEmpty,
        FileManager.default.fileExists(atPath: directory + "/" + argument)
      else { return argument }
      return Sandbox.absolute(argument)
    }
    return [path] + arguments
  }
}
