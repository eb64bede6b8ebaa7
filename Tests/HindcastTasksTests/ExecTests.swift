import Foundation
import HindcastSupport
import Testing

@testable import HindcastTasks

/// Paths of the worked example in data/exec and scratch files for hostile checkers.
enum ExecFixtures {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
  static let tasksFile = repository.appendingPathComponent("data/exec/tasks.jsonl").path
  static let checker = repository.appendingPathComponent("data/exec/check_python.py").path

  /// A fresh directory for one test's files.
  static func scratch() throws -> String {
    let path = NSTemporaryDirectory() + "hindcast-exec-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  static func write(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }
}

@Suite struct ExecPythonCheckerTests {
  let family: ExecFamily

  init() throws {
    family = try ExecFamily(
      tasksFile: ExecFixtures.tasksFile, checkerCommand: ["python3", ExecFixtures.checker],
      limits: SandboxLimits(wallSeconds: 20, cpuSeconds: 10, memoryBytes: 1 << 30))
  }

  @Test func everyCanonicalSolutionPasses() throws {
    #expect(family.tasks.count == 10)
    for task in family.tasks {
      #expect(task.hasCanonical)
      let result = family.execute(task: task, attempt: task.canonical)
      #expect(result.passed, "\(task.id): \(result.feedback)")
      #expect(family.critique(task: task, attempt: task.canonical, result: result).cause == "pass")
    }
  }

  @Test func aChatReplyRunsItsFirstFencedBlockWithOffsetsInTheReply() throws {
    let task = try family.task(id: "py-add")
    let right = "Here is the function:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds."
    #expect(family.execute(task: task, attempt: right).passed)
    let reply = "Sure!\n```python\ndef add(a, b):\n    return a / 0\n```\n"
    let runtime = family.execute(task: task, attempt: reply)
    #expect(runtime.kind == .runtimeError)
    // Line 2 of the block: "Sure!\n```python\n" (16 bytes) + "def add(a, b):\n" (15) + 4 spaces.
    #expect(runtime.errorOffset == 35)
    #expect(Array(reply.utf8)[35] == UInt8(ascii: "r"))
    // Prose without a fence is run as code, as before: a syntax error.
    #expect(
      family.execute(task: task, attempt: "Here's a function: def add(a,b): return a+b").kind == .parseError)
  }

  @Test func wrongAttemptsGetLocatedFeedback() throws {
    let task = try family.task(id: "py-add")
    let syntax = "def add(a, b):\n    return a +\n"
    let parse = family.execute(task: task, attempt: syntax)
    #expect(parse.kind == .parseError)
    #expect(parse.feedback.contains("line 2"))
    #expect(parse.errorOffset.map { $0 >= 15 && $0 <= syntax.utf8.count } == true)
    #expect(family.critique(task: task, attempt: syntax, result: parse).cause == "syntax-error")

    let crash = "def add(a, b):\n    return a / 0\n"
    let runtime = family.execute(task: task, attempt: crash)
    #expect(runtime.kind == .runtimeError)
    #expect(runtime.feedback == "test 1: add(1, 2) raised ZeroDivisionError: division by zero (line 2)")
    #expect(runtime.errorOffset == 19)  // the first non-blank character of line 2
    #expect(family.critique(task: task, attempt: crash, result: runtime).cause == "zero-division-error")

    let wrong = "def add(a, b):\n    return a - b\n"
    let failing = family.execute(task: task, attempt: wrong)
    #expect(failing.kind == .failingTest)
    #expect(failing.feedback == "test 1: add(1, 2) returned -1, expected 3")
    #expect(failing.feedbackText(level: .location) == "test 1: add(1, 2) returned -1")
    #expect(failing.feedbackText(level: .bare) == "wrong")
    #expect(failing.score == 0)
    #expect(family.critique(task: task, attempt: wrong, result: failing).cause == "wrong-result")
    let none = "def add(a, b):\n    a + b\n"
    #expect(
      family.critique(task: task, attempt: none, result: family.execute(task: task, attempt: none)).cause
        == "missing-return")

