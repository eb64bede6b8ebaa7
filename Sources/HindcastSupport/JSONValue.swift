import Foundation

/// Free-form JSON data (checker details, metrics fields, shard header metadata) as a typed value.
///
/// Numbers are `Double`, so integers are exact up to 2^53. Objects are dictionaries: key order is
/// not kept in memory, and every rendering this module makes (`jsonText`, shards, metrics lines)
/// writes keys sorted, so the same value always serializes to the same bytes. Non-finite numbers
/// cannot be encoded (JSON has no NaN or infinity); encoding them throws.
///
/// Literals work: `let v: JSONValue = ["passed": true, "cases": [1, 2], "note": nil]`.
public enum JSONValue: Hashable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])
}

extension JSONValue: Codable {
  public init(from decoder: Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else if let value = try? container.decode([String: JSONValue].self) {
      self = .object(value)
    } else {
      throw DecodingError.dataCorruptedError(
        in: container, debugDescription: "not a JSON null, bool, number, string, array or object")
    }
  }

  public func encode(to encoder: Encoder) throws {
    switch self {
    case .null:
      var container = encoder.singleValueContainer()
      try container.encodeNil()
    case .bool(let value):
      var container = encoder.singleValueContainer()
      try container.encode(value)
    case .number(let value):
      var container = encoder.singleValueContainer()
      try container.encode(value)  // JSONEncoder writes whole numbers without a fraction: 3, not 3.0
    case .string(let value):
      var container = encoder.singleValueContainer()
      try container.encode(value)
    case .array(let values):
      var container = encoder.unkeyedContainer()
      for value in values { try container.encode(value) }
    case .object(let members):
      var container = encoder.container(keyedBy: MemberKey.self)
      for key in members.keys.sorted() {
        try container.encode(members[key], forKey: MemberKey(key))
      }
    }
  }

  private struct MemberKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }
}

extension JSONValue {
  /// Converts any `Encodable` value to its JSON form (through `JSONEncoder`). Throws
  /// `.invalidInput` if the value cannot be encoded (for example a NaN).
  public init(encoding value: some Encodable) throws {
    let data: Data
    do {
      data = try JSONEncoder().encode(value)
    } catch {
      throw HindcastError(.invalidInput, "value cannot be represented as JSON: \(error)")
    }
    self = try JSONDecoder().decode(JSONValue.self, from: data)
  }

  /// Parses JSON text. Throws `.invalidInput` with the decoder's reason.
  public init(parsing text: some Collection<UInt8>) throws {
    do {
      self = try JSONDecoder().decode(JSONValue.self, from: Data(text))
    } catch {
      throw HindcastError(.invalidInput, "not valid JSON: \(DecodingErrorText.describe(error))")
    }
  }

  /// Decodes this value as `T` (through its JSON form). Errors name the missing or mistyped field.
  public func decode<T: Decodable>(as type: T.Type) throws -> T {
    do {
      return try JSONDecoder().decode(T.self, from: JSONEncoder().encode(self))
    } catch {
      throw HindcastError(
        .invalidInput, "JSON value does not match \(T.self): \(DecodingErrorText.describe(error))")
    }
  }

  /// Compact JSON text with sorted keys, or nil if the value holds a non-finite number.
  public var jsonText: String? {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(self) else { return nil }
    return String(decoding: data, as: UTF8.self)
  }

  /// The member `key` of an object; nil for other cases or a missing key.
  public subscript(key: String) -> JSONValue? {
    if case .object(let members) = self { return members[key] }
    return nil
  }

  /// The element at `index` of an array; nil for other cases or an index out of range.
  public subscript(index: Int) -> JSONValue? {
    if case .array(let values) = self, values.indices.contains(index) { return values[index] }
    return nil
  }

  public var isNull: Bool { self == .null }

  public var boolValue: Bool? {
    if case .bool(let value) = self { return value }
    return nil
  }

  public var doubleValue: Double? {
    if case .number(let value) = self { return value }
    return nil
  }

  /// The number as an `Int` when it is whole and in range; nil otherwise.
  public var intValue: Int? {
    guard case .number(let value) = self, value.rounded() == value,
      abs(value) <= 9_007_199_254_740_992
    else { return nil }
    return Int(value)
  }

  public var stringValue: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  public var arrayValue: [JSONValue]? {
    if case .array(let values) = self { return values }
    return nil
  }

  public var objectValue: [String: JSONValue]? {
    if case .object(let members) = self { return members }
    return nil
  }
}

extension JSONValue: CustomStringConvertible {
  /// Compact JSON with sorted keys (non-finite numbers appear as `nan`/`inf`, which is not JSON).
  public var description: String {
    if let text = jsonText { return text }
    switch self {
    case .null: return "null"
    case .bool(let value): return "\(value)"
    case .number(let value): return "\(value)"
    case .string(let value): return "\"\(value)\""  // unreachable: strings always encode
    case .array(let values): return "[" + values.map(\.description).joined(separator: ",") + "]"
    case .object(let members):
      let parts = members.keys.sorted().map { key in
        JSONValue.string(key).description + ":" + (members[key] ?? .null).description
      }
      return "{" + parts.joined(separator: ",") + "}"
    }
  }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
  ExpressibleByDictionaryLiteral
{
  public init(nilLiteral: ()) { self = .null }
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  public init(integerLiteral value: Int) { self = .number(Double(value)) }
  public init(floatLiteral value: Double) { self = .number(value) }
  public init(stringLiteral value: String) { self = .string(value) }
  public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
  public init(dictionaryLiteral elements: (String, JSONValue)...) {
    var members: [String: JSONValue] = [:]
    for (key, value) in elements { members[key] = value }
    self = .object(members)
  }
}
