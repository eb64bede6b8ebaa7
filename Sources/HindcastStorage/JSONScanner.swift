#if canImport(Glibc)
  import Glibc
#endif

/// A pull parser for JSON records, fast enough to replay a million memory events in well under a
/// second (the memory store's log, snapshots and inspection read through it).
///
/// It reads RFC 8259 JSON from a buffer the caller keeps alive (see `JSONScanner.scan`); callers
/// walk objects key by key and read the values they expect, skipping unknown keys so newer
/// writers stay readable. Errors are `JSONScanError` with the byte offset; the store wraps them
/// in a `HindcastError` that names the file and record.
public struct JSONScanner {
  private let buffer: UnsafeBufferPointer<UInt8>
  private(set) var position = 0

  /// The byte offset of the next unread byte.
  public var offset: Int { position }

  /// The whole input (valid only during the scan, like the scanner itself).
  public var input: UnsafeBufferPointer<UInt8> { buffer }

  /// Iteration state of one object or array: whether an element has been read yet.
  public struct Cursor {
    fileprivate var first = true
  }

  private init(_ buffer: UnsafeBufferPointer<UInt8>) {
    self.buffer = buffer
  }

  /// Runs `body` with a scanner over `bytes`, then checks that nothing but whitespace follows.
  public static func scan<Result>(_ bytes: [UInt8], _ body: (inout JSONScanner) throws -> Result) throws
    -> Result
  {
    try bytes.withUnsafeBufferPointer { buffer in
      var scanner = JSONScanner(buffer)
      let result = try body(&scanner)
      scanner.skipWhitespace()
      guard scanner.position == buffer.count else { throw scanner.failure("trailing characters") }
      return result
    }
  }

  /// Like `scan`, over a slice of a larger buffer.
  public static func scan<Result>(_ bytes: ArraySlice<UInt8>, _ body: (inout JSONScanner) throws -> Result)
    throws
    -> Result
  {
    try bytes.withUnsafeBufferPointer { buffer in
      var scanner = JSONScanner(buffer)
      let result = try body(&scanner)
      scanner.skipWhitespace()
      guard scanner.position == buffer.count else { throw scanner.failure("trailing characters") }
      return result
    }
  }

  /// Runs `body` with a scanner over a buffer the caller keeps alive; call `expectEnd` to
  /// check that nothing follows the value.
  public static func scan<Result>(
    buffer: UnsafeBufferPointer<UInt8>, _ body: (inout JSONScanner) throws -> Result
  )
    rethrows
    -> Result
  {
    var scanner = JSONScanner(buffer)
    return try body(&scanner)
  }

  public mutating func expectEnd() throws {
    skipWhitespace()
    guard position == buffer.count else { throw failure("trailing characters") }
  }

  /// The byte range of a string value that has no escapes, or nil (nothing consumed beyond the
  /// opening quote) if it has some: the caller then reads the record the general way.
  public mutating func readPlainStringRange() throws -> Range<Int>? {
    try expect(UInt8(ascii: "\""))
    let start = position
    while position < buffer.count {
      let byte = buffer[position]
      if byte == UInt8(ascii: "\"") {
        position += 1
        return start..<(position - 1)
      }
      if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
      position += 1
    }
    throw failure("unterminated string")
  }

  /// Moves back to an earlier position (to re-read a value another way).
  public mutating func rewind(to offset: Int) { position = offset }

  /// Whether the bytes in `range` spell `literal`.
  public func bytes(_ range: Range<Int>, equal literal: StaticString) -> Bool {
    range.count == literal.utf8CodeUnitCount
      && memcmp(buffer.baseAddress! + range.lowerBound, literal.utf8Start, range.count) == 0
  }

  public func failure(_ reason: String) -> JSONScanError {
    JSONScanError(offset: position, reason: reason)
  }

  @inline(__always)
  private mutating func skipWhitespace() {
    while position < buffer.count {
      let byte = buffer[position]
      guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
      position += 1
    }
  }

  @inline(__always)
  private mutating func peek() throws -> UInt8 {
    skipWhitespace()
    guard position < buffer.count else { throw failure("unexpected end of input") }
    return buffer[position]
  }

  private mutating func expect(_ byte: UInt8) throws {
    guard try peek() == byte else {
      throw failure("expected '\(Character(Unicode.Scalar(byte)))'")
    }
    position += 1
  }

  public mutating func beginObject() throws -> Cursor {
    try expect(UInt8(ascii: "{"))
    return Cursor()
  }

  /// Consumes what stands before the next item of an object or array that ends in `closer` (a
  /// ',' after its first item); false, past `closer`, at its end.
  private mutating func enterItem(_ cursor: inout Cursor, closer: UInt8) throws -> Bool {
    let byte = try peek()
    if byte == closer {
      position += 1
      return false
    }
    if !cursor.first {
      guard byte == UInt8(ascii: ",") else {
        throw failure("expected ',' or '\(Character(Unicode.Scalar(closer)))'")
      }
      position += 1
    }
    cursor.first = false
    return true
  }

