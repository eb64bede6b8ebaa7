import HindcastSupport

/// A value in the list language: a list of integers or, after `sum`/`max`, one integer.
public enum ListValue: Equatable, Sendable {
  case list([Int])
  case number(Int)

  /// Compact text: "[3,1,2]" or "6".
  public var text: String {
    switch self {
    case .list(let items): return "[" + items.map(String.init).joined(separator: ",") + "]"
    case .number(let value): return String(value)
    }
  }

  /// The value from payload JSON (an array of integers or an integer), or nil.
  init?(json: JSONValue) {
    if let number = json.intValue {
      self = .number(number)
    } else if let items = json.arrayValue {
      let numbers = items.compactMap(\.intValue)
      guard numbers.count == items.count else { return nil }
      self = .list(numbers)
    } else {
      return nil
    }
  }

  var json: JSONValue {
    switch self {
    case .list(let items): return .array(items.map { .number(Double($0)) })
    case .number(let value): return .number(Double(value))
    }
  }
}

/// One operation of a list program.
public enum ListOp: Equatable, Sendable {
  case mapAdd(Int)
  case mapMul(Int)
  case keepGreater(Int)
  case keepLess(Int)
  case keepEven
  case keepOdd
  case sort
  case rev
  case take(Int)
  case drop(Int)
  case sum
  case max

  /// Canonical text, e.g. "map +3", "keep even", "take 2".
  public var text: String {
    switch self {
    case .mapAdd(let k): return "map +\(k)"
    case .mapMul(let k): return "map *\(k)"
    case .keepGreater(let k): return "keep >\(k)"
    case .keepLess(let k): return "keep <\(k)"
    case .keepEven: return "keep even"
    case .keepOdd: return "keep odd"
    case .sort: return "sort"
    case .rev: return "rev"
    case .take(let k): return "take \(k)"
    case .drop(let k): return "drop \(k)"
    case .sum: return "sum"
    case .max: return "max"
    }
  }

  /// The op's name without its argument ("map", "keep", "take", ...), for features and critiques.
  public var name: String { String(text.split(separator: " ").first ?? "") }

  /// Ops of the same kind (never generated twice in a row).
  var kind: String {
    switch self {
    case .keepGreater, .keepLess, .keepEven, .keepOdd: return "keep"
    case .mapAdd, .mapMul: return "map"
    default: return name
    }
  }

  var reduces: Bool { self == .sum || self == .max }
}

/// A parsed program: ops with the byte offset where each starts in the attempt.
public struct ListProgram: Equatable, Sendable {
  public var ops: [ListOp]
  public var offsets: [Int]

  public init(ops: [ListOp], offsets: [Int]? = nil) {
    self.ops = ops
    self.offsets = offsets ?? Array(repeating: 0, count: ops.count)
  }

  /// Canonical text: ops joined by "|".
  public var text: String { ops.map(\.text).joined(separator: "|") }
}

/// Why a program does not parse.
public struct ListParseError: Error, Equatable, Sendable {
  public enum Reason: String, Sendable {
    case emptyProgram = "empty-program"
    case emptyOp = "empty-op"
    case unknownOp = "unknown-op"
    case missingArgument = "missing-argument"
    case badArgument = "bad-argument"
    case unexpectedText = "unexpected-text"
  }
  public var position: Int
  public var reason: Reason
  public var message: String
}

/// Why a program failed while running.
public struct ListRuntimeError: Error, Equatable, Sendable {
  public enum Reason: String, Sendable {
    case takeTooLong = "take-too-long"
    case dropTooLong = "drop-too-long"
    case maxOfEmpty = "max-of-empty"
    case opAfterReduction = "op-after-reduction"
    case valueTooLarge = "value-too-large"
    case stepLimit = "step-limit"
  }
  /// Index of the failing op and its byte offset in the attempt.
  public var opIndex: Int
  public var position: Int
  public var reason: Reason
  public var message: String
}

/// Parser and interpreter of the list language (grammar in docs/tasks.md).
public enum ListLanguage {
  /// Step budget per run: each op costs the length of its input list (at least 1).
  public static let stepLimit = 1000
  /// Largest absolute value a computation may produce.
  public static let valueLimit = 1_000_000

