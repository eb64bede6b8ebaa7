import CSandbox

/// Which isolation the kernel granted for one run. Every layer is tried and a refusal only
/// clears its flag; `weaknesses` names what is then not guaranteed (docs/exec-protocol.md).
public struct SandboxIsolation: Codable, Sendable, Equatable {
  /// A private user namespace (the command keeps its file permissions, loses host privileges).
  public var userNamespace: Bool
  /// A private network namespace: no network at all.
  public var network: Bool
  /// A private PID namespace: everything the command starts dies with it.
  public var processes: Bool
  /// A private mount namespace in which every file system is read-only; only the working
  /// directory (and `/tmp` when `privateTmp`) can be written.
  public var readOnlyFileSystem: Bool
  /// An empty, writable `/tmp` of the run's own (a memory file system, removed with it).
  public var privateTmp: Bool
  /// Every hidden path (the run directory) is covered by an empty, unreadable file system.
  public var hiddenPaths: Bool
  /// `/proc` shows only the sandbox's own processes (or nothing), so no other process's files,
  /// working directory or root are reachable through it.
  public var privateProc: Bool
  /// Landlock confines writes to the working directory (and the private `/tmp`), and signals
  /// and abstract sockets to the sandbox (Linux 6.12+).
  public var landlock: Bool
  /// No capabilities and `no_new_privs`: the command cannot undo the mounts or gain privileges
  /// through set-uid or file-capability programs.
  public var noPrivileges: Bool

  /// Decodes the `CSANDBOX_ISOLATED_*` bits of a run.
  init(bits: Int) {
    userNamespace = bits & CSANDBOX_ISOLATED_USER != 0
    network = bits & CSANDBOX_ISOLATED_NETWORK != 0
    processes = bits & CSANDBOX_ISOLATED_PROCESSES != 0
    readOnlyFileSystem = bits & CSANDBOX_ISOLATED_READ_ONLY != 0
    privateTmp = bits & CSANDBOX_ISOLATED_TMP != 0
    hiddenPaths = bits & CSANDBOX_ISOLATED_HIDDEN != 0
    privateProc = bits & CSANDBOX_ISOLATED_PROC != 0
    landlock = bits & CSANDBOX_ISOLATED_LANDLOCK != 0
    noPrivileges = bits & CSANDBOX_ISOLATED_NO_PRIVILEGES != 0
  }

  /// True when the command can write only its working directory and private `/tmp`, cannot see
  /// the hidden paths, and cannot regain privileges: the sealed file system of the protocol.
  public var sealed: Bool { readOnlyFileSystem && privateTmp && hiddenPaths && privateProc && noPrivileges }

  /// What this isolation does not guarantee, one short phrase each; empty when nothing the
  /// sandbox tries was refused.
  public var weaknesses: [String] {
    var missing: [String] = []
    if !network { missing.append("the checker has the machine's network") }
    if !processes { missing.append("processes that leave the session can outlive the checker") }
    if !readOnlyFileSystem {
      missing.append(
        landlock
          ? "the file system is readable (writes are confined by Landlock)"
          : "the checker can write anywhere its user can")
    }
    if readOnlyFileSystem && !privateTmp { missing.append("no private /tmp") }
    if !hiddenPaths { missing.append("the run directory is readable") }
    if readOnlyFileSystem && !privateProc { missing.append("the machine's /proc is visible") }
    if !noPrivileges { missing.append("the checker keeps its capabilities") }
    return missing
  }

  /// "sealed (read-only root, private /tmp, run hidden, own /proc, Landlock, no privileges)" or
  /// the weaknesses; for logs and `hindcast check`.
  public var summary: String {
    let problems = weaknesses
    if problems.isEmpty {
      return "sealed (read-only file system, private /tmp, run hidden, own /proc, no network"
        + (landlock ? ", Landlock" : "") + ")"
    }
    return "weaker isolation: " + problems.joined(separator: "; ")
  }
}
