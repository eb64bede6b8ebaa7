import HindcastSupport

/// A parsed TOML document, restricted to the subset pipeline specs use: `[table]` and
/// `[table.sub]` headers, `key = value` pairs with bare or quoted keys, basic and literal strings,
/// integers (with `_` separators), floats (including exponents), booleans, single-line arrays of
/// those, and `#` comments. Anything else is rejected with the line number, never guessed at.
///
/// Values remember the line they came from so that schema errors can name it. Arrays nest at
/// most `maxNesting` deep, so a hostile value (`[[[[...`) is an error, not a stack overflow.
public struct TOMLDocument: Sendable {
  /// The deepest array nesting a value may have.
  public static let maxNesting = 32

  public enum Value: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    case array([Value])

    public var typeName: String {
      switch self {
      case .string: return "string"
      case .integer: return "integer"
      case .float: return "float"
      case .bool: return "boolean"
      case .array: return "array"
      }
    }
  }

  public struct Entry: Sendable {
    public let value: Value
    public let line: Int
  }

  /// Dotted key path (`"distill.lr"`) to entry, for every key in the document.
  public private(set) var entries: [String: Entry] = [:]
  /// Tables declared with a header, with their line.
  public private(set) var tables: [String: Int] = [:]
  /// The file the document came from, for error locations.
  public let source: String

  public init(text: String, source: String) throws {
    self.source = source
    var table = ""
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let number = index + 1
      var scanner = Scanner(Array(rawLine.utf8), line: number, source: source)
      scanner.skipSpace()
      if scanner.atEndOrComment { continue }
      if scanner.peek == UInt8(ascii: "[") {
        scanner.advance()
        if scanner.peek == UInt8(ascii: "[") {
          throw scanner.error("arrays of tables ([[...]]) are not supported in specs")
        }
        let name = try scanner.keyPath()
        scanner.skipSpace()
        try scanner.expect("]")
        scanner.skipSpace()
        guard scanner.atEndOrComment else { throw scanner.error("unexpected text after table header") }
        if tables[name] != nil { throw scanner.error("table [\(name)] is defined twice") }
        tables[name] = number
        table = name
        continue
      }
      let key = try scanner.keyPath()
      let path = table.isEmpty ? key : table + "." + key
      scanner.skipSpace()
      try scanner.expect("=")
      scanner.skipSpace()
      let value: Value
      do { value = try scanner.value() } catch let error as HindcastError {
        throw HindcastError(
          error.code, "'\(path)': \(error.message)", location: error.location, hint: error.hint)
      }
      scanner.skipSpace()
      guard scanner.atEndOrComment else {
        throw scanner.error("unexpected text after the value of '\(path)'")
      }
      if entries[path] != nil { throw scanner.error("key '\(path)' is set twice") }
      entries[path] = Entry(value: value, line: number)
    }
  }
}

/// A cursor over one line of TOML.
private struct Scanner {
  let bytes: [UInt8]
  let line: Int
  let source: String
  var index = 0

  init(_ bytes: [UInt8], line: Int, source: String) {
    self.bytes = bytes
    self.line = line
    self.source = source
  }

  var peek: UInt8? { index < bytes.count ? bytes[index] : nil }
  var atEndOrComment: Bool { peek == nil || peek == UInt8(ascii: "#") || peek == 13 }
  mutating func advance() { index += 1 }

  func error(_ message: String) -> HindcastError {
    HindcastError(
      .invalidConfig, message, location: HindcastError.at(source, line: line),
      hint: "specs use a TOML subset: [table] headers and key = value lines")
  }

  mutating func skipSpace() {
    while let c = peek, c == 32 || c == 9 { advance() }
  }

  mutating func expect(_ character: Character) throws {
    guard let c = peek, c == character.asciiValue else { throw error("expected '\(character)'") }
    advance()
  }

  static func isBare(_ c: UInt8) -> Bool {
    (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45
  }

  mutating func key() throws -> String {
    if peek == UInt8(ascii: "\"") { return try basicString() }
    let start = index
    while let c = peek, Self.isBare(c) { advance() }
    guard index > start else { throw error("expected a key") }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  mutating func keyPath() throws -> String {
    var parts = [try key()]
    skipSpace()
    while peek == UInt8(ascii: ".") {
      advance()
      skipSpace()
      parts.append(try key())
      skipSpace()
    }
    return parts.joined(separator: ".")
  }

  /// One value; `depth` counts the arrays it is nested in (bounded by `TOMLDocument.maxNesting`).
  mutating func value(depth: Int = 0) throws -> TOMLDocument.Value {
    guard let c = peek else { throw error("missing value") }
    switch c {
    case UInt8(ascii: "\""): return .string(try basicString())
    case UInt8(ascii: "'"): return .string(try literalString())
    case UInt8(ascii: "["):
      guard depth < TOMLDocument.maxNesting else {
        throw error("arrays nested more than \(TOMLDocument.maxNesting) deep")
      }
      return try array(depth: depth + 1)
    case UInt8(ascii: "{"): throw error("inline tables are not supported; use a [table] header")
    default: return try scalar()
    }
  }

  mutating func array(depth: Int) throws -> TOMLDocument.Value {
    advance()
    var items: [TOMLDocument.Value] = []
    while true {
      skipSpace()
      if peek == UInt8(ascii: "]") {
        advance()
        return .array(items)
      }
      items.append(try value(depth: depth))
      skipSpace()
      if peek == UInt8(ascii: ",") {
        advance()
      } else if peek != UInt8(ascii: "]") {
        throw error("expected ',' or ']' in array (arrays must be on one line)")
      }
    }
  }

  mutating func basicString() throws -> String {
    advance()
    var out: [UInt8] = []
    while let c = peek {
      advance()
      if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
      if c == UInt8(ascii: "\\") {
        guard let e = peek else { break }
        advance()
        switch e {
        case UInt8(ascii: "n"): out.append(10)
        case UInt8(ascii: "t"): out.append(9)
        case UInt8(ascii: "\\"): out.append(92)
        case UInt8(ascii: "\""): out.append(34)
        default: throw error("unsupported escape '\\\(Character(UnicodeScalar(e)))' in string")
        }
      } else {
        out.append(c)
      }
    }
    throw error("unterminated string")
  }

  mutating func literalString() throws -> String {
    advance()
    let start = index
    while let c = peek, c != UInt8(ascii: "'") { advance() }
    guard peek != nil else { throw error("unterminated string") }
    let text = String(decoding: bytes[start..<index], as: UTF8.self)
    advance()
    return text
  }

  mutating func scalar() throws -> TOMLDocument.Value {
    let start = index
    while let c = peek, c != 32, c != 9, c != UInt8(ascii: ","), c != UInt8(ascii: "]"),
      c != UInt8(ascii: "#"),
      c != 13
    {
      advance()
    }
    let text = String(decoding: bytes[start..<index], as: UTF8.self)
    if text == "true" { return .bool(true) }
    if text == "false" { return .bool(false) }
    let digits = String(text.filter { $0 != "_" })
    if let integer = Int(digits) { return .integer(integer) }
    if let float = Double(digits), digits.contains(where: { ".eE".contains($0) }) { return .float(float) }
    throw error("cannot read value '\(text)' (strings need quotes)")
  }
}
