import Foundation
import HindcastSupport

/// The safetensors format (as written and read by Python's `safetensors` package), for float32
/// tensors:
///
///     u64 little-endian N | N bytes of JSON header | data
///
/// The header maps each tensor name to `{"dtype": "F32", "shape": [...], "data_offsets": [b, e]}`
/// (offsets in bytes, relative to the start of the data) and may hold `"__metadata__"`, a map of
/// strings. The header is padded with spaces so the data starts at an 8-byte boundary. Data is
/// row-major and little-endian; tensors tile the data region exactly, without gaps or overlaps.
///
/// Hindcast writes tensors sorted by name with a compact header, so the same tensors and metadata
/// always give the same bytes.
public enum SafeTensors {
  /// One tensor to write: `values.count` must equal the product of `shape` (1 for `[]`).
  public typealias NamedTensor = (name: String, shape: [Int], values: [Float])

  /// The header key that holds string metadata instead of a tensor.
  public static let metadataKey = "__metadata__"

  /// Headers larger than this are rejected as corrupt (the Python package uses the same bound).
  public static let maximumHeaderLength = 100_000_000

  /// Dtypes defined by the format. Hindcast reads and writes only `F32`.
  public static let knownDtypes: Set<String> = [
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64",
    "I64", "U64",
  ]

  /// Atomically writes `tensors` and `metadata` to `path` (via `AtomicFile`). Throws
  /// `.invalidInput` for a duplicate or reserved name, a negative dimension, or a value count
  /// that does not match its shape.
  public static func write(_ tensors: [NamedTensor], metadata: [String: String] = [:], to path: String)
    throws
  {
    try AtomicFile.write(encode(tensors, metadata: metadata, location: path), to: path)
  }

