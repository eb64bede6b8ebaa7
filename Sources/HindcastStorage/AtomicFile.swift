import Foundation
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Crash-safe file replacement: data goes to a temporary file in the same directory, is flushed
/// to disk (`fsync`), renamed over the destination, and the directory entry is flushed too. A
/// reader therefore sees either the old file or the complete new one, never a torn file.
///
/// Temporary files are named `.NAME.tmp-PID`; leftovers from a killed process are harmless and
/// are removed by `removeStaleTemporaries(in:)`.
public enum AtomicFile {
  /// Atomically replaces (or creates) `path` with `bytes`. Parent directories are created.
  /// Throws `.ioFailure` naming the directory or file on any failure; on failure the old file,
  /// if any, is untouched. Two writers of the same path in one process must not run at once
  /// (they would share the temporary name).
  public static func write(_ bytes: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw HindcastError(
        .ioFailure, "cannot create directory: \(error.localizedDescription)", location: directory)
    }
    let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw HindcastError(.ioFailure, "cannot create file: \(FileOps.errnoText())", location: temporary)
    }
    var ok = false
    defer {
      if !ok { unlink(temporary) }
    }
    do {
      defer { close(fd) }
      try writeAll(fd, bytes, path: temporary)
      guard fsync(fd) == 0 else {
        throw HindcastError(.ioFailure, "fsync failed: \(FileOps.errnoText())", location: temporary)
      }
    }
    guard rename(temporary, path) == 0 else {
      throw HindcastError(.ioFailure, "cannot rename into place: \(FileOps.errnoText())", location: path)
    }
    ok = true
    syncDirectory(directory)
  }

  /// Atomically writes UTF-8 text.
  public static func write(text: String, to path: String) throws {
    try write(Array(text.utf8), to: path)
  }

  /// Removes temporary files (`.NAME.tmp-PID`) and checkpoint directories (`NAME.tmp-PID`) left
  /// in `directory` by writers that were killed. Entries whose PID is still alive on this machine
  /// belong to a concurrent writer and are kept. Returns the names removed.
  @discardableResult
  public static func removeStaleTemporaries(in directory: String) -> [String] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
    var removed: [String] = []
    for name in names {
      guard let range = name.range(of: ".tmp-", options: .backwards),
        let pid = Int32(name[range.upperBound...])
      else { continue }
      if pid != getpid() && kill(pid, 0) == 0 { continue }
      if (try? FileManager.default.removeItem(atPath: directory + "/" + name)) != nil { removed.append(name) }
    }
    return removed
  }

  /// Flushes a directory entry so that a completed rename survives a power loss.
  public static func syncDirectory(_ directory: String) {
    let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
      fsync(fd)
      close(fd)
    }
  }

  /// Reads a whole file, with an error that names it when it is missing or unreadable. One
  /// allocation of the file's size and no intermediate `Data` copy (this was the memory store's
  /// reader; both layers now share it).
  public static func read(_ path: String) throws -> [UInt8] {
    let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      if errno == ENOENT { throw HindcastError(.missingFile, "file not found", location: path) }
      throw HindcastError(.ioFailure, "cannot open: \(FileOps.errnoText())", location: path)
    }
    defer { Glibc.close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      throw HindcastError(.ioFailure, "cannot stat: \(FileOps.errnoText())", location: path)
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw HindcastError(.ioFailure, "not a regular file", location: path)
    }
    let size = Int(info.st_size)
    var failure: String?
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
      count = 0
      guard let base = buffer.baseAddress else { return }
      while count < size {
        let got = Glibc.read(descriptor, base + count, size - count)
        if got < 0 && errno == EINTR { continue }
        if got < 0 { failure = FileOps.errnoText() }
        if got <= 0 { break }
        count += got
      }
    }
    if let failure { throw HindcastError(.ioFailure, "read failed: \(failure)", location: path) }
    return bytes
  }

  static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
    try bytes.withUnsafeBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        if n < 0 {
          if errno == EINTR { continue }
          throw HindcastError(.ioFailure, "write failed: \(FileOps.errnoText())", location: path)
        }
        offset += n
      }
    }
  }

}
