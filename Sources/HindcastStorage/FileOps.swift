import Foundation
import HindcastStorage
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The append end of a log segment: one file descriptor opened for appending.
/// Not thread-safe; owned by one store.
final class SegmentWriter {
  let path: String
  fileprivate let descriptor: Int32
  /// The file's length in bytes (everything written so far).
  private(set) var size: Int
  /// Set when a failed write could not be cut back: the file may end in a partial batch.
  private(set) var unrepairedFailure: String?

  /// Opens (creating if needed) `path` for appending.
  init(path: String) throws {
    self.path = path
    descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw HindcastError(
        .ioFailure, "cannot open segment for appending: \(FileIO.errnoText())", location: path)
    }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      Glibc.close(descriptor)
      throw HindcastError(.ioFailure, "cannot stat segment: \(FileIO.errnoText())", location: path)
    }
    size = Int(info.st_size)
  }

  deinit { Glibc.close(descriptor) }

  /// Writes all of `bytes` at the end of the file (one `write` call unless the kernel splits
  /// it), then `fsync`s if asked. On failure the file is cut back to its previous length so the
  /// log never keeps half a batch; if even that fails, the error says so.
  func append(_ bytes: [UInt8], sync: Bool, maximumWriteSize: Int? = nil) throws {
    let previous = size
    do {
      try bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
          let piece = min(raw.count - offset, max(1, maximumWriteSize ?? raw.count))
          let written = Glibc.write(descriptor, raw.baseAddress! + offset, piece)
          if written < 0 {
            if errno == EINTR { continue }
            throw HindcastError(.ioFailure, "write failed: \(FileIO.errnoText())", location: path)
          }
          offset += written
        }
      }
      if sync {
        guard fdatasync(descriptor) == 0 else {
          throw HindcastError(.ioFailure, "fsync failed: \(FileIO.errnoText())", location: path)
        }
      }
      size = previous + bytes.count
    } catch {
      if ftruncate(descriptor, off_t(previous)) != 0 {
        unrepairedFailure = "a failed write left a partial batch in \(path)"
        throw HindcastError(
          .ioFailure, "\(error); the partial write could not be removed either", location: path,
          hint: "reopen the store: opening cuts the log back to its last complete record")
      }
      throw error
    }
  }
}

extension SegmentWriter {
  /// Flushes everything written so far to disk.
  func sync() throws {
    guard fdatasync(descriptor) == 0 else {
      throw HindcastError(.ioFailure, "fsync failed: \(FileIO.errnoText())", location: path)
    }
  }
}

/// An exclusive advisory lock on the store (`flock` on `LOCK`), released when the process ends,
/// even by SIGKILL.
final class StoreLock {
  private let descriptor: Int32

  init(directory: String) throws {
    let path = directory + "/" + MemoryManifest.lockName
    descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw HindcastError(.ioFailure, "cannot open lock file: \(FileIO.errnoText())", location: path)
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      Glibc.close(descriptor)
      throw HindcastError(
        .ioFailure, "the memory store is open for writing in another process", location: directory,
        hint:
          "wait for the other hindcast process to finish; read-only commands (ls, show, stats) work meanwhile"
      )
    }
  }

  deinit { Glibc.close(descriptor) }
}

enum FileIO {
  static func errnoText() -> String { String(cString: strerror(errno)) }

  static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  static func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
  }

  /// Cuts a file to `length` bytes and flushes it.
  static func truncate(_ path: String, to length: Int) throws {
    let descriptor = Glibc.open(path, O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw HindcastError(.ioFailure, "cannot open for truncation: \(errnoText())", location: path)
    }
    defer { Glibc.close(descriptor) }
    guard ftruncate(descriptor, off_t(length)) == 0, fsync(descriptor) == 0 else {
      throw HindcastError(.ioFailure, "cannot truncate: \(errnoText())", location: path)
    }
  }

  static func remove(_ path: String) throws {
    guard unlink(path) == 0 || errno == ENOENT else {
      throw HindcastError(.ioFailure, "cannot remove: \(errnoText())", location: path)
    }
  }

  static func listDirectory(_ directory: String) -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? []
  }

  /// The number in a file name like `seg-000012.log` for `prefix` "seg-" and `suffix` ".log".
  static func number(in name: String, prefix: String, suffix: String) -> Int? {
    guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else {
      return nil
    }
    return Int(name.dropFirst(prefix.count).dropLast(suffix.count))
  }
}
