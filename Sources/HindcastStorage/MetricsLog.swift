import Foundation
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#endif

/// An append-only JSON-lines event log (the run's `metrics.jsonl`): one compact JSON object per
/// line, keys sorted.
///
/// Writing: each `append` is one `write(2)` of a whole line on a descriptor opened with
/// `O_APPEND`, followed by `fsync`, so lines from several processes appending to the same local
/// file never interleave and a returned `append` is durable. (On NFS, `O_APPEND` is not atomic
/// across machines; give each worker its own log there.)
///
/// Recovery: a crash can leave a torn last line (no trailing newline). Opening a log whose last
/// byte is not a newline first writes a newline, so the fragment stays a line of its own instead
/// of corrupting the next event. `read` skips and reports torn or unparsable lines; it never
/// rewrites the file.
///
/// Thread-safe: appends and `close` are serialized by a lock.
public final class MetricsLog: @unchecked Sendable {
  /// The log file path.
  public let path: String
  private var descriptor: Int32
  private let lock = NSLock()
  private let encoder: JSONEncoder

  /// Opens (creating if needed, with parent directories) the log at `path` for appending.
  public init(path: String) throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw HindcastError(
        .ioFailure, "cannot create directory: \(error.localizedDescription)", location: directory)
    }
    let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw HindcastError(
        .ioFailure, "cannot open log for appending: \(FileOps.errnoText())", location: path)
    }
    self.path = path
    self.descriptor = fd
    encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do {
      try terminateTornLine()
    } catch {
      Glibc.close(fd)
      throw error
    }
  }

  deinit {
    if descriptor >= 0 { Glibc.close(descriptor) }
  }

  /// Appends `object` as one line and flushes it to disk. Throws `.invalidInput` if it cannot be
  /// encoded (NaN, infinity) and `.ioFailure` if the write or fsync fails or the log is closed.
  public func append(_ object: some Encodable) throws {
    var line: [UInt8]
    do {
      line = [UInt8](try encoder.encode(object))
    } catch {
      throw HindcastError(
        .invalidInput, "metrics event cannot be encoded as JSON: \(error)", location: path,
        hint: "JSON has no NaN or infinity; check the values being logged")
    }
    line.append(0x0A)
    lock.lock()
    defer { lock.unlock() }
    guard descriptor >= 0 else {
      throw HindcastError(.ioFailure, "metrics log is closed", location: path)
    }
    // One write call per line keeps concurrent appenders from interleaving; a short write
    // (disk full) is completed by further writes and reported if it fails.
    try AtomicFile.writeAll(descriptor, line, path: path)
    guard fsync(descriptor) == 0 else {
      throw HindcastError(.ioFailure, "fsync failed: \(FileOps.errnoText())", location: path)
    }
  }

  /// Closes the log; later appends throw. Called by `deinit` if not called explicitly.
  public func close() {
    lock.lock()
    defer { lock.unlock() }
    if descriptor >= 0 {
      Glibc.close(descriptor)
      descriptor = -1
    }
  }

  /// If the file does not end in a newline, appends one (see the type's recovery notes).
  private func terminateTornLine() throws {
    let size = lseek(descriptor, 0, SEEK_END)
    guard size > 0 else { return }
    var last: UInt8 = 0
    guard pread(descriptor, &last, 1, size - 1) == 1 else {
      throw HindcastError(.ioFailure, "cannot read log: \(FileOps.errnoText())", location: path)
    }
    if last != 0x0A {
      try AtomicFile.writeAll(descriptor, [0x0A], path: path)
    }
  }

  /// A line `read` skipped.
  public struct SkippedLine: Sendable, Equatable {
    public enum Reason: String, Sendable {
      /// The last line has no trailing newline: a write was cut short.
      case tornTail = "torn-tail"
      /// A complete line that is not valid JSON (usually an earlier torn write, since terminated).
      case notJSON = "not-json"
    }
    /// 1-based line number in the file.
    public var line: Int
    public var reason: Reason
    /// Length of the skipped line in bytes.
    public var byteCount: Int
    public init(line: Int, reason: Reason, byteCount: Int) {
      self.line = line
      self.reason = reason
      self.byteCount = byteCount
    }
  }

  /// The readable events of a log and the lines that were skipped.
  public struct Contents<Event> {
    /// Events in file order, each with its 1-based line number.
    public var events: [(line: Int, event: Event)]
    public var skipped: [SkippedLine]
  }

  /// Reads every event of the log at `path` as `T` (`JSONValue` reads anything). Torn lines (a
  /// cut-short write: an unparsable line that opens an object and never closes it) are skipped and
  /// listed in `skipped`, for the caller to report; blank lines are ignored. Any other line that
  /// is not JSON, or is valid JSON but not a `T`, throws `.invalidInput` at `path:line`, so that a
  /// damaged log is never summed as if it were whole. A missing file throws `.missingFile`.
  public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> Contents<T> {
    let bytes = try AtomicFile.read(path)
    let decoder = JSONDecoder()
    var contents = Contents<T>(events: [], skipped: [])
    let endsWithNewline = bytes.last == 0x0A
    let lines = JSONLines.split(bytes)
    for (index, line) in lines.enumerated() {
      let isTornTail = index == lines.count - 1 && !endsWithNewline
      guard (try? JSONValue(parsing: line.bytes)) != nil else {
        guard line.bytes.first == UInt8(ascii: "{"), !closesItsFirstObject(line.bytes) else {
          throw HindcastError(
            .invalidInput, "line is not a JSON event (nor a torn one: an event cut short)",
            location: HindcastError.at(path, line: line.number),
            hint: "metrics.jsonl is written only by hindcast; restore it or remove the line")
        }
        contents.skipped.append(
          SkippedLine(
            line: line.number, reason: isTornTail ? .tornTail : .notJSON, byteCount: line.bytes.count))
        continue
      }
      do {
        contents.events.append((line.number, try decoder.decode(T.self, from: Data(line.bytes))))
      } catch {
        throw HindcastError(
          .invalidInput, "metrics event does not match \(T.self): \(JSONLines.describe(error))",
          location: HindcastError.at(path, line: line.number))
      }
    }
    return contents
  }
}

extension MetricsLog.Contents: Sendable where Event: Sendable {}

/// Whether the object that `bytes` opens is closed again (its braces balance, strings and
/// escapes taken into account). A write cut short never closes it; a complete line that still
/// does not parse is damage, not a torn write.
func closesItsFirstObject(_ bytes: ArraySlice<UInt8>) -> Bool {
  var depth = 0
  var inString = false
  var escaped = false
  for byte in bytes {
    if inString {
      if escaped {
        escaped = false
      } else if byte == UInt8(ascii: "\\") {
        escaped = true
      } else if byte == UInt8(ascii: "\"") {
        inString = false
      }
      continue
    }
    switch byte {
    case UInt8(ascii: "\""): inString = true
    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
    case UInt8(ascii: "}"), UInt8(ascii: "]"):
      depth -= 1
      if depth == 0 { return true }
    default: break
    }
  }
  return false
}
