import Foundation
import HindcastSupport

/// Helpers the task families use on the shared `JSONValue` (HindcastSupport).
extension JSONValue {
  /// Compact JSON with sorted keys: the same value always gives the same bytes.
  public var canonicalText: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(self) else { return "null" }
    return String(decoding: data, as: UTF8.self)
  }

  /// Parses JSON text. Throws `HindcastError(.invalidInput)` with the decoder's reason.
  public static func parse(_ bytes: [UInt8], location: String? = nil) throws -> JSONValue {
    do {
      return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    } catch {
      throw HindcastError(
        .invalidInput, "not valid JSON: \(shortReason(error))", location: location,
        hint: "write one JSON value")
    }
  }

  static func shortReason(_ error: Error) -> String {
    if case DecodingError.dataCorrupted(let context) = error {
      let underlying = (context.underlyingError as NSError?)?.userInfo["NSDebugDescription"] as? String
      return underlying ?? context.debugDescription
    }
    return "\(error)"
  }
}
