import Foundation
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Claims of work items by creating a marker file exclusively, for several workers (processes or
/// machines sharing a filesystem) splitting a stage's shards without a coordinator.
///
/// `claim(path:owner:)` creates the file with `open(O_CREAT | O_EXCL)`, which the kernel (and NFS
/// v3 and later) performs atomically: of any number of concurrent claimers exactly one gets
/// `true`. The file then holds the owner text (for example "worker 2/4 pid 123 host box"), which
/// is informational; the file's existence is the claim.
///
/// Claims do not expire. A worker that dies leaves its claim behind; whoever restarts the stage
/// decides (for example: the shard is not recorded as complete in the manifest and no process
/// holds the stage's `DirectoryLock`, so its claim is stale) and calls `release(path:)`.
/// Typical use: claim file `shard-00003.claim` beside the shard, release after the shard and its
/// manifest entry are durable, or keep it as a record of who did the work.
public enum ClaimFile {
  /// Tries to claim the work item at `path` (creating parent directories). Returns true if this
  /// call created the claim, false if the item was already claimed. Throws `.ioFailure` naming
  /// the path for any other failure.
  public static func claim(path: String, owner: String) throws -> Bool {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw HindcastError(
        .ioFailure, "cannot create directory: \(error.localizedDescription)", location: directory)
    }
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    if fd < 0 {
      if errno == EEXIST { return false }
      throw HindcastError(.ioFailure, "cannot create claim file: \(FileOps.errnoText())", location: path)
    }
    defer { close(fd) }
    try AtomicFile.writeAll(fd, Array((owner + "\n").utf8), path: path)
    guard fsync(fd) == 0 else {
      throw HindcastError(.ioFailure, "fsync failed: \(FileOps.errnoText())", location: path)
    }
    AtomicFile.syncDirectory(directory)
    return true
  }

  /// The owner text of an existing claim, or nil if there is no claim (or it is empty, when the
  /// claimer died between creating and writing it).
  public static func owner(of path: String) -> String? {
    guard let bytes = try? AtomicFile.read(path) else { return nil }
    let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? nil : text
  }

  /// Whether the item at `path` is claimed.
  public static func isClaimed(path: String) -> Bool {
    access(path, F_OK) == 0
  }

  /// Removes a claim so the item can be claimed again. Removing a claim that does not exist is
  /// not an error. Throws `.ioFailure` naming the path otherwise.
  public static func release(path: String) throws {
    if unlink(path) != 0 && errno != ENOENT {
      throw HindcastError(.ioFailure, "cannot remove claim file: \(FileOps.errnoText())", location: path)
    }
  }
}
