import CSandbox
import Foundation
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// A limit the sandboxed command ran into.
public enum SandboxViolation: String, Codable, Sendable, Equatable {
  case wallTime = "wall-time"
  case cpuTime = "cpu-time"
  case memory
  case output
  case fileSize = "file-size"
  case processes
}

/// What happened to one sandboxed command. Every process it started is dead and reaped by the
/// time an outcome exists, and its working directory has been removed.
public struct SandboxOutcome: Sendable {
  public enum Termination: Sendable, Equatable {
    /// The command exited by itself with this status.
    case exited(code: Int32)
    /// The command was ended by a signal it did not choose to catch (a crash, or RLIMIT_CPU).
    case signaled(signal: Int32)
    /// The sandbox killed it at a limit the caller watches (wall time, output, processes).
    case killed(SandboxViolation)
    /// The command could not be started; `step` names what failed ("exec", "chdir", ...).
    case launchFailed(step: String, errno: Int32)
  }

  public var termination: Termination
  /// Standard output, at most `limits.maxOutputBytes` bytes.
  public var stdout: [UInt8]
  /// Standard error, at most `limits.maxOutputBytes` bytes.
  public var stderr: [UInt8]
  public var stdoutOverflowed: Bool
  public var stderrOverflowed: Bool
  /// Wall-clock seconds from fork to the end of the run (measurement only; never cached).
  public var wallSeconds: Double
  /// User + system CPU seconds of the command and the children it waited for.
  public var cpuSeconds: Double
  /// Peak resident set size of the largest process, in bytes.
  public var peakMemoryBytes: Int
  /// The largest number of live processes the watchdog saw (0 if it was not running).
  public var maxProcessesSeen: Int
  public var isolation: SandboxIsolation
  /// Session and process-group id of the sandbox in host numbering (for inspection and tests).
  public var session: Int32
  /// The limits the run had.
  public var limits: SandboxLimits

  /// The limit the command most likely hit, or nil if it ended for another reason. Limits the
  /// kernel enforces by failing a call (memory, fork) are recognised from the exit and the
  /// error text; see docs/exec-protocol.md.
  public var violation: SandboxViolation? {
    let errorText = String(decoding: stderr.suffix(4096), as: UTF8.self)
    switch termination {
    case .killed(let violation):
      return violation
    case .launchFailed:
      return nil
    case .signaled(let signal):
      if signal == SIGXCPU { return .cpuTime }
      if signal == SIGXFSZ { return .fileSize }
      if signal == SIGKILL, let limit = limits.cpuSeconds, cpuSeconds >= Double(limit) - 0.05 {
        return .cpuTime
      }
      return heuristicViolation(errorText)
    case .exited(let code):
      // A shell reports a child killed by signal N as status 128+N.
      if code == 128 + SIGXFSZ { return .fileSize }
      if code == 128 + SIGXCPU { return .cpuTime }
      return code == 0 ? nil : heuristicViolation(errorText)
    }
  }

  private func heuristicViolation(_ errorText: String) -> SandboxViolation? {
    if errorText.contains("File too large") { return .fileSize }
    let memoryMarkers = [
      "MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory", "Out of memory",
    ]
    if memoryMarkers.contains(where: { errorText.contains($0) }) { return .memory }
    if let limit = limits.memoryBytes, Double(peakMemoryBytes) >= 0.9 * Double(limit) { return .memory }
    if limits.maxProcesses != nil && errorText.contains("Resource temporarily unavailable") {
      return .processes
    }
    return nil
  }

  /// A short human description of the violation, e.g. "time limit exceeded (wall 10 s)".
  public func describe(_ violation: SandboxViolation) -> String {
    switch violation {
    case .wallTime: return "time limit exceeded (wall \(Self.seconds(limits.wallSeconds)) s)"
    case .cpuTime: return "time limit exceeded (cpu \(limits.cpuSeconds.map(String.init) ?? "?") s)"
    case .memory: return "memory limit exceeded (\(Self.mebibytes(limits.memoryBytes)))"
    case .output:
      let stream = stderrOverflowed && !stdoutOverflowed ? "stderr" : "stdout"
      return "output limit exceeded (more than \(limits.maxOutputBytes) bytes on \(stream))"
    case .fileSize: return "file size limit exceeded (\(Self.mebibytes(limits.fileSizeBytes)))"
    case .processes:
      return "process limit exceeded (more than \(limits.maxProcesses.map(String.init) ?? "?") processes)"
    }
  }

  private static func seconds(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
  }

  private static func mebibytes(_ bytes: Int?) -> String {
    guard let bytes else { return "no limit" }
    return bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
  }
}