    let noisy = "print('noise')\ndef add(a, b):\n    print('more noise')\n    return a + b\n"
    #expect(family.execute(task: task, attempt: noisy).passed)
  }

  @Test func malformedAttemptsAreHandled() throws {
    let task = try family.task(id: "py-reverse")
    let empty = family.execute(task: task, attempt: "")
    #expect(empty.kind == .runtimeError && empty.feedback.contains("does not define reverse()"))
    #expect(family.critique(task: task, attempt: "", result: empty).cause == "empty-attempt")
    let binary = String(decoding: [0x00, 0xFF, 0x64, 0x65, 0x66], as: UTF8.self)
    #expect(family.execute(task: task, attempt: binary).kind == .parseError)
    let unbalanced = "def reverse(s):\n    return (s[::-1]\n"
    #expect(family.execute(task: task, attempt: unbalanced).kind == .parseError)
    let huge = String(repeating: "x = 1\n", count: 180_000)  // about 1 MB
    let hugeResult = family.execute(task: task, attempt: huge)
    #expect(!hugeResult.passed && !hugeResult.kind.isInfrastructureFailure)
    #expect(hugeResult.feedback.utf8.count <= CheckerOutput.maxFeedbackBytes)
  }

  @Test func slowAttemptGetsThePerTestTimeout() throws {
    let directory = try ExecFixtures.scratch()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let file = directory + "/tasks.jsonl"
    try ExecFixtures.write(
      #"{"id": "loop", "prompt": "f", "entry_point": "f", "timeout_seconds": 0.2, "tests": [{"args": [], "expected": 1}]}"#,
      to: file)
    let family = try ExecFamily(tasksFile: file, checkerCommand: ["python3", ExecFixtures.checker])
    let attempt = "def f():\n    while True:\n        pass\n"
    let result = family.execute(task: family.tasks[0], attempt: attempt)
    #expect(result.kind == .timeLimit)
    #expect(result.feedback == "test 1: f() timed out after 0.2 s")
    #expect(family.critique(task: family.tasks[0], attempt: attempt, result: result).cause == "time-limit")
  }

  @Test func splitsAndSelection() throws {
    let test = family.tasks.filter { $0.split == .test }.map(\.id)
    #expect(Set(test).isSuperset(of: ["py-fib", "py-sum-digits", "py-palindrome"]))
    #expect(family.tasks.first { $0.id == "py-fizzbuzz" }?.split == .validation)
    let chosen = try family.generate(
      split: .test, count: test.count, seed: 1, difficulty: TaskDifficulty(levels: family.levels))
    #expect(Set(chosen.map(\.id)) == Set(test))
    // The file's split field decides; the three splits never share a task.
    let bySplit = Dictionary(grouping: family.tasks, by: \.split).mapValues { Set($0.map(\.id)) }
    for a in TaskSplit.allCases {
      for b in TaskSplit.allCases where a != b {
        #expect(bySplit[a, default: []].isDisjoint(with: bySplit[b, default: []]))
      }
    }
    #expect(throws: HindcastError.self) {
      try family.generate(
        split: .test, count: 50, seed: 1, difficulty: TaskDifficulty(levels: family.levels))
    }
    let easy = try family.generate(split: .train, count: 3, seed: 2, difficulty: TaskDifficulty(level: 1))
    #expect(easy.allSatisfy { $0.features.contains("level:1") })
  }

  @Test func flawsChangeTheSolution() throws {
    var rng = SeededRandom(seed: 9)
    for task in family.tasks {
      #expect(family.flaw(solution: task.canonical, task: task, rng: &rng) != task.canonical)
    }
  }
}

@Suite struct ExecHostileCheckerTests {
  let limits = SandboxLimits(
    wallSeconds: 2, cpuSeconds: 2, memoryBytes: 256 << 20, fileSizeBytes: 1 << 20, maxProcesses: 16,
    maxOutputBytes: 64 << 10)

