import Foundation
import HindcastSupport

/// Reads JSON-lines files, plain (`.jsonl`) or zstd-compressed (`.jsonl.zst`, detected by the zstd
/// magic number, not the name). Blank lines are skipped; errors name the file and 1-based line.
public enum JSONLines {
  /// One non-blank line of a JSON-lines file with its 1-based line number.
  public struct Line: Sendable {
    public let number: Int
    public let bytes: ArraySlice<UInt8>
  }

  /// The non-blank lines of `path`, decompressed if it is zstd data.
  public static func lines(of path: String) throws -> [Line] {
    var bytes = try AtomicFile.read(path)
    if bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) {
      bytes = try Zstd.decompress(bytes, what: path)
    }
    return split(bytes)
  }

  /// Splits a buffer on newlines, dropping blank lines (and a trailing carriage return).
  public static func split(_ bytes: [UInt8]) -> [Line] {
    var result: [Line] = []
    var start = 0
    var number = 1
    for index in 0...bytes.count {
      if index == bytes.count || bytes[index] == 0x0A {
        var end = index
        if end > start && bytes[end - 1] == 0x0D { end -= 1 }
        let slice = bytes[start..<end]
        if slice.contains(where: { $0 != 0x20 && $0 != 0x09 }) {
          result.append(Line(number: number, bytes: slice))
        }
        start = index + 1
        number += 1
      }
    }
    return result
  }

  /// Decodes every line of `path` as `T`. A line that is not valid JSON or lacks a field fails
  /// with `path:line` and the decoder's reason.
  public static func decode<T: Decodable>(_ type: T.Type, from path: String) throws -> [T] {
    let decoder = JSONDecoder()
    return try lines(of: path).map { line in
      do {
        return try decoder.decode(T.self, from: Data(line.bytes))
      } catch {
        throw HindcastError(
          .invalidInput, "malformed JSON line: \(describe(error))",
          location: HindcastError.at(path, line: line.number),
          hint: "each line must be one JSON object of the expected shape")
      }
    }
  }

  /// A short, readable reason for a `DecodingError` (see `DecodingErrorText`).
  public static func describe(_ error: Error) -> String { DecodingErrorText.describe(error) }
}