/// Runs untrusted commands (external checkers) under limits. See docs/exec-protocol.md.
///
/// Thread-safe: concurrent runs are independent. Each run gets a fresh temporary working
/// directory (removed afterwards), its own session and process group, rlimits, and where the
/// machine allows, private user, network and PID namespaces. The environment is inherited, with
/// `TMPDIR` pointing at the working directory.
public enum Sandbox {
  /// Runs `command` (argv; `command[0]` is looked up in `PATH` unless it contains a slash) with
  /// `stdin` as its standard input. Never throws: a command that cannot start is reported as
  /// `.launchFailed`. Blocks the calling thread until every process of the run is gone.
  /// `hiddenPaths` (absolute) are covered by empty file systems for the command when the file
  /// system is sealed (`limits.sealFileSystem`): pass the run directory.
  public static func run(
    command: [String], stdin: [UInt8], limits: SandboxLimits, hiddenPaths: [String] = []
  ) -> SandboxOutcome {
    guard let program = command.first, let path = resolveExecutable(program) else {
      return notStarted(limits: limits)
    }
    return launch(path: path, command: command, stdin: stdin, limits: limits, hiddenPaths: hiddenPaths)
  }

  /// What this machine grants a sandboxed command with `limits` and `hiddenPaths`: sets a sandbox
  /// up exactly as `run` would, then exits instead of running anything.
  public static func probeIsolation(limits: SandboxLimits = .standard, hiddenPaths: [String] = [])
    -> SandboxIsolation
  {
    launch(path: nil, command: [], stdin: [], limits: limits, hiddenPaths: hiddenPaths).isolation
  }

  private static func launch(
    path: String?, command: [String], stdin: [UInt8], limits: SandboxLimits, hiddenPaths: [String]
  ) -> SandboxOutcome {
    var outcome = notStarted(limits: limits)
    guard let workdir = makeWorkingDirectory() else {
      outcome.termination = .launchFailed(step: "workdir", errno: errno)
      return outcome
    }
    defer { _ = csandbox_remove_tree(workdir) }

    var environment = ProcessInfo.processInfo.environment
    environment["TMPDIR"] = workdir
    let argv = command.map { strdup($0) } + [nil]
    let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }

    var cLimits = csandbox_limits(
      wall_millis: Int64(max(1, (limits.wallSeconds * 1000).rounded(.up))),
      cpu_seconds: Int64(limits.cpuSeconds ?? -1), memory_bytes: Int64(limits.memoryBytes ?? -1),
      file_size_bytes: Int64(limits.fileSizeBytes ?? -1),
      max_processes: Int64(limits.maxProcesses ?? -1),
      max_output_bytes: Int64(max(1, limits.maxOutputBytes)),
      isolate_network: limits.isolateNetwork ? 1 : 0,
      isolate_processes: limits.isolateProcesses ? 1 : 0, seal_filesystem: limits.sealFileSystem ? 1 : 0,
      tmp_bytes: Int64(limits.privateTmpBytes), hidden_paths: nil, hidden_count: 0, exposed_paths: nil,
      exposed_count: 0)
    let hidden = hiddenPaths.map { UnsafePointer(strdup(Self.absolute($0))) }
    // The program and every argument that names an existing absolute path (a script, a data
    // file) stay visible in the sealed view even when they live under /tmp.
    let exposedNames = ([path].compactMap { $0 } + command.dropFirst()).filter {
      $0.hasPrefix("/") && FileManager.default.fileExists(atPath: $0)
    }
    let exposed = exposedNames.map { UnsafePointer(strdup(Self.absolute($0))) }
    defer {
      for pointer in hidden + exposed { free(UnsafeMutablePointer(mutating: pointer)) }
    }
    var result = csandbox_result()
    stdin.withUnsafeBufferPointer { input in
      argv.withUnsafeBufferPointer { argvBuffer in
        envp.withUnsafeBufferPointer { envpBuffer in
          hidden.withUnsafeBufferPointer { hiddenBuffer in
            exposed.withUnsafeBufferPointer { exposedBuffer in
              cLimits.hidden_paths = hiddenBuffer.baseAddress
              cLimits.hidden_count = Int32(hiddenBuffer.count)
              cLimits.exposed_paths = exposedBuffer.baseAddress
              cLimits.exposed_count = Int32(exposedBuffer.count)
              _ = csandbox_run(
                path, argvBuffer.baseAddress, envpBuffer.baseAddress, workdir, input.baseAddress,
                input.count, &cLimits, &result)
            }
          }
        }
      }
    }
    defer { csandbox_result_free(&result) }