  /// Parses `ops` separated by "|"; spaces around tokens are allowed. Positions are UTF-8 byte
  /// offsets.
  public static func parse(_ text: String) -> Result<ListProgram, ListParseError> {
    let bytes = Array(text.utf8)
    var cursor = 0
    var ops: [ListOp] = []
    var offsets: [Int] = []
    func skipSpaces() {
      while cursor < bytes.count && (bytes[cursor] == 0x20 || bytes[cursor] == 0x09) { cursor += 1 }
    }
    func fail(_ reason: ListParseError.Reason, _ message: String, at position: Int? = nil)
      -> Result<ListProgram, ListParseError>
    {
      .failure(ListParseError(position: position ?? cursor, reason: reason, message: message))
    }
    var end = bytes.count
    while end > 0 && [0x20, 0x09, 0x0A, 0x0D].contains(bytes[end - 1]) { end -= 1 }
    if end == 0 { return fail(.emptyProgram, "empty program", at: 0) }
    while true {
      skipSpaces()
      let start = cursor
      var wordEnd = cursor
      while wordEnd < end && (0x61...0x7A).contains(bytes[wordEnd]) { wordEnd += 1 }
      let word = String(decoding: bytes[start..<wordEnd], as: UTF8.self)
      cursor = wordEnd
      if word.isEmpty {
        if cursor >= end || bytes[cursor] == UInt8(ascii: "|") {
          return fail(.emptyOp, "missing op", at: start)
        }
        return fail(.unknownOp, "unknown op starting \(shown(bytes, at: cursor))", at: start)
      }
      skipSpaces()
      let op: ListOp
      switch word {
      case "sort": op = .sort
      case "rev": op = .rev
      case "sum": op = .sum
      case "max": op = .max
      case "take", "drop":
        guard let k = number(bytes, &cursor, end: end) else {
          return fail(.missingArgument, "\(word) needs a number")
        }
        op = word == "take" ? .take(k) : .drop(k)
      case "map":
        guard cursor < end, bytes[cursor] == UInt8(ascii: "+") || bytes[cursor] == UInt8(ascii: "*") else {
          return fail(.missingArgument, "map needs +k or *k")
        }
        let symbol = bytes[cursor]
        cursor += 1
        guard let k = number(bytes, &cursor, end: end) else {
          return fail(.missingArgument, "map needs a number")
        }
        op = symbol == UInt8(ascii: "+") ? .mapAdd(k) : .mapMul(k)
      case "keep":
        if cursor < end && (bytes[cursor] == UInt8(ascii: ">") || bytes[cursor] == UInt8(ascii: "<")) {
          let symbol = bytes[cursor]
          cursor += 1
          guard let k = number(bytes, &cursor, end: end) else {
            return fail(.missingArgument, "keep needs a number")
          }
          op = symbol == UInt8(ascii: ">") ? .keepGreater(k) : .keepLess(k)
        } else {
          var argumentEnd = cursor
          while argumentEnd < end && (0x61...0x7A).contains(bytes[argumentEnd]) { argumentEnd += 1 }
          switch String(decoding: bytes[cursor..<argumentEnd], as: UTF8.self) {
          case "even": op = .keepEven
          case "odd": op = .keepOdd
          default: return fail(.badArgument, "keep needs >k, <k, even or odd")
          }
          cursor = argumentEnd
        }
      default:
        return fail(.unknownOp, "unknown op '\(clipWord(word))'", at: start)
      }
      ops.append(op)
      offsets.append(start)
      skipSpaces()
      if cursor >= end { return .success(ListProgram(ops: ops, offsets: offsets)) }
      guard bytes[cursor] == UInt8(ascii: "|") else {
        return fail(.unexpectedText, "expected '|' after \(op.name), found \(shown(bytes, at: cursor))")
      }
      cursor += 1
    }
  }

  private static func number(_ bytes: [UInt8], _ cursor: inout Int, end: Int) -> Int? {
    let start = cursor
    var value = 0
    while cursor < end, (0x30...0x39).contains(bytes[cursor]), cursor - start < 4 {
      value = value * 10 + Int(bytes[cursor] - 0x30)
      cursor += 1
    }
    return cursor == start ? nil : value
  }

  private static func shown(_ bytes: [UInt8], at index: Int) -> String {
    guard index < bytes.count else { return "the end" }
    let byte = bytes[index]
    return (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte \(byte)"
  }

  private static func clipWord(_ word: String) -> String {
    word.count > 12 ? String(word.prefix(12)) + "..." : word
  }

  /// Runs `program` on `input`. Deterministic; bounded by `stepLimit` and `valueLimit`.
  public static func run(_ program: ListProgram, on input: [Int]) -> Result<ListValue, ListRuntimeError> {
    var value = ListValue.list(input)
    var steps = 0
    for (index, op) in program.ops.enumerated() {
      let position = index < program.offsets.count ? program.offsets[index] : 0
      func fail(_ reason: ListRuntimeError.Reason, _ message: String) -> Result<ListValue, ListRuntimeError> {
        .failure(ListRuntimeError(opIndex: index, position: position, reason: reason, message: message))
      }
      guard case .list(let items) = value else {
        return fail(.opAfterReduction, "\(op.name) on the number \(value.text)")
      }
      steps += Swift.max(1, items.count)
      if steps > stepLimit { return fail(.stepLimit, "step limit exceeded (\(stepLimit) steps)") }
      switch op {
      case .mapAdd(let k), .mapMul(let k):
        var mapped: [Int] = []
        for item in items {
          let (result, overflow) =
            if case .mapAdd = op { item.addingReportingOverflow(k) } else {
              item.multipliedReportingOverflow(by: k)
            }
          if overflow || abs(result) > valueLimit {
            return fail(.valueTooLarge, "\(op.text) gives a value over \(valueLimit)")
          }
          mapped.append(result)
        }
        value = .list(mapped)
      case .keepGreater(let k): value = .list(items.filter { $0 > k })
      case .keepLess(let k): value = .list(items.filter { $0 < k })
      case .keepEven: value = .list(items.filter { $0 % 2 == 0 })
      case .keepOdd: value = .list(items.filter { $0 % 2 != 0 })
      case .sort: value = .list(items.sorted())
      case .rev: value = .list(items.reversed())
      case .take(let k):
        if k > items.count { return fail(.takeTooLong, "take \(k) on a \(items.count)-element list") }
        value = .list(Array(items.prefix(k)))
      case .drop(let k):
        if k > items.count { return fail(.dropTooLong, "drop \(k) on a \(items.count)-element list") }
        value = .list(Array(items.dropFirst(k)))
      case .sum:
        let total = items.reduce(0, +)
        if abs(total) > valueLimit { return fail(.valueTooLarge, "sum gives a value over \(valueLimit)") }
        value = .number(total)
      case .max:
        guard let largest = items.max() else { return fail(.maxOfEmpty, "max of an empty list") }
        value = .number(largest)
      }
    }
    return .success(value)
  }
}