  /// `enterItem` for an object, leaving the position on the next key's opening quote.
  private mutating func enterKey(_ cursor: inout Cursor) throws -> Bool {
    guard try enterItem(&cursor, closer: UInt8(ascii: "}")) else { return false }
    guard try peek() == UInt8(ascii: "\"") else { throw failure("expected a key") }
    return true
  }

  /// The next key of the object, or nil after its closing brace.
  public mutating func nextKey(_ cursor: inout Cursor) throws -> String? {
    guard try enterKey(&cursor) else { return nil }
    let key = try readString()
    try expect(UInt8(ascii: ":"))
    return key
  }

  /// A key as it appears in the input, compared without building a `String`.
  public enum RawKey {
    case slice(UnsafeBufferPointer<UInt8>)
    /// A key that contained escapes, decoded.
    case owned([UInt8])

    public func matches(_ literal: StaticString) -> Bool {
      let count = literal.utf8CodeUnitCount
      switch self {
      case .slice(let bytes):
        guard bytes.count == count, let base = bytes.baseAddress else { return bytes.count == count }
        return memcmp(base, literal.utf8Start, count) == 0
      case .owned(let bytes):
        return bytes.withUnsafeBufferPointer { buffer in
          guard buffer.count == count, let base = buffer.baseAddress else { return buffer.count == count }
          return memcmp(base, literal.utf8Start, count) == 0
        }
      }
    }

    public var text: String {
      switch self {
      case .slice(let bytes): return String(decoding: bytes, as: UTF8.self)
      case .owned(let bytes): return String(decoding: bytes, as: UTF8.self)
      }
    }
  }

  /// Like `nextKey`, without allocating: the key is only valid during this scan.
  public mutating func nextRawKey(_ cursor: inout Cursor) throws -> RawKey? {
    guard try enterKey(&cursor) else { return nil }
    let start = position + 1
    var end = start
    while end < buffer.count && buffer[end] != UInt8(ascii: "\"") && buffer[end] != UInt8(ascii: "\\") {
      end += 1
    }
    let key: RawKey
    if end < buffer.count && buffer[end] == UInt8(ascii: "\"") {
      key = .slice(UnsafeBufferPointer(rebasing: buffer[start..<end]))
      position = end + 1
    } else {
      key = .owned(Array(try readString().utf8))
    }
    try expect(UInt8(ascii: ":"))
    return key
  }

  /// Reads a string of exactly 16 hex digits as a 64-bit value (note ids).
  public mutating func readHex64() throws -> UInt64 {
    try expect(UInt8(ascii: "\""))
    guard position + 17 <= buffer.count, buffer[position + 16] == UInt8(ascii: "\"") else {
      throw failure("expected a 16-digit hex id")
    }
    var value: UInt64 = 0
    for offset in 0..<16 {
      let byte = buffer[position + offset]
      let digit: UInt64
      switch byte {
      case 0x30...0x39: digit = UInt64(byte - 0x30)
      case 0x61...0x66: digit = UInt64(byte - 0x61 + 10)
      case 0x41...0x46: digit = UInt64(byte - 0x41 + 10)
      default: throw failure("expected a 16-digit hex id")
      }
      value = value << 4 | digit
    }
    position += 17
    return value
  }

  public mutating func beginArray() throws -> Cursor {
    try expect(UInt8(ascii: "["))
    return Cursor()
  }

  /// True when another element follows (positioned at it); false after the closing bracket.
  public mutating func nextElement(_ cursor: inout Cursor) throws -> Bool {
    try enterItem(&cursor, closer: UInt8(ascii: "]"))
  }

  /// True (and consumed) if the next value is `null`.
  public mutating func readNull() throws -> Bool {
    guard try peek() == UInt8(ascii: "n") else { return false }
    try literal("null")
    return true
  }

  public mutating func readBool() throws -> Bool {
    let byte = try peek()
    if byte == UInt8(ascii: "t") {
      try literal("true")
      return true
    }
    if byte == UInt8(ascii: "f") {
      try literal("false")
      return false
    }
    throw failure("expected true or false")
  }

  private mutating func literal(_ word: StaticString) throws {
    let count = word.utf8CodeUnitCount
    guard position + count <= buffer.count else { throw failure("unexpected end of input") }
    let start = word.utf8Start
    for index in 0..<count where buffer[position + index] != start[index] {
      throw failure("invalid literal")
    }
    position += count
  }