    outcome.stdout = copy(result.out, result.out_len)
    outcome.stderr = copy(result.err, result.err_len)
    outcome.stdoutOverflowed = result.out_overflow != 0
    outcome.stderrOverflowed = result.err_overflow != 0
    outcome.wallSeconds = Double(result.wall_micros) / 1e6
    outcome.cpuSeconds = Double(result.cpu_micros) / 1e6
    outcome.peakMemoryBytes = Int(result.max_rss_bytes)
    outcome.maxProcessesSeen = Int(result.max_processes_seen)
    outcome.session = result.session
    outcome.isolation = SandboxIsolation(bits: Int(result.isolation))
    outcome.termination = termination(of: result)
    return outcome
  }

  /// An outcome for a command that was not started (no such executable, until told otherwise).
  private static func notStarted(limits: SandboxLimits) -> SandboxOutcome {
    SandboxOutcome(
      termination: .launchFailed(step: "exec", errno: ENOENT), stdout: [], stderr: [],
      stdoutOverflowed: false, stderrOverflowed: false, wallSeconds: 0, cpuSeconds: 0,
      peakMemoryBytes: 0, maxProcessesSeen: 0, isolation: SandboxIsolation(bits: 0), session: 0,
      limits: limits)
  }

  private static func termination(of result: csandbox_result) -> SandboxOutcome.Termination {
    switch Int(result.kill_reason) {
    case CSANDBOX_KILL_WALL: return .killed(.wallTime)
    case CSANDBOX_KILL_STDOUT, CSANDBOX_KILL_STDERR: return .killed(.output)
    case CSANDBOX_KILL_PROCESSES: return .killed(.processes)
    default: break
    }
    if Int(result.launch_step) != CSANDBOX_STEP_NONE {
      let steps: [Int: String] = [
        CSANDBOX_STEP_PIPE: "pipe", CSANDBOX_STEP_FORK: "fork", CSANDBOX_STEP_CHDIR: "chdir",
        CSANDBOX_STEP_RLIMIT: "rlimit", CSANDBOX_STEP_EXEC: "exec", CSANDBOX_STEP_LOST: "lost",
        CSANDBOX_STEP_SEAL: "seal",
      ]
      return .launchFailed(step: steps[Int(result.launch_step)] ?? "unknown", errno: result.launch_errno)
    }
    if result.signal != 0 { return .signaled(signal: result.signal) }
    return .exited(code: result.exit_code)
  }

  private static func copy(_ pointer: UnsafeMutablePointer<UInt8>?, _ count: Int) -> [UInt8] {
    guard let pointer, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
  }

  /// A fresh directory under `$TMPDIR` (or /tmp), as a path without symbolic links: the sealed
  /// view mounts it back at exactly this path.
  private static func makeWorkingDirectory() -> String? {
    let root = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array((absolute(root) + "/hindcast-sandbox-XXXXXX").utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer -> String? in
      guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
      return String(cString: base)
    }
  }

  /// `path` made absolute and, where it exists, free of symbolic links.
  static func absolute(_ path: String) -> String {
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    guard let resolved = realpath(full, nil) else { return full }
    defer { free(resolved) }
    return String(cString: resolved)
  }

  /// The absolute path `name` runs as: a path with a slash is taken relative to the current
  /// directory, anything else is searched in `PATH`. Nil if there is no executable file.
  public static func resolveExecutable(_ name: String) -> String? {
    guard !name.isEmpty else { return nil }
    func isExecutableFile(_ path: String) -> Bool {
      var info = stat()
      return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }
    if name.contains("/") {
      let absolute = name.hasPrefix("/") ? name : FileManager.default.currentDirectoryPath + "/" + name
      return isExecutableFile(absolute) ? absolute : nil
    }
    let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in searchPath.split(separator: ":", omittingEmptySubsequences: true) {
      let candidate = String(directory) + "/" + name
      if isExecutableFile(candidate) { return candidate }
    }
    return nil
  }

  /// Live processes whose session id is `session` (for tests and diagnostics).
  public static func liveProcesses(inSession session: Int32) -> Int {
    Int(csandbox_count_session(session))
  }
}

extension SandboxOutcome.Termination: CustomStringConvertible {
  public var description: String {
    switch self {
    case .exited(let code): return "exited with status \(code)"
    case .signaled(let signal): return "killed by \(signalName(signal))"
    case .killed(let violation): return "killed at the \(violation.rawValue) limit"
    case .launchFailed(let step, let code):
      return "could not start (\(step): \(String(cString: strerror(code))))"
    }
  }
}

/// "SIGSEGV" for 11, etc.; "signal N" for others.
func signalName(_ signal: Int32) -> String {
  let names: [Int32: String] = [
    SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
    SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV",
    SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
  ]
  return names[signal] ?? "signal \(signal)"
}
