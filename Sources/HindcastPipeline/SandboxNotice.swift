import Foundation
import HindcastSupport
import HindcastTasks

/// Warns, once per stage and process, when the exec family's checkers run with weaker isolation
/// than the sealed sandbox of docs/exec-protocol.md (the kernel refused a layer). The isolation
/// is probed once per process (a sandbox set up without running anything); every checker run
/// still records its own in `SandboxOutcome.isolation`.
enum SandboxNotice {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var probed: [String: SandboxIsolation] = [:]
  nonisolated(unsafe) private static var warned: Set<String> = []

  static func warnIfWeak(family: any TaskFamily, stage: String, reporter: any ProgressReporter) {
    guard let exec = family as? ExecFamily else { return }
    let key = exec.hiddenPaths.joined(separator: "\u{0}")
    lock.lock()
    let known = probed[key]
    let first = warned.insert(stage + "\u{0}" + key).inserted
    lock.unlock()
    guard first else { return }
    let isolation = known ?? exec.probeIsolation()
    lock.lock()
    probed[key] = isolation
    lock.unlock()
    guard !isolation.sealed else { return }
    reporter.notice(
      "warning: \(stage): exec checkers run with \(isolation.summary) (see docs/exec-protocol.md, 'What is guaranteed')"
    )
  }
}
