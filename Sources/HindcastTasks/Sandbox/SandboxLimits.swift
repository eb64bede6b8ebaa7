import HindcastSupport

/// Limits for one sandboxed run of an external checker. `nil` means "no limit" for the optional
/// ones. What each limit means exactly (and what it cannot guarantee when running as root) is
/// documented in docs/exec-protocol.md.
public struct SandboxLimits: Codable, Sendable, Equatable {
  /// Wall-clock deadline in seconds; the whole process group is killed when it passes. Positive.
  public var wallSeconds: Double
  /// CPU seconds per process (`RLIMIT_CPU`; SIGXCPU at the limit, SIGKILL one second later).
  public var cpuSeconds: Int?
  /// Address space per process in bytes (`RLIMIT_AS`).
  public var memoryBytes: Int?
  /// Largest file a process may write, in bytes (`RLIMIT_FSIZE`).
  public var fileSizeBytes: Int?
  /// Processes the command may have alive at once (itself included). Enforced by a watchdog that
  /// kills the sandbox, and by `RLIMIT_NPROC` inside a private user namespace when not root.
  public var maxProcesses: Int?
  /// Bytes kept per output stream; a command that writes more is killed.
  public var maxOutputBytes: Int
  /// Try to run without network (a new network namespace). Failure is recorded, not fatal.
  public var isolateNetwork: Bool
  /// Try to run in a new PID namespace, so that nothing it starts can outlive it.
  public var isolateProcesses: Bool
  /// Try to seal the file system: everything read-only but the working directory and a private
  /// `/tmp`, hidden paths (the run directory) invisible, no privileges, Landlock where the kernel
  /// has it. What was granted is recorded in `SandboxOutcome.isolation`; a refusal is not fatal.
  public var sealFileSystem: Bool
  /// Size of the private `/tmp` (a memory file system), bytes.
  public var privateTmpBytes: Int

  enum CodingKeys: String, CodingKey {
    case wallSeconds = "wall_seconds"
    case cpuSeconds = "cpu_seconds"
    case memoryBytes = "memory_bytes"
    case fileSizeBytes = "file_size_bytes"
    case maxProcesses = "max_processes"
    case maxOutputBytes = "max_output_bytes"
    case isolateNetwork = "isolate_network"
    case isolateProcesses = "isolate_processes"
    case sealFileSystem = "seal_filesystem"
    case privateTmpBytes = "private_tmp_bytes"
  }

  public init(
    wallSeconds: Double = 10, cpuSeconds: Int? = 5, memoryBytes: Int? = 1 << 30,
    fileSizeBytes: Int? = 16 << 20, maxProcesses: Int? = 64, maxOutputBytes: Int = 1 << 20,
    isolateNetwork: Bool = true, isolateProcesses: Bool = true, sealFileSystem: Bool = true,
    privateTmpBytes: Int = 64 << 20
  ) {
    self.wallSeconds = wallSeconds
    self.cpuSeconds = cpuSeconds
    self.memoryBytes = memoryBytes
    self.fileSizeBytes = fileSizeBytes
    self.maxProcesses = maxProcesses
    self.maxOutputBytes = maxOutputBytes
    self.isolateNetwork = isolateNetwork
    self.isolateProcesses = isolateProcesses
    self.sealFileSystem = sealFileSystem
    self.privateTmpBytes = privateTmpBytes
  }

  /// The defaults: 10 s wall, 5 s CPU, 1 GiB address space, 16 MiB files, 64 processes, 1 MiB of
  /// output per stream, no network, own PID namespace, sealed file system with a 64 MiB `/tmp`.
  public static let standard = SandboxLimits()

  /// Rejects values the sandbox cannot honour, naming the field and the allowed range.
  public func validate(source: String? = nil) throws {
    func require(_ ok: Bool, _ key: CodingKeys, _ range: String) throws {
      if !ok {
        throw HindcastError(
          .invalidConfig, "sandbox limit '\(key.rawValue)' must be \(range)", location: source,
          hint: "fix '\(key.rawValue)' in the sandbox limits")
      }
    }
    try require(
      wallSeconds.isFinite && wallSeconds > 0 && wallSeconds <= 86_400, .wallSeconds,
      "in (0, 86400] seconds; got \(wallSeconds)")
    try require((cpuSeconds ?? 1) >= 1, .cpuSeconds, "at least 1 second; got \(cpuSeconds ?? 0)")
    try require(
      (memoryBytes ?? (1 << 30)) >= 16 << 20, .memoryBytes,
      "at least 16 MiB (an interpreter needs room to start); got \(memoryBytes ?? 0)")
    try require((fileSizeBytes ?? 0) >= 0, .fileSizeBytes, "non-negative; got \(fileSizeBytes ?? 0)")
    try require((maxProcesses ?? 1) >= 1, .maxProcesses, "at least 1; got \(maxProcesses ?? 0)")
    try require(maxOutputBytes >= 1, .maxOutputBytes, "at least 1 byte; got \(maxOutputBytes)")
    try require(
      privateTmpBytes >= 1 << 20 && privateTmpBytes <= 1 << 40, .privateTmpBytes,
      "in [1 MiB, 1 TiB]; got \(privateTmpBytes)")
  }
}
