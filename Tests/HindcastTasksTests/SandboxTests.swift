import Foundation
import Testing

@testable import HindcastTasks

#if canImport(Glibc)
  import Glibc
#endif

/// Hostile and broken commands: each must end with the right cause, within its limit, and leave
/// nothing running.
@Suite struct SandboxTests {
  let quick = SandboxLimits(
    wallSeconds: 5, cpuSeconds: 3, memoryBytes: 512 << 20, fileSizeBytes: 1 << 20, maxProcesses: 16,
    maxOutputBytes: 64 << 10)

  func python(_ code: String, _ extra: [String] = []) -> [String] { ["python3", "-c", code] + extra }

  /// True if some live process has `marker` in its command line.
  func processWithMarkerExists(_ marker: String) -> Bool {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return false }
    for name in names where name.first?.isNumber == true {
      guard let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { continue }
      if String(decoding: data, as: UTF8.self).contains(marker) { return true }
    }
    return false
  }

  func expectNothingLeft(_ outcome: SandboxOutcome) {
    #expect(outcome.session > 0)
    #expect(Sandbox.liveProcesses(inSession: outcome.session) == 0)
  }

  @Test func echoesStdinAndExitsCleanly() {
    let input = Array("hello sandbox\n".utf8)
    let outcome = Sandbox.run(command: ["cat"], stdin: input, limits: quick)
    #expect(outcome.termination == .exited(code: 0))
    #expect(outcome.stdout == input)
    #expect(outcome.violation == nil)
    expectNothingLeft(outcome)
  }

  @Test func concurrentRunsKeepTheirOwnPipes() {
    // Below the 64 KiB output cap, above the 64 KiB pipe buffer of stdin.
    let inputs = (0..<8).map {
      Array("run \($0) ".utf8) + [UInt8](repeating: UInt8(0x61 + $0), count: 60_000)
    }
    let outputs = ConcurrentResults(count: inputs.count)
    DispatchQueue.concurrentPerform(iterations: inputs.count) { index in
      let outcome = Sandbox.run(command: ["cat"], stdin: inputs[index], limits: quick)
      outputs.set(index, outcome.stdout, outcome.termination)
    }
    for index in inputs.indices {
      let (stdout, termination) = outputs.get(index)
      #expect(termination == .exited(code: 0))
      #expect(stdout == inputs[index], "run \(index): \(stdout.count) bytes, \(termination)")
    }
  }

  @Test func emptyCommandFailsToLaunch() {
    guard case .launchFailed = Sandbox.run(command: [], stdin: [], limits: quick).termination else {
      Issue.record("expected a launch failure")
      return
    }
  }

  @Test func commandThatIgnoresLargeStdinDoesNotKillTheCaller() {
    let input = [UInt8](repeating: 0x61, count: 4 << 20)
    let outcome = Sandbox.run(command: ["true"], stdin: input, limits: quick)
    #expect(outcome.termination == .exited(code: 0))
  }

  @Test func infiniteLoopHitsTheWallClock() {
    var limits = quick
    limits.wallSeconds = 0.5
    limits.cpuSeconds = nil
    let outcome = Sandbox.run(command: ["sh", "-c", "while :; do :; done"], stdin: [], limits: limits)
    #expect(outcome.termination == .killed(.wallTime))
    #expect(outcome.violation == .wallTime)
    #expect(outcome.describe(.wallTime).contains("time limit exceeded"))
    expectNothingLeft(outcome)
  }

  @Test func busyLoopIgnoringSignalsHitsTheCPULimit() {
    var limits = quick
    limits.cpuSeconds = 1
    limits.wallSeconds = 20
    let code = """
      import signal
      signal.signal(signal.SIGTERM, signal.SIG_IGN)
      signal.signal(signal.SIGXCPU, signal.SIG_IGN)
      while True: pass
      """
    let outcome = Sandbox.run(command: python(code), stdin: [], limits: limits)
    #expect(outcome.termination == .signaled(signal: SIGKILL))
    #expect(outcome.violation == .cpuTime)
    expectNothingLeft(outcome)
  }

  @Test func memoryHogHitsTheMemoryLimit() {
    let code = "chunks = []\nwhile True: chunks.append(bytearray(16 << 20))"
    var limits = quick
    limits.memoryBytes = 256 << 20
    let outcome = Sandbox.run(command: python(code), stdin: [], limits: limits)
    #expect(outcome.violation == .memory)
    #expect(outcome.describe(.memory).contains("memory limit"))
    expectNothingLeft(outcome)
  }

  @Test func boundedForkLoopHitsTheProcessLimitAndLeavesNothing() {
    let marker = "hindcast-fork-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let code = """
      import os, time
      for _ in range(200):
          if os.fork() == 0:
              time.sleep(60)
              os._exit(0)
      time.sleep(60)
      """
    let outcome = Sandbox.run(command: python(code, [marker]), stdin: [], limits: quick)
    #expect(outcome.violation == .processes)
    #expect(outcome.maxProcessesSeen > 0 || outcome.termination != .killed(.processes))
    expectNothingLeft(outcome)
    #expect(!processWithMarkerExists(marker))
  }

  @Test func exponentialForkTreeIsStoppedEarly() {
    // Every process forks again, 11 levels deep: up to 2048 processes if nothing stopped it.
    let marker = "hindcast-fork-tree-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let code =
      "import os, time\nfor _ in range(11):\n    try:\n        os.fork()\n    except OSError:\n        pass\ntime.sleep(60)"
    let outcome = Sandbox.run(command: python(code, [marker]), stdin: [], limits: quick)
    #expect(outcome.violation == .processes)
    // How many processes exist before the watchdog (polling every 10 ms) acts depends on the
    // machine's load, so only the outcome is asserted: the limit is named and nothing survives.
    expectNothingLeft(outcome)
    #expect(!processWithMarkerExists(marker))
  }

  @Test func processThatLeavesTheSessionDiesWithTheSandbox() {
    let marker = "hindcast-escape-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let code = """
      import os, sys, time
      if os.fork() == 0:
          os.setsid()
          time.sleep(60)
          os._exit(0)
      time.sleep(0.2)
      print("parent done")
      """
    let outcome = Sandbox.run(command: python(code, [marker]), stdin: [], limits: quick)
    #expect(outcome.termination == .exited(code: 0))
    if outcome.isolation.processes {
      #expect(!processWithMarkerExists(marker))
    }
  }

  @Test func gigabytesOfOutputHitTheOutputLimit() {
    let code = "import sys\nblock = 'x' * 65536\nwhile True: sys.stdout.write(block)"
    let outcome = Sandbox.run(command: python(code), stdin: [], limits: quick)
    #expect(outcome.termination == .killed(.output))
    #expect(outcome.stdout.count == quick.maxOutputBytes)
    #expect(outcome.stdoutOverflowed)
    expectNothingLeft(outcome)
  }

  @Test func floodOnStderrAlsoHitsTheOutputLimit() {
    let outcome = Sandbox.run(
      command: ["sh", "-c", "yes error >&2"], stdin: [], limits: quick)
    #expect(outcome.violation == .output)
    #expect(outcome.describe(.output).contains("stderr"))
  }

  @Test func nonZeroExitIsReported() {
    let outcome = Sandbox.run(command: ["sh", "-c", "echo oops >&2; exit 3"], stdin: [], limits: quick)
    #expect(outcome.termination == .exited(code: 3))
    #expect(String(decoding: outcome.stderr, as: UTF8.self) == "oops\n")
    #expect(outcome.violation == nil)
  }

  @Test func crashesAreReportedWithTheirSignal() {
    let segfault = Sandbox.run(
      command: python("import ctypes\nctypes.string_at(0)"), stdin: [], limits: quick)
    #expect(segfault.termination == .signaled(signal: SIGSEGV))
    let abort = Sandbox.run(command: python("import os\nos.abort()"), stdin: [], limits: quick)
    #expect(abort.termination == .signaled(signal: SIGABRT))
    #expect(segfault.violation == nil && abort.violation == nil)
  }

  @Test func missingCommandFailsToLaunch() {
    let outcome = Sandbox.run(command: ["/nonexistent/checker"], stdin: [], limits: quick)
    guard case .launchFailed(let step, _) = outcome.termination else {
      Issue.record("expected a launch failure, got \(outcome.termination)")
      return
    }
    #expect(step == "exec")
    #expect(Sandbox.resolveExecutable("no-such-program-hindcast") == nil)
    #expect(Sandbox.resolveExecutable("sh") != nil)
  }

  @Test func runsInAFreshDirectoryThatIsRemovedAfterwards() throws {
    let code =
      "import os\nopen('scratch.txt', 'w').write('x')\nos.mkdir('sub')\nos.chmod('sub', 0)\nprint(os.getcwd())"
    let outcome = Sandbox.run(command: python(code), stdin: [], limits: quick)
    #expect(outcome.termination == .exited(code: 0))
    let directory = String(decoding: outcome.stdout, as: UTF8.self).trimmingCharacters(
      in: .whitespacesAndNewlines)
    #expect(directory.contains("hindcast-sandbox-"))
    #expect(!FileManager.default.fileExists(atPath: directory))
  }

  @Test func largeFilesHitTheFileSizeLimit() {
    let shell = Sandbox.run(
      command: ["sh", "-c", "head -c 4000000 /dev/zero > big"], stdin: [], limits: quick)
    #expect(shell.violation == .fileSize)
    let python = Sandbox.run(
      command: python("open('big', 'wb').write(bytes(4 << 20))"), stdin: [], limits: quick)
    #expect(python.violation == .fileSize)
  }

  @Test func networkIsUnreachableWhenIsolated() {
    let code = """
      import socket
      try:
          socket.create_connection(("1.1.1.1", 53), timeout=1)
          print("connected")
      except OSError:
          print("no network")
      """
    let outcome = Sandbox.run(command: python(code), stdin: [], limits: quick)
    if outcome.isolation.network {
      #expect(String(decoding: outcome.stdout, as: UTF8.self) == "no network\n")
    }
  }
}

/// A lock-protected array for results written from concurrent closures.
final class ConcurrentResults: @unchecked Sendable {
  private let lock = NSLock()
  private var values: [([UInt8], SandboxOutcome.Termination)]

  init(count: Int) { values = Array(repeating: ([], .exited(code: -1)), count: count) }

  func set(_ index: Int, _ value: [UInt8], _ termination: SandboxOutcome.Termination) {
    lock.lock()
    values[index] = (value, termination)
    lock.unlock()
  }

  func get(_ index: Int) -> ([UInt8], SandboxOutcome.Termination) {
    lock.lock()
    defer { lock.unlock() }
    return values[index]
  }
}
