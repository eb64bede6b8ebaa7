import Foundation
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Turns a sandboxed checker run into an `ExecutionResult`, validating the checker's JSON.
enum CheckerOutput {
  /// Longest feedback kept from a checker (SDPO caps code feedback at 2000 characters too).
  static let maxFeedbackBytes = 2000

  static func interpret(_ outcome: SandboxOutcome, attempt: String) -> ExecutionResult {
    if case .launchFailed(let step, let code) = outcome.termination {
      let reason = String(cString: strerror(code))
      return infrastructure(.checkerError, "cannot run checker (\(step): \(reason))")
    }
    if let violation = outcome.violation {
      let kind: ExecutionKind
      switch violation {
      case .wallTime, .cpuTime: kind = .timeLimit
      case .memory: kind = .memoryLimit
      case .output: kind = .outputLimit
      case .fileSize: kind = .fileSizeLimit
      case .processes: kind = .processLimit
      }
      return ExecutionResult(
        passed: false, score: 0, kind: kind, feedback: outcome.describe(violation),
        details: ExecutionDetails(message: outcome.describe(violation)))
    }
    switch outcome.termination {
    case .signaled(let signal):
      return infrastructure(
        .checkerCrash, "checker crashed (\(signalName(signal)))\(lastLine(outcome.stderr))")
    case .exited(let code) where code != 0:
      return infrastructure(.checkerError, "checker exited with status \(code)\(lastLine(outcome.stderr))")
    default:
      break
    }
    return parse(outcome.stdout, attemptLength: attempt.utf8.count)
  }

  /// Validates the checker's stdout: exactly one JSON object with `passed` and `feedback`.
  static func parse(_ stdout: [UInt8], attemptLength: Int) -> ExecutionResult {
    let value: JSONValue
    do {
      value = try JSONValue.parse(stdout)
    } catch {
      let start = FeedbackText.clip(bytes: stdout[...], limit: 40)
      return invalid(stdout.isEmpty ? "no output" : "not JSON (starts \"\(start)\")")
    }
    guard let object = value.objectValue else { return invalid("expected a JSON object") }
    guard let passed = object["passed"]?.boolValue else { return invalid("missing boolean 'passed'") }
    guard let feedbackValue = object["feedback"], let feedback = feedbackValue.stringValue else {
      return invalid("missing string 'feedback'")
    }
    var score = passed ? 1.0 : 0.0
    if let field = object["score"], field != .null {
      guard let number = field.doubleValue, (0...1).contains(number) else {
        return invalid("'score' must be a number in 0...1")
      }
      score = number
    }
    var kind: ExecutionKind = passed ? .pass : .failingTest
    if !passed, let field = object["kind"], field != .null {
      guard let name = field.stringValue, let parsed = ExecutionKind(rawValue: name), parsed != .pass else {
        return invalid(
          "'kind' must be one of \(ExecutionKind.allCases.dropFirst().map(\.rawValue).joined(separator: ", "))"
        )
      }
      kind = parsed
    }
    var errorOffset: Int?
    if let field = object["error_offset"], field != .null {
      guard let offset = field.intValue, offset >= 0 else {
        return invalid("'error_offset' must be a non-negative integer")
      }
      errorOffset = min(offset, attemptLength)
    }
    if let field = object["location"], field != .null, field.stringValue == nil {
      return invalid("'location' must be a string")
    }
    let text = cap(feedback.isEmpty && !passed ? "failed" : feedback)
    if passed {
      return ExecutionResult(passed: true, score: 1, kind: .pass, feedback: text.isEmpty ? "passed" : text)
    }
    return ExecutionResult(
      passed: false, score: score, kind: kind, feedback: text, errorOffset: errorOffset,
      details: ExecutionDetails(
        position: errorOffset, location: object["location"]?.stringValue, checker: value))
  }

  private static func invalid(_ reason: String) -> ExecutionResult {
    infrastructure(.checkerError, "invalid checker output: \(reason)")
  }

  private static func infrastructure(_ kind: ExecutionKind, _ message: String) -> ExecutionResult {
    ExecutionResult(
      passed: false, score: 0, kind: kind, feedback: message, details: ExecutionDetails(message: message))
  }

  /// ": LAST STDERR LINE" (clipped), or "" when stderr is empty.
  private static func lastLine(_ stderr: [UInt8]) -> String {
    let text = String(decoding: stderr.suffix(2048), as: UTF8.self)
    guard let line = text.split(whereSeparator: \.isNewline).last(where: { !$0.allSatisfy(\.isWhitespace) })
    else {
      return ""
    }
    return ": " + FeedbackText.clip(String(line), limit: 120)
  }

  /// Cuts text to `maxFeedbackBytes` on a character boundary, keeping newlines.
  static func cap(_ text: String) -> String {
    guard text.utf8.count > maxFeedbackBytes else { return text }
    var result = ""
    var used = 0
    for character in text {
      let size = character.utf8.count
      if used + size > maxFeedbackBytes - 3 { break }
      result.append(character)
      used += size
    }
    return result + "..."
  }
}

/// Generic flaws for source text.
enum ExecFlaws {
  static func draw(_ solution: String, rng: inout SeededRandom) -> String {
    guard !solution.isEmpty else { return "" }
    var lines = solution.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let swaps: [(String, String)] = [
      (" + ", " - "), (" - ", " + "), (" < ", " <= "), (" <= ", " < "), (" > ", " >= "), (" >= ", " > "),
      (" == ", " != "), (" != ", " == "), (" and ", " or "), (" or ", " and "), ("True", "False"),
      ("False", "True"), ("[0]", "[1]"), ("[-1]", "[0]"),
    ]
    switch rng.nextInt(below: 4) {
    case 0 where lines.count > 1:
      lines.removeLast(1 + rng.nextInt(below: max(1, lines.count / 2)))
      return lines.joined(separator: "\n")
    case 1 where lines.count > 2:
      lines.remove(at: 1 + rng.nextInt(below: lines.count - 1))
      return lines.joined(separator: "\n")
    case 2:
      let start = rng.nextInt(below: swaps.count)
      for offset in 0..<swaps.count {
        let (from, to) = swaps[(start + offset) % swaps.count]
        if let changed = solution.replacingFirst(from, with: to) { return changed }
      }
      fallthrough
    default:
      let digits = solution.indices.filter { solution[$0].isASCIIDigitCharacter }
      if !digits.isEmpty {
        let index = digits[rng.nextInt(below: digits.count)]
        let value = Int(String(solution[index])) ?? 0
        return solution.replacingCharacters(in: index...index, with: String((value + 1) % 10))
      }
      return String(solution.dropLast(max(1, solution.count / 3)))
    }
  }
}
