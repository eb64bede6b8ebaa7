/// Turns Swift decoding errors into one-line reasons a person can act on.
public enum DecodingErrorText {
  /// A short, readable reason for a `DecodingError`: which field, and what was wrong.
  public static func describe(_ error: Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ context: DecodingError.Context) -> String {
      let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
      return keys.isEmpty ? "" : " at '\(keys.joined(separator: "."))'"
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing field '\(key.stringValue)'\(path(context))"
    case .typeMismatch(_, let context): return "wrong type\(path(context)): \(context.debugDescription)"
    case .valueNotFound(_, let context): return "null value\(path(context))"
    case .dataCorrupted(let context): return "not valid JSON\(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
  }
}
