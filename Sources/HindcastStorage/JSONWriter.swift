/// A minimal, allocation-light JSON writer (the memory store's records and snapshots, and the
/// JSON lines of the memory commands).
///
/// Keys are written in the order the caller writes them, so output is byte-stable: the same
/// record always encodes to the same bytes (Foundation's `JSONEncoder` is both slower and free to
/// reorder keys). Strings are escaped per RFC 8259; non-ASCII text is written as UTF-8.
/// Nesting depth is limited to 63 levels, far more than any memory record uses.
public struct JSONWriter {
  public private(set) var bytes: [UInt8]
  /// Bit `d` is set when the container at depth `d` already holds an element.
  private var hasElement: UInt64 = 0
  private var depth = 0
  private var afterKey = false

  public init(capacity: Int = 256) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  /// Empties the buffer, keeping its capacity, for reuse between records.
  public mutating func reset() {
    bytes.removeAll(keepingCapacity: true)
    hasElement = 0
    depth = 0
    afterKey = false
  }

  private mutating func beforeValue() {
    if afterKey {
      afterKey = false
      return
    }
    if depth > 0 {
      let bit: UInt64 = 1 << UInt64(depth)
      if hasElement & bit != 0 { bytes.append(UInt8(ascii: ",")) }
      hasElement |= bit
    }
  }

  public mutating func beginObject() {
    beforeValue()
    bytes.append(UInt8(ascii: "{"))
    depth += 1
    hasElement &= ~(1 << UInt64(depth))
  }

  public mutating func endObject() {
    depth -= 1
    bytes.append(UInt8(ascii: "}"))
  }

  public mutating func beginArray() {
    beforeValue()
    bytes.append(UInt8(ascii: "["))
    depth += 1
    hasElement &= ~(1 << UInt64(depth))
  }

  public mutating func endArray() {
    depth -= 1
    bytes.append(UInt8(ascii: "]"))
  }

  /// Writes an object key; the next value written belongs to it.
  public mutating func key(_ name: String) {
    beforeValue()
    appendQuoted(name)
    bytes.append(UInt8(ascii: ":"))
    afterKey = true
  }

  public mutating func string(_ value: String) {
    beforeValue()
    appendQuoted(value)
  }

  /// Writes UTF-8 bytes as a JSON string (escaped like `string`).
  public mutating func string(utf8 bytes: ArraySlice<UInt8>) {
    beforeValue()
    bytes.withUnsafeBufferPointer { appendQuoted($0) }
  }

  public mutating func int(_ value: Int) {
    beforeValue()
    bytes.append(contentsOf: String(value).utf8)
  }

  public mutating func bool(_ value: Bool) {
    beforeValue()
    bytes.append(contentsOf: value ? JSONWriter.trueBytes : JSONWriter.falseBytes)
  }

  /// Writes a finite double in Swift's shortest round-trip form; non-finite values become `null`.
  public mutating func double(_ value: Double) {
    beforeValue()
    if value.isFinite {
      bytes.append(contentsOf: value.description.utf8)
    } else {
      bytes.append(contentsOf: JSONWriter.nullBytes)
    }
  }

  public mutating func null() {
    beforeValue()
    bytes.append(contentsOf: JSONWriter.nullBytes)
  }

  public mutating func stringArray(_ values: [String]) {
    beginArray()
    for value in values { string(value) }
    endArray()
  }

  // Convenience for `key` followed by a value.
  public mutating func field(_ name: String, _ value: String) {
    key(name)
    string(value)
  }
  public mutating func field(_ name: String, _ value: Int) {
    key(name)
    int(value)
  }
  public mutating func field(_ name: String, _ value: Bool) {
    key(name)
    bool(value)
  }
  public mutating func field(_ name: String, _ value: Double) {
    key(name)
    double(value)
  }
  public mutating func field(_ name: String, _ values: [String]) {
    key(name)
    stringArray(values)
  }

  private static let trueBytes: [UInt8] = Array("true".utf8)
  private static let falseBytes: [UInt8] = Array("false".utf8)
  private static let nullBytes: [UInt8] = Array("null".utf8)
  private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

  private mutating func appendQuoted(_ text: String) {
    var text = text
    text.withUTF8 { appendQuoted($0) }
  }

  private mutating func appendQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
    bytes.append(UInt8(ascii: "\""))
    var runStart = 0
    for index in 0..<utf8.count {
      let byte = utf8[index]
      guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
      if runStart < index {
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
      }
      runStart = index + 1
      bytes.append(UInt8(ascii: "\\"))
      switch byte {
      case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
      case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
      case 0x0A: bytes.append(UInt8(ascii: "n"))
      case 0x0D: bytes.append(UInt8(ascii: "r"))
      case 0x09: bytes.append(UInt8(ascii: "t"))
      case 0x08: bytes.append(UInt8(ascii: "b"))
      case 0x0C: bytes.append(UInt8(ascii: "f"))
      default:
        bytes.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30])
        bytes.append(JSONWriter.hexDigits[Int(byte >> 4)])
        bytes.append(JSONWriter.hexDigits[Int(byte & 0x0F)])
      }
    }
    if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
    bytes.append(UInt8(ascii: "\""))
  }
}
