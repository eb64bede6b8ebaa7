import Foundation
import Testing

@testable import HindcastTasks

#if canImport(Glibc)
  import Glibc
#endif

/// The sealed file system: a checker writes only its working directory and a private /tmp, and
/// cannot see the run directory. On a kernel that refuses the layers the test checks that the
/// refusal is recorded instead (and says which layer).
@Suite struct SandboxSealTests {
  let limits = SandboxLimits(
    wallSeconds: 10, cpuSeconds: 5, memoryBytes: 512 << 20, fileSizeBytes: 1 << 20, maxProcesses: 16,
    maxOutputBytes: 64 << 10)

  /// A fake run directory outside /tmp (the private /tmp would hide anything under the real
  /// one anyway, which would make the hidden-path check vacuous), with a manifest.
  func makeRunDirectory() throws -> String {
    let base =
      FileManager.default.fileExists(atPath: "/var/tmp")
      ? "/var/tmp" : FileManager.default.currentDirectoryPath
    var template = Array((base + "/hindcast-seal-test-XXXXXX").utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
      guard let pointer = buffer.baseAddress, mkdtemp(pointer) != nil else { return nil }
      return String(cString: pointer)
    }
    guard let path else { throw CocoaError(.fileWriteUnknown) }
    try Data("{\"version\": 1, \"secret\": \"manifest-contents\"}\n".utf8).write(
      to: URL(fileURLWithPath: path + "/manifest.json"))
    return path
  }

  /// Runs a shell script in the sandbox and returns its stdout lines.
  func shell(_ script: String, hidden: [String]) -> (SandboxOutcome, [String]) {
    let outcome = Sandbox.run(command: ["sh", "-c", script], stdin: [], limits: limits, hiddenPaths: hidden)
    let lines = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
    return (outcome, lines)
  }

  @Test func checkerCannotWriteOutsideItsWorkingDirectoryNorReadTheRun() throws {
    let run = try makeRunDirectory()
    defer { try? FileManager.default.removeItem(atPath: run) }
    let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
    let marker = "hindcast-seal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let isolation = Sandbox.probeIsolation(limits: limits, hiddenPaths: [run])
    let script = """
      try() { if sh -c "$2" 2>/dev/null; then echo "$1 ok"; else echo "$1 refused"; fi; }
      try tmp 'echo x > /tmp/\(marker)'
      try run 'echo x > \(run)/\(marker)'
      try home 'echo x > \(home)/\(marker)'
      try manifest 'cat \(run)/manifest.json | grep -q manifest-contents'
      try listing 'ls \(run) | grep -q manifest'
      try workdir 'echo x > ./own-file && cat ./own-file >/dev/null'
      try tmpdir 'echo x > "$TMPDIR/other" && rm "$TMPDIR/other"'
      """
    let (outcome, lines) = shell(script, hidden: [run])
    #expect(outcome.termination == .exited(code: 0), "\(outcome.termination)")
    #expect(outcome.isolation == isolation, "the probe predicts the run's isolation")
    // Whatever the kernel grants, nothing may have leaked onto the host.
    #expect(!FileManager.default.fileExists(atPath: "/tmp/\(marker)"))
    #expect(!FileManager.default.fileExists(atPath: "\(run)/\(marker)"))
    #expect(!FileManager.default.fileExists(atPath: "\(home)/\(marker)"))
    #expect(lines.contains("workdir ok"), "\(lines)")
    #expect(lines.contains("tmpdir ok"), "\(lines)")
    guard isolation.sealed else {
      // A kernel without the namespaces: the weaker isolation must be recorded and described.
      #expect(!isolation.weaknesses.isEmpty)
      return
    }
    for name in ["run", "home", "manifest", "listing"] {
      #expect(lines.contains("\(name) refused"), "\(name): \(lines)")
    }
    // /tmp is the run's own: the write lands there (checked above: not on the host's /tmp).
    #expect(lines.contains("tmp ok"), "\(lines)")
    #expect(isolation.weaknesses.isEmpty, "\(isolation.summary)")
  }

  @Test func checkerCannotReachTheHostThroughProc() throws {
    let run = try makeRunDirectory()
    defer { try? FileManager.default.removeItem(atPath: run) }
    let isolation = Sandbox.probeIsolation(limits: limits, hiddenPaths: [run])
    guard isolation.sealed else { return }
    // The caller's own process is a way around every mount: its root and cwd are the host's.
    let script = """
      if ls /proc/\(getpid())/root/ >/dev/null 2>&1; then echo "host-root visible"; fi
      if [ -e /proc/1/root\(run)/manifest.json ]; then echo "run via init"; fi
      echo done
      """
    let (outcome, lines) = shell(script, hidden: [run])
    #expect(outcome.termination == .exited(code: 0))
    #expect(lines == ["done"], "\(lines)")
  }

  @Test func checkerCannotRemountTheViewWritable() throws {
    let isolation = Sandbox.probeIsolation(limits: limits)
    guard isolation.sealed else { return }
    let marker = "hindcast-remount-\(getpid())"
    let script = """
      mount -o remount,rw / 2>/dev/null && echo remounted
      umount /tmp 2>/dev/null && echo unmounted
      echo x > /var/tmp/\(marker) 2>/dev/null && echo wrote
      echo done
      """
    let (_, lines) = shell(script, hidden: [])
    defer { unlink("/var/tmp/\(marker)") }
    #expect(lines == ["done"], "\(lines)")
    #expect(!FileManager.default.fileExists(atPath: "/var/tmp/\(marker)"))
  }

  @Test func unsealedRunsRecordTheWeakerIsolation() {
    var open = limits
    open.sealFileSystem = false
    let outcome = Sandbox.run(command: ["true"], stdin: [], limits: open)
    #expect(outcome.termination == .exited(code: 0))
    #expect(!outcome.isolation.readOnlyFileSystem && !outcome.isolation.sealed)
    #expect(outcome.isolation.weaknesses.contains { $0.contains("write anywhere") })
  }
}