  public mutating func readInt() throws -> Int {
    _ = try peek()
    var negative = false
    if buffer[position] == UInt8(ascii: "-") {
      negative = true
      position += 1
    }
    var value = 0
    var digits = 0
    while position < buffer.count {
      let byte = buffer[position]
      guard byte >= 0x30 && byte <= 0x39 else { break }
      let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
      let (sum, overflow2) = times.addingReportingOverflow(Int(byte - 0x30))
      guard !overflow1 && !overflow2 else { throw failure("integer out of range") }
      value = sum
      digits += 1
      position += 1
    }
    guard digits > 0 else { throw failure("expected an integer") }
    if position < buffer.count {
      let next = buffer[position]
      if next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
        throw failure("expected an integer, found a fraction")
      }
    }
    return negative ? -value : value
  }

  public mutating func readDouble() throws -> Double {
    _ = try peek()
    let start = position
    while position < buffer.count {
      let byte = buffer[position]
      let isNumberByte =
        (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
        || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
      guard isNumberByte else { break }
      position += 1
    }
    let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<position]), as: UTF8.self)
    guard let value = Double(text), value.isFinite else {
      position = start
      throw failure("expected a number")
    }
    return value
  }

  public mutating func readString() throws -> String {
    try expect(UInt8(ascii: "\""))
    let start = position
    // Fast path: no escapes.
    while position < buffer.count {
      let byte = buffer[position]
      if byte == UInt8(ascii: "\"") {
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<position]), as: UTF8.self)
        position += 1
        return text
      }
      if byte == UInt8(ascii: "\\") { break }
      if byte < 0x20 { throw failure("control character in string") }
      position += 1
    }
    guard position < buffer.count else { throw failure("unterminated string") }
    var bytes = Array(UnsafeBufferPointer(rebasing: buffer[start..<position]))
    while position < buffer.count {
      let byte = buffer[position]
      position += 1
      if byte == UInt8(ascii: "\"") { return String(decoding: bytes, as: UTF8.self) }
      if byte < 0x20 { throw failure("control character in string") }
      guard byte == UInt8(ascii: "\\") else {
        bytes.append(byte)
        continue
      }
      guard position < buffer.count else { break }
      let escape = buffer[position]
      position += 1
      switch escape {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(escape)
      case UInt8(ascii: "n"): bytes.append(0x0A)
      case UInt8(ascii: "r"): bytes.append(0x0D)
      case UInt8(ascii: "t"): bytes.append(0x09)
      case UInt8(ascii: "b"): bytes.append(0x08)
      case UInt8(ascii: "f"): bytes.append(0x0C)
      case UInt8(ascii: "u"):
        var scalar = try readHex4()
        if scalar >= 0xD800 && scalar < 0xDC00 {
          // A high surrogate must be followed by an escaped low surrogate.
          guard position + 1 < buffer.count, buffer[position] == UInt8(ascii: "\\"),
            buffer[position + 1] == UInt8(ascii: "u")
          else { throw failure("unpaired surrogate") }
          position += 2
          let low = try readHex4()
          guard low >= 0xDC00 && low < 0xE000 else { throw failure("unpaired surrogate") }
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if scalar >= 0xDC00 && scalar < 0xE000 {
          throw failure("unpaired surrogate")
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw failure("invalid unicode escape") }
        bytes.append(contentsOf: String(Character(unicode)).utf8)
      default:
        throw failure("invalid escape")
      }
    }
    throw failure("unterminated string")
  }

  private mutating func readHex4() throws -> UInt32 {
    guard position + 4 <= buffer.count else { throw failure("truncated unicode escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = buffer[position]
      let digit: UInt32
      switch byte {
      case 0x30...0x39: digit = UInt32(byte - 0x30)
      case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
      case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
      default: throw failure("invalid unicode escape")
      }
      value = value << 4 | digit
      position += 1
    }
    return value
  }

  public mutating func readStringArray() throws -> [String] {
    var cursor = try beginArray()
    var values: [String] = []
    while try nextElement(&cursor) { values.append(try readString()) }
    return values
  }

  /// Skips one value of any type (used for keys this version does not know).
  public mutating func skipValue(depth: Int = 0) throws {
    guard depth < 64 else { throw failure("nesting too deep") }
    switch try peek() {
    case UInt8(ascii: "{"):
      var cursor = try beginObject()
      while try nextKey(&cursor) != nil { try skipValue(depth: depth + 1) }
    case UInt8(ascii: "["):
      var cursor = try beginArray()
      while try nextElement(&cursor) { try skipValue(depth: depth + 1) }
    case UInt8(ascii: "\""): _ = try readString()
    case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try readBool()
    case UInt8(ascii: "n"): _ = try readNull()
    default: _ = try readDouble()
    }
  }
}

/// A malformed JSON record: the byte offset inside the record and what was expected there.
public struct JSONScanError: Error, CustomStringConvertible {
  public let offset: Int
  public let reason: String
  public var description: String { "\(reason) at byte \(offset)" }
}
