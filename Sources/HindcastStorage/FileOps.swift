import Foundation
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The append end of an append-only file (the memory store's log segments): one file descriptor
/// opened with `O_APPEND`. Each `append` either lands whole or is cut back. Not thread-safe; owned
/// by one writer.
public final class AppendFile {
  public let path: String
  fileprivate let descriptor: Int32
  /// The file's length in bytes (everything written so far).
  public private(set) var size: Int
  /// Set when a failed write could not be cut back: the file may end in a partial batch.
  public private(set) var unrepairedFailure: String?

  /// Opens (creating if needed) `path` for appending.
  public init(path: String) throws {
    self.path = path
    descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw HindcastError(
        .ioFailure, "cannot open for appending: \(FileOps.errnoText())", location: path)
    }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      Glibc.close(descriptor)
      throw HindcastError(.ioFailure, "cannot stat: \(FileOps.errnoText())", location: path)
    }
    size = Int(info.st_size)
  }

  deinit { Glibc.close(descriptor) }

  /// Writes all of `bytes` at the end of the file (one `write` call unless the kernel splits
  /// it), then `fsync`s if asked. On failure the file is cut back to its previous length so the
  /// log never keeps half a batch; if even that fails, the error says so.
  public func append(_ bytes: [UInt8], sync: Bool, maximumWriteSize: Int? = nil) throws {
    let previous = size
    do {
      try bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
          let piece = min(raw.count - offset, max(1, maximumWriteSize ?? raw.count))
          let written = Glibc.write(descriptor, raw.baseAddress! + offset, piece)
          if written < 0 {
            if errno == EINTR { continue }
            throw HindcastError(.ioFailure, "write failed: \(FileOps.errnoText())", location: path)
          }
          offset += written
        }
      }
      if sync {
        guard fdatasync(descriptor) == 0 else {
          throw HindcastError(.ioFailure, "fsync failed: \(FileOps.errnoText())", location: path)
        }
      }
      size = previous + bytes.count
    } catch {
      if ftruncate(descriptor, off_t(previous)) != 0 {
        unrepairedFailure = "a failed write left a partial batch in \(path)"
        throw HindcastError(
          .ioFailure, "\(error); the partial write could not be removed either", location: path,
          hint: "reopen the file's owner (a memory store cuts its log back to the last complete record)")
      }
      throw error
    }
  }
}

extension AppendFile {
  /// Flushes everything written so far to disk.
  public func sync() throws {
    guard fdatasync(descriptor) == 0 else {
      throw HindcastError(.ioFailure, "fsync failed: \(FileOps.errnoText())", location: path)
    }
  }
}

/// Small file-system helpers with errors that name the path.
public enum FileOps {
  /// `strerror(errno)`.
  public static func errnoText() -> String { String(cString: strerror(errno)) }

  public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  /// The size of `path` in bytes, 0 if it cannot be read.
  public static func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
  }

  /// Cuts a file to `length` bytes and flushes it.
  public static func truncate(_ path: String, to length: Int) throws {
    let descriptor = Glibc.open(path, O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw HindcastError(.ioFailure, "cannot open for truncation: \(errnoText())", location: path)
    }
    defer { Glibc.close(descriptor) }
    guard ftruncate(descriptor, off_t(length)) == 0, fsync(descriptor) == 0 else {
      throw HindcastError(.ioFailure, "cannot truncate: \(errnoText())", location: path)
    }
  }

  /// Removes a file; a file that is already gone is not an error.
  public static func remove(_ path: String) throws {
    guard unlink(path) == 0 || errno == ENOENT else {
      throw HindcastError(.ioFailure, "cannot remove: \(errnoText())", location: path)
    }
  }

  /// The names in `directory`, sorted; empty if it cannot be read.
  public static func listDirectory(_ directory: String) -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? []
  }

  /// The number in a file name like `seg-000012.log` for `prefix` "seg-" and `suffix` ".log".
  public static func number(in name: String, prefix: String, suffix: String) -> Int? {
    guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else {
      return nil
    }
    return Int(name.dropFirst(prefix.count).dropLast(suffix.count))
  }
}