  /// An exec family whose checker is the Python program `code`.
  func family(checker code: String) throws -> (ExecFamily, String) {
    let directory = try ExecFixtures.scratch()
    try ExecFixtures.write(#"{"id": "t1", "prompt": "p"}"#, to: directory + "/tasks.jsonl")
    try ExecFixtures.write(code, to: directory + "/checker.py")
    let family = try ExecFamily(
      tasksFile: directory + "/tasks.jsonl", checkerCommand: ["python3", directory + "/checker.py"],
      limits: limits)
    return (family, directory)
  }

  func outcome(checker code: String, attempt: String = "x") throws -> ExecutionResult {
    let (family, directory) = try family(checker: code)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return family.execute(task: family.tasks[0], attempt: attempt)
  }

  @Test func hostileCheckersYieldErrorRecordsNamingTheCause() throws {
    let cases: [(String, ExecutionKind, String)] = [
      ("print('not json at all')", .checkerError, "invalid checker output: not JSON"),
      ("print('[1, 2]')", .checkerError, "invalid checker output: expected a JSON object"),
      ("print('{\"feedback\": \"x\"}')", .checkerError, "invalid checker output: missing boolean 'passed'"),
      ("print('{\"passed\": false, \"feedback\": \"x\", \"score\": 7}')", .checkerError, "'score' must be"),
      (
        "import sys\nsys.stderr.write('boom\\n')\nsys.exit(3)", .checkerError,
        "checker exited with status 3: boom"
      ),
      ("import ctypes\nctypes.string_at(0)", .checkerCrash, "checker crashed (SIGSEGV)"),
      ("import os\nos.abort()", .checkerCrash, "checker crashed (SIGABRT)"),
      ("import time\nwhile True: time.sleep(1)", .timeLimit, "time limit exceeded (wall 2 s)"),
      (
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass",
        .timeLimit, "time limit exceeded"
      ),
      (
        "chunks = []\nwhile True: chunks.append(bytearray(8 << 20))", .memoryLimit,
        "memory limit exceeded (256 MiB)"
      ),
      ("import sys\nwhile True: sys.stdout.write('x' * 4096)", .outputLimit, "output limit exceeded"),
      (
        "import os, time\nfor _ in range(100):\n    if os.fork() == 0:\n        time.sleep(30)\n        os._exit(0)\ntime.sleep(30)",
        .processLimit, "process limit exceeded"
      ),
      ("open('big', 'wb').write(bytes(4 << 20))", .fileSizeLimit, "file size limit exceeded"),
    ]
    for (code, kind, feedback) in cases {
      let result = try outcome(checker: code)
      #expect(!result.passed)
      #expect(result.kind == kind, "\(code): \(result.feedback)")
      #expect(result.feedback.contains(feedback), "\(code): \(result.feedback)")
    }
  }

  @Test func validCheckerOutputIsPassedThrough() throws {
    let code = """
      import json, sys
      request = json.load(sys.stdin)
      ok = request["attempt"] == "right"
      print(json.dumps({"passed": ok, "score": 0.25, "feedback": "line 1 is off", "kind": "runtime-error",
                        "error_offset": 3, "location": "line 1",
                        "critique": {"text": "off by one", "cause": "off-by-one", "hint": "count again"},
                        "details": {"task_id": request["task"]["id"]}}))
      """
    let (family, directory) = try family(checker: code)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let task = family.tasks[0]
    #expect(family.execute(task: task, attempt: "right").passed)
    let result = family.execute(task: task, attempt: "wrong")
    #expect(result.kind == .runtimeError && result.score == 0.25 && result.errorOffset == 3)
    #expect(result.feedbackText(level: .location) == "line 1")
    #expect(result.details.checker?["details"]?["task_id"] == .string("t1"))
    let critique = family.critique(task: task, attempt: "wrong", result: result)
    #expect(critique == Critique(text: "off by one", cause: "off-by-one", hint: "count again"))
  }

  @Test func identicalAttemptsAreCached() throws {
    let directory = try ExecFixtures.scratch()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let counter = directory + "/calls.txt"
    let code = """
      import json, sys
      open(sys.argv[1], 'a').write('call\\n')
      print(json.dumps({"passed": False, "feedback": "no"}))
      """
    try ExecFixtures.write(#"{"id": "t1", "prompt": "p"}"#, to: directory + "/tasks.jsonl")
    try ExecFixtures.write(code, to: directory + "/checker.py")
    // The checker counts its calls in a file outside its working directory, which a sealed
    // sandbox forbids (SandboxSealTests): this test is about the cache, so it runs unsealed.
    var unsealed = limits
    unsealed.sealFileSystem = false
    let family = try ExecFamily(
      tasksFile: directory + "/tasks.jsonl", checkerCommand: ["python3", directory + "/checker.py", counter],
      limits: unsealed)
    let task = family.tasks[0]
    let first = family.execute(task: task, attempt: "a")
    let second = family.execute(task: task, attempt: "a")
    _ = family.execute(task: task, attempt: "b")
    #expect(first == second)
    let calls = try String(contentsOfFile: counter, encoding: .utf8).split(separator: "\n").count
    #expect(calls == 2)
  }
}

@Suite struct ExecBadInputTests {
  func loadError(_ contents: String) throws -> HindcastError? {
    let directory = try ExecFixtures.scratch()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let file = directory + "/tasks.jsonl"
    try ExecFixtures.write(contents, to: file)
    do {
      _ = try ExecFamily(tasksFile: file, checkerCommand: ["python3", ExecFixtures.checker])
      return nil
    } catch let error as HindcastError {
      #expect(error.location?.hasPrefix(file) == true)
      return error
    }
  }

  @Test func malformedFilesNameFileAndLine() throws {
    let good = #"{"id": "a", "prompt": "p"}"#
    let notJSON = try #require(try loadError(good + "\n{\"id\": \"b\", \"prompt\": \n"))
    #expect(notJSON.location?.hasSuffix("tasks.jsonl:2") == true)
    #expect(notJSON.message.contains("not valid JSON"))
    let missing = try #require(try loadError("\n" + #"{"id": "a"}"#))
    #expect(missing.location?.hasSuffix(":2") == true)
    #expect(missing.message == "missing field 'prompt'")
    let wrongType = try #require(try loadError(#"{"id": 7, "prompt": "p"}"#))
    #expect(wrongType.message == "field 'id' must be a string")
    let duplicate = try #require(try loadError(good + "\n" + good))
    #expect(duplicate.message.contains("duplicate task id 'a' (first on line 1)"))
    #expect(duplicate.location?.hasSuffix(":2") == true)
    let oldSplit = try #require(try loadError(#"{"id": "a", "prompt": "p", "split": "held-out"}"#))
    #expect(oldSplit.message.contains("replaced by \"validation\" and \"test\""))
    #expect(oldSplit.location?.hasSuffix(":1") == true)
    let badSplit = try #require(try loadError(#"{"id": "a", "prompt": "p", "split": "dev"}"#))
    #expect(badSplit.message.contains("\"train\", \"validation\", \"test\""))
    let array = try #require(try loadError("[1, 2]"))
    #expect(array.message == "expected a JSON object")
    let split = try #require(try loadError(#"{"id": "a", "prompt": "p", "split": "holdout"}"#))
    #expect(split.message.contains("split"))
    #expect(try loadError("") != nil)
  }

  @Test func missingFilesAndCommandsAreClearErrors() throws {
    do {
      _ = try ExecFamily(tasksFile: "/nonexistent/tasks.jsonl", checkerCommand: ["python3"])
      Issue.record("expected an error")
    } catch let error as HindcastError {
      #expect(error.code == .missingFile && error.location == "/nonexistent/tasks.jsonl")
    }
    do {
      _ = try ExecFamily(tasksFile: ExecFixtures.tasksFile, checkerCommand: ["no-such-checker-hindcast"])
      Issue.record("expected an error")
    } catch let error as HindcastError {
      #expect(error.code == .missingPrerequisite && error.message.contains("no-such-checker-hindcast"))
    }
    do {
      _ = try ExecFamily(
        tasksFile: ExecFixtures.tasksFile, checkerCommand: ["python3", "missing_checker.py"])
      Issue.record("expected an error")
    } catch let error as HindcastError {
      #expect(error.code == .missingFile && error.message.contains("missing_checker.py"))
    }
  }

  @Test func commandLinesSplitLikeAShell() throws {
    #expect(try CheckerCommandLine.split("python3 check.py") == ["python3", "check.py"])
    #expect(try CheckerCommandLine.split(#"sh -c 'echo "a b"' x\ y"#) == ["sh", "-c", #"echo "a b""#, "x y"])
    #expect(throws: HindcastError.self) { try CheckerCommandLine.split("python3 'unclosed") }
    #expect(throws: HindcastError.self) { try CheckerCommandLine.split("   ") }
  }
}
