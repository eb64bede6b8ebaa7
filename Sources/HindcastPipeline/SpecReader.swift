import HindcastSupport

/// Reads typed, range-checked values out of a `TOMLDocument` and remembers which keys were read,
/// so that `finish()` can reject every key nobody asked for (a typo must never be ignored).
struct SpecReader {
  let document: TOMLDocument
  private(set) var used: Set<String> = []

  init(_ document: TOMLDocument) { self.document = document }

  /// The file and the line of `key`, or of its table when the key is absent.
  private func location(_ key: String) -> String {
    var line = document.entries[key]?.line ?? document.tables[key]
    var table = Substring(key)
    while line == nil, let dot = table.lastIndex(of: ".") {
      table = table[..<dot]
      line = document.tables[String(table)]
    }
    return HindcastError.at(document.source, line: line)
  }

  func invalid(_ key: String, _ message: String) -> HindcastError {
    HindcastError(.invalidConfig, "'\(key)' \(message)", location: location(key))
  }

  private mutating func entry(_ key: String) -> TOMLDocument.Entry? {
    used.insert(key)
    return document.entries[key]
  }

  mutating func int(_ key: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
    guard let entry = entry(key) else { return value }
    guard case .integer(let v) = entry.value else {
      throw invalid(key, "must be an integer, got a \(entry.value.typeName)")
    }
    guard range.contains(v) else {
      throw invalid(key, "must be in \(range.lowerBound)...\(range.upperBound), got \(v)")
    }
    return v
  }

  mutating func double(_ key: String, default value: Double, in range: ClosedRange<Double>) throws -> Double {
    guard let entry = entry(key) else { return value }
    let v: Double
    switch entry.value {
    case .float(let f): v = f
    case .integer(let i): v = Double(i)
    default: throw invalid(key, "must be a number, got a \(entry.value.typeName)")
    }
    guard range.contains(v), v.isFinite else {
      throw invalid(key, "must be in \(range.lowerBound)...\(range.upperBound), got \(v)")
    }
    return v
  }

  /// A sampling temperature: 0 (greedy) or in 0.001...`upper`, the range `SamplingSettings`
  /// accepts, so that a spec the reader passes never fails in a sampler.
  mutating func temperature(_ key: String, default value: Double, upper: Double = 10) throws -> Double {
    let v = try double(key, default: value, in: 0...upper)
    guard v == 0 || v >= 0.001 else {
      throw invalid(key, "must be 0 (greedy) or in 0.001...\(upper), got \(v)")
    }
    return v
  }

  /// A number in `range` that must also be above zero (`range.lowerBound` is usually 0).
  mutating func positive(_ key: String, default value: Double, in range: ClosedRange<Double>) throws -> Double
  {
    let v = try double(key, default: value, in: range)
    guard v > 0 else { throw invalid(key, "must be above 0 (up to \(range.upperBound)), got \(v)") }
    return v
  }

  mutating func bool(_ key: String, default value: Bool) throws -> Bool {
    guard let entry = entry(key) else { return value }
    guard case .bool(let v) = entry.value else {
      throw invalid(key, "must be true or false, got a \(entry.value.typeName)")
    }
    return v
  }

  mutating func string(_ key: String, default value: String?) throws -> String? {
    guard let entry = entry(key) else { return value }
    guard case .string(let v) = entry.value else {
      throw invalid(key, "must be a string, got a \(entry.value.typeName)")
    }
    return v
  }

  /// A string that must name one case of `T`; the error lists the allowed names.
  mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, default value: T) throws -> T
  where T.RawValue == String {
    guard let text = try string(key, default: nil) else { return value }
    guard let v = T(rawValue: text) else {
      let allowed = T.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
      throw invalid(key, "must be one of \(allowed), got '\(text)'")
    }
    return v
  }

  mutating func ints(_ key: String, default value: [Int], in range: ClosedRange<Int>) throws -> [Int] {
    guard let entry = entry(key) else { return value }
    guard case .array(let items) = entry.value else { throw invalid(key, "must be an array of integers") }
    return try items.map { item in
      guard case .integer(let v) = item, range.contains(v) else {
        throw invalid(key, "must hold integers in \(range.lowerBound)...\(range.upperBound)")
      }
      return v
    }
  }

  mutating func doubles(_ key: String, default value: [Double], in range: ClosedRange<Double>) throws
    -> [Double]
  {
    guard let entry = entry(key) else { return value }
    guard case .array(let items) = entry.value else { throw invalid(key, "must be an array of numbers") }
    return try items.map { item in
      let v: Double
      switch item {
      case .float(let f): v = f
      case .integer(let i): v = Double(i)
      default: throw invalid(key, "must hold numbers")
      }
      guard range.contains(v) else {
        throw invalid(key, "must hold numbers in \(range.lowerBound)...\(range.upperBound)")
      }
      return v
    }
  }

  mutating func strings(_ key: String, default value: [String]) throws -> [String] {
    guard let entry = entry(key) else { return value }
    guard case .array(let items) = entry.value else { throw invalid(key, "must be an array of strings") }
    return try items.map { item in
      guard case .string(let v) = item else { throw invalid(key, "must hold strings") }
      return v
    }
  }

  /// Throws for the first key or table (by line) that no reader asked for.
  func finish(knownTables: Set<String>) throws {
    let unknown = document.entries.filter { !used.contains($0.key) }.sorted { $0.value.line < $1.value.line }
    if let (key, _) = unknown.first {
      throw HindcastError(
        .invalidConfig, "unknown key '\(key)'", location: location(key),
        hint: "check the spelling; docs/pipeline-spec.md lists every key")
    }
    if let (table, line) = document.tables.filter({ !knownTables.contains($0.key) }).min(by: {
      $0.value < $1.value
    }) {
      throw HindcastError(
        .invalidConfig, "unknown table [\(table)]", location: HindcastError.at(document.source, line: line),
        hint: "docs/pipeline-spec.md lists every table")
    }
  }
}
