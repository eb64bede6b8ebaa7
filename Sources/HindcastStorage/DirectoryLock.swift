import Foundation
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// An exclusive advisory lock (`flock(2)`) on a lock file, for example `runs/NAME/r0000/.lock`,
/// so two processes never do the same stage work at once.
///
/// Semantics:
/// - The lock belongs to the open file description: two `acquire` calls on the same path exclude
///   each other even inside one process, and a `fork` shares (does not duplicate) the lock. The
///   descriptor is opened `O_CLOEXEC`, so programs exec'd by the holder (checker sandboxes) do
///   not keep it alive.
/// - It is released by `release()`, by `deinit`, or by the kernel when the process dies (even by
///   `kill -9`): a crash never leaves a stale lock.
/// - The lock file is never deleted (deleting it would let a waiter lock an orphaned inode while
///   a newcomer locks a new file). After locking, the holder writes "pid PID host HOST" into it
///   for `holderDescription(path:)`; the content is informational only.
/// - On NFS, Linux emulates `flock` with POSIX record locks, which work across machines but are
///   per process: two locks inside one process no longer exclude each other there.
///
/// Thread-safe.
public final class DirectoryLock: @unchecked Sendable {
  /// The lock file path.
  public let path: String
  private var descriptor: Int32
  private let mutex = NSLock()

  private init(path: String, descriptor: Int32) {
    self.path = path
    self.descriptor = descriptor
  }

  /// Takes the lock on `path` (creating the file and its parent directories). With `wait: true`
  /// blocks until the lock is free and never returns nil; with `wait: false` returns nil at once
  /// if another open file description holds it. Throws `.ioFailure` naming the path if the file
  /// cannot be created or locked.
  public static func acquire(path: String, wait: Bool) throws -> DirectoryLock? {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw HindcastError(
        .ioFailure, "cannot create directory: \(error.localizedDescription)", location: directory)
    }
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw HindcastError(.ioFailure, "cannot open lock file: \(FileOps.errnoText())", location: path)
    }
    while flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
      let error = errno
      if error == EINTR { continue }
      close(fd)
      if error == EWOULDBLOCK { return nil }
      errno = error
      throw HindcastError(.ioFailure, "cannot lock: \(FileOps.errnoText())", location: path)
    }
    let lock = DirectoryLock(path: path, descriptor: fd)
    lock.recordHolder()
    return lock
  }

  /// What the current or last holder wrote into the lock file ("pid 123 host box"), for error
  /// messages such as "stage is locked by pid 123 host box". Nil if unreadable or empty.
  public static func holderDescription(path: String) -> String? {
    guard let bytes = try? AtomicFile.read(path), !bytes.isEmpty else { return nil }
    let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? nil : text
  }

  /// Whether this object still holds the lock.
  public var isHeld: Bool {
    mutex.lock()
    defer { mutex.unlock() }
    return descriptor >= 0
  }

  /// Releases the lock. Safe to call more than once.
  public func release() {
    mutex.lock()
    defer { mutex.unlock() }
    if descriptor >= 0 {
      // Unlock explicitly: a child forked meanwhile shares the open file description until it
      // execs (close-on-exec), and closing only our descriptor would leave the lock held.
      flock(descriptor, LOCK_UN)
      close(descriptor)
      descriptor = -1
    }
  }

  deinit {
    if descriptor >= 0 {
      flock(descriptor, LOCK_UN)
      close(descriptor)
    }
  }

  /// Best effort: replaces the lock file's content with this process's id and host name.
  private func recordHolder() {
    let text = "pid \(getpid()) host \(ProcessInfo.processInfo.hostName)\n"
    if ftruncate(descriptor, 0) == 0 {
      _ = try? AtomicFile.writeAll(descriptor, Array(text.utf8), path: path)
    }
  }
}