  /// The bytes of a safetensors file holding `tensors` (sorted by name) and `metadata`.
  /// `location` names the destination in errors.
  public static func encode(
    _ tensors: [NamedTensor], metadata: [String: String] = [:], location: String? = nil
  )
    throws -> [UInt8]
  {
    let sorted = tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    var header = "{"
    var needsComma = false
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map {
        jsonString($0) + ":" + jsonString(metadata[$0] ?? "")
      }
      header += jsonString(metadataKey) + ":{" + pairs.joined(separator: ",") + "}"
      needsComma = true
    }
    var offset = 0
    var previousName: String?
    for tensor in sorted {
      func reject(_ reason: String) -> HindcastError {
        HindcastError(.invalidInput, "cannot write tensor '\(tensor.name)': \(reason)", location: location)
      }
      if tensor.name == metadataKey { throw reject("the name is reserved for metadata") }
      if tensor.name == previousName { throw reject("the name appears twice") }
      previousName = tensor.name
      guard tensor.shape.allSatisfy({ $0 >= 0 }), let count = elementCount(tensor.shape) else {
        throw reject("invalid shape \(tensor.shape)")
      }
      guard count == tensor.values.count else {
        throw reject("shape \(tensor.shape) holds \(count) values but \(tensor.values.count) were given")
      }
      if needsComma { header += "," }
      needsComma = true
      let end = offset + 4 * count
      header += jsonString(tensor.name) + ":{\"dtype\":\"F32\",\"shape\":["
      header += tensor.shape.map(String.init).joined(separator: ",")
      header += "],\"data_offsets\":[\(offset),\(end)]}"
      offset = end
    }
    header += "}"
    var headerBytes = Array(header.utf8)
    while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }

    var bytes: [UInt8] = []
    bytes.reserveCapacity(8 + headerBytes.count + offset)
    withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: headerBytes)
    for tensor in sorted { appendLittleEndian(tensor.values, to: &bytes) }
    return bytes
  }

  /// Reads and validates a safetensors file of `F32` tensors. Any structural problem (short
  /// file, header length beyond the file, invalid JSON, bad shapes or offsets, overlapping or
  /// missing data, trailing bytes) throws `.corruptFile` naming `path` and the problem; a valid
  /// file with a dtype other than `F32` throws `.invalidInput`.
  public static func read(_ path: String) throws -> SafeTensorsFile {
    try decode(AtomicFile.read(path), path: path)
  }

  /// Parses the bytes of a safetensors file; `path` is used in errors. See `read(_:)`.
  public static func decode(_ bytes: [UInt8], path: String) throws -> SafeTensorsFile {
    func corrupt(_ problem: String) -> HindcastError {
      HindcastError(
        .corruptFile, "not a valid safetensors file: \(problem)", location: path,
        hint: "the file is damaged or was not written completely; restore or rewrite it")
    }
    guard bytes.count >= 8 else {
      throw corrupt("the file is \(bytes.count) bytes, shorter than the 8-byte header length")
    }
    var rawLength: UInt64 = 0
    for index in (0..<8).reversed() { rawLength = rawLength << 8 | UInt64(bytes[index]) }
    guard rawLength <= UInt64(maximumHeaderLength) else {
      throw corrupt("the header length \(rawLength) exceeds the limit of \(maximumHeaderLength) bytes")
    }
    let headerLength = Int(rawLength)
    guard headerLength <= bytes.count - 8 else {
      throw corrupt("the header length \(headerLength) runs past the end of the \(bytes.count)-byte file")
    }
    let headerBytes = bytes[8..<(8 + headerLength)]
    guard headerBytes.first == UInt8(ascii: "{") else {
      throw corrupt("the header does not start with '{'")
    }
    let header: Header
    do {
      header = try JSONDecoder().decode(Header.self, from: Data(headerBytes))
    } catch {
      throw corrupt("the header is not valid JSON of the expected shape (\(JSONLines.describe(error)))")
    }

    let dataStart = 8 + headerLength
    let dataLength = bytes.count - dataStart
    var spans: [(name: String, begin: Int, end: Int)] = []
    for (name, entry) in header.tensors {
      guard knownDtypes.contains(entry.dtype) else {
        throw corrupt("tensor '\(name)' has unknown dtype '\(entry.dtype)'")
      }
      guard entry.dtype == "F32" else {
        throw HindcastError(
          .invalidInput, "tensor '\(name)' has dtype \(entry.dtype); Hindcast reads only F32 tensors",
          location: path, hint: "convert the tensors to float32 before saving (for example tensor.float())")
      }
      guard entry.shape.allSatisfy({ $0 >= 0 }), let count = elementCount(entry.shape) else {
        throw corrupt("tensor '\(name)' has an invalid shape \(entry.shape)")
      }
      guard entry.dataOffsets.count == 2 else {
        throw corrupt("tensor '\(name)' has \(entry.dataOffsets.count) data offsets instead of 2")
      }
      let begin = entry.dataOffsets[0]
      let end = entry.dataOffsets[1]
      guard begin >= 0, begin <= end, end <= dataLength else {
        throw corrupt(
          "tensor '\(name)' has data offsets [\(begin), \(end)] outside the \(dataLength) bytes of data")
      }
      guard end - begin == 4 * count else {
        throw corrupt(
          "tensor '\(name)' has \(end - begin) bytes of data but shape \(entry.shape) needs \(4 * count)")
      }
      spans.append((name, begin, end))
    }
    spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var covered = 0
    for span in spans {
      if span.begin < covered {
        throw corrupt("the data of tensor '\(span.name)' overlaps another tensor's")
      }
      if span.begin > covered {
        throw corrupt("bytes \(covered)..<\(span.begin) of the data belong to no tensor")
      }
      covered = span.end
    }
    if covered != dataLength {
      throw corrupt("\(dataLength - covered) trailing bytes follow the last tensor")
    }

    var tensors: [String: SafeTensorsFile.Tensor] = [:]
    for (name, entry) in header.tensors {
      let begin = dataStart + entry.dataOffsets[0]
      let end = dataStart + entry.dataOffsets[1]
      tensors[name] = SafeTensorsFile.Tensor(shape: entry.shape, values: readLittleEndian(bytes[begin..<end]))
    }
    return SafeTensorsFile(path: path, tensors: tensors, metadata: header.metadata)
  }

  /// The number of elements of `shape`, or nil if it overflows.
  static func elementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      if overflow || product > Int.max / 8 { return nil }
      count = product
    }
    return count
  }

  static func appendLittleEndian(_ values: [Float], to bytes: inout [UInt8]) {
    #if _endian(little)
      values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    #else
      for value in values {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
      }
    #endif
  }

  static func readLittleEndian(_ slice: ArraySlice<UInt8>) -> [Float] {
    let count = slice.count / 4
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      slice.withUnsafeBytes { raw in
        for index in 0..<count {
          let bits = raw.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
          buffer[index] = Float(bitPattern: UInt32(littleEndian: bits))
        }
      }
      initialized = count
    }
  }

  /// A JSON string literal for `text`, escaping quotes, backslashes and control characters.
  static func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20:
        let digits = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }

  /// The decoded JSON header: tensors by name and the optional metadata.
  struct Header: Decodable {
    struct Entry: Decodable {
      let dtype: String
      let shape: [Int]
      let dataOffsets: [Int]
      enum CodingKeys: String, CodingKey {
        case dtype, shape
        case dataOffsets = "data_offsets"
      }
    }

    struct Key: CodingKey {
      let stringValue: String
      init(stringValue: String) { self.stringValue = stringValue }
      var intValue: Int? { nil }
      init?(intValue: Int) { nil }
    }

    var tensors: [String: Entry] = [:]
    var metadata: [String: String] = [:]

    init(from decoder: Decoder) throws {
      let container = try decoder.container(keyedBy: Key.self)
      for key in container.allKeys {
        if key.stringValue == SafeTensors.metadataKey {
          metadata = try container.decode([String: String].self, forKey: key)
        } else {
          tensors[key.stringValue] = try container.decode(Entry.self, forKey: key)
        }
      }
    }
  }
}

/// The contents of a safetensors file: float32 tensors by name and the string metadata.
public struct SafeTensorsFile: Sendable {
  /// One tensor: row-major values with `values.count == shape.reduce(1, *)`.
  public struct Tensor: Sendable, Equatable {
    public let shape: [Int]
    public let values: [Float]
    public init(shape: [Int], values: [Float]) {
      self.shape = shape
      self.values = values
    }
  }

  /// The file the tensors were read from (used in errors).
  public let path: String
  public let tensors: [String: Tensor]
  public let metadata: [String: String]

  public init(path: String, tensors: [String: Tensor], metadata: [String: String]) {
    self.path = path
    self.tensors = tensors
    self.metadata = metadata
  }

  /// Tensor names in byte order.
  public var names: [String] { tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }

  /// The tensor called `name`, checked against `expectedShape` when given. Throws
  /// `.corruptFile` if it is missing and `.shapeMismatch` (naming both shapes) if it differs.
  public func tensor(_ name: String, expectedShape: [Int]? = nil) throws -> Tensor {
    guard let tensor = tensors[name] else {
      throw HindcastError(
        .corruptFile, "tensor '\(name)' is missing", location: path,
        hint: "the file holds \(tensors.count) tensors; it may come from a different model or version")
    }
    if let expectedShape, tensor.shape != expectedShape {
      throw HindcastError(
        .shapeMismatch, "tensor '\(name)' has shape \(tensor.shape) but \(expectedShape) is expected",
        location: path,
        hint: "the weights do not match the model config; use the config they were trained with")
    }
    return tensor
  }
}
