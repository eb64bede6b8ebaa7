import HindcastSupport

/// What kind of outcome an execution had. Stable strings: they are stored in shards.
public enum ExecutionKind: String, Codable, Sendable, CaseIterable {
  case pass
  /// arith: a scratchpad step (or a missing/extra one) differs from the correct step.
  case wrongStep = "wrong-step"
  /// arith: every step is right but the final answer is not.
  case wrongAnswer = "wrong-answer"
  /// The attempt does not follow the family's format or grammar.
  case parseError = "parse-error"
  /// listdsl/exec: the program failed while running (e.g. take 3 on a 2-element list).
  case runtimeError = "runtime-error"
  /// listdsl/exec: the program ran but a test's output is wrong.
  case failingTest = "failing-test"
  /// listdsl: the interpreter's step budget ran out.
  case stepLimit = "step-limit"
  /// exec: wall-clock or CPU time limit of the sandbox.
  case timeLimit = "time-limit"
  case memoryLimit = "memory-limit"
  case outputLimit = "output-limit"
  case fileSizeLimit = "file-size-limit"
  case processLimit = "process-limit"
  /// exec: the checker crashed (killed by a signal).
  case checkerCrash = "checker-crash"
  /// exec: the checker could not run, exited non-zero, or wrote invalid output; or the task's
  /// payload is unusable. Not the attempt's fault.
  case checkerError = "checker-error"

  /// True for outcomes that say nothing about the attempt (broken checker or task).
  public var isInfrastructureFailure: Bool {
    self == .checkerError || self == .checkerCrash
  }
}

/// How much of the feedback to show, for ablations: the correct value (full), only where the
/// error is (location), or only that the attempt is wrong (bare).
public enum FeedbackLevel: String, Codable, Sendable, CaseIterable {
  case full
  case location
  case bare
}

/// Structured facts about the first located error. Which fields are set depends on the kind.
public struct ExecutionDetails: Codable, Sendable, Equatable {
  /// arith: 1-based index of the first wrong step.
  public var step: Int?
  /// listdsl/exec: 1-based index of the first failing test (visible examples come first).
  public var test: Int?
  /// listdsl: "example" or "test" (hidden), for the test index.
  public var testSet: String?
  /// UTF-8 byte offset of the error in the attempt (same as `ExecutionResult.errorOffset`).
  public var position: Int?
  /// What the attempt wrote at the error (arith step text, wrong token).
  public var written: String?
  /// The correct value at the error (arith step text, listdsl wanted output).
  public var expected: String?
  /// The test input.
  public var input: String?
  /// What the attempt produced on the test.
  public var got: String?
  /// A short message: the parse or runtime error, the limit that was hit.
  public var message: String?
  /// exec: where the error is, as the checker phrased it, without the correct value; arith-plain:
  /// which digit of the answer is wrong.
  public var location: String?
  /// exec: the checker's own structured details, passed through.
  public var checker: JSONValue?

  public init(
    step: Int? = nil, test: Int? = nil, testSet: String? = nil, position: Int? = nil,
    written: String? = nil, expected: String? = nil, input: String? = nil, got: String? = nil,
    message: String? = nil, location: String? = nil, checker: JSONValue? = nil
  ) {
    self.step = step
    self.test = test
    self.testSet = testSet
    self.position = position
    self.written = written
    self.expected = expected
    self.input = input
    self.got = got
    self.message = message
    self.location = location
    self.checker = checker
  }

  enum CodingKeys: String, CodingKey {
    case step, test, position, written, expected, input, got, message, location, checker
    case testSet = "test_set"
  }
}

/// The outcome of executing one attempt at one task. Deterministic for the built-in families.
public struct ExecutionResult: Codable, Sendable, Equatable {
  public var passed: Bool
  /// Partial credit in 0...1 (1 when passed): fraction of steps or tests right before failing.
  public var score: Double
  public var kind: ExecutionKind
  /// The raw execution feedback at full detail, concise (arith/listdsl: at most
  /// `ExecutionResult.maxFeedbackBytes` bytes, printable ASCII).
  public var feedback: String
  /// UTF-8 byte offset in the attempt of the first located error (the distillation loss may be
  /// masked after it); nil when the error has no location.
  public var errorOffset: Int?
  public var details: ExecutionDetails

  /// Upper bound on `feedback` for the built-in families, which feed a ~192-256 byte context.
  public static let maxFeedbackBytes = 150

  public init(
    passed: Bool, score: Double, kind: ExecutionKind, feedback: String, errorOffset: Int? = nil,
    details: ExecutionDetails = ExecutionDetails()
  ) {
    self.passed = passed
    self.score = min(1, max(0, score))
    self.kind = kind
    self.feedback = feedback
    self.errorOffset = errorOffset
    self.details = details
  }

  enum CodingKeys: String, CodingKey {
    case passed, score, kind, feedback, details
    case errorOffset = "error_offset"
  }

  /// A passing result with the conventional feedback text.
  public static func pass(feedback: String = "passed") -> ExecutionResult {
    ExecutionResult(passed: true, score: 1, kind: .pass, feedback: feedback)
  }

  /// The feedback at `level`: `full` is `feedback`; `location` names where the error is but not
  /// the correct value; `bare` says only "wrong". A pass reads "passed" at every level.
  public func feedbackText(level: FeedbackLevel) -> String {
    if passed { return "passed" }
    switch level {
    case .full: return feedback
    case .bare: return "wrong"
    case .location: return locationText()
    }
  }

  private func locationText() -> String {
    let written = details.written.map { ": wrote \($0)" } ?? (details.message.map { ": \($0)" } ?? "")
    switch kind {
    case .wrongStep:
      return "step \(details.step ?? 0) is wrong\(written)"
    case .wrongAnswer:
      if let location = details.location { return location }
      return "the answer is wrong\(written)"
    case .parseError, .runtimeError:
      let name = kind == .parseError ? "parse error" : "runtime error"
      if let location = details.location { return location }
      if let position = details.position { return "\(name) at \(position)" }
      return name
    case .failingTest:
      if let location = details.location { return location }
      guard let test = details.test else { return "a test fails" }
      var text = "\(details.testSet ?? "test") \(test) fails"
      if let input = details.input { text += ": in \(input)" }
      if let got = details.got { text += " got \(got)" }
      return text
    case .pass, .stepLimit, .timeLimit, .memoryLimit, .outputLimit, .fileSizeLimit, .processLimit,
      .checkerCrash, .checkerError:
      // Nothing here reveals a correct value.
      return feedback
    }
  }
}

/// Helpers to keep feedback short and printable whatever the attempt contains.
enum FeedbackText {
  /// Printable ASCII only (other bytes become '?'), at most `limit` bytes with "..." when cut.
  static func clip(_ text: String, limit: Int = 24) -> String {
    var bytes = Array(text.utf8).map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }
    if bytes.count > limit {
      bytes = Array(bytes.prefix(max(0, limit - 3))) + Array("...".utf8)
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Same as `clip` for a byte slice.
  static func clip(bytes: ArraySlice<UInt8>, limit: Int = 24) -> String {
    clip(String(decoding: bytes.prefix(limit * 4), as: UTF8.self), limit: limit)
  }

  /// Cuts a whole feedback line to `ExecutionResult.maxFeedbackBytes`.
  static func bounded(_ text: String) -> String {
    clip(text, limit: ExecutionResult.maxFeedbackBytes)
  }
}
