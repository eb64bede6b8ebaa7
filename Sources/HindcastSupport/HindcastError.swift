/// An error a user can act on: what went wrong, where, and what to do about it.
///
/// Libraries throw these; only the command-line layer decides how to print them and which exit
/// code to use. `location` names the file (and line or record when known) that caused the error.
public struct HindcastError: Error, CustomStringConvertible, Sendable, Equatable {
  /// A stable, machine-readable category. Tests and scripts match on this, not on the message.
  public enum Code: String, Sendable, Codable {
    case invalidConfig = "invalid-config"
    case invalidInput = "invalid-input"
    case corruptFile = "corrupt-file"
    case missingFile = "missing-file"
    case versionMismatch = "version-mismatch"
    case shapeMismatch = "shape-mismatch"
    case ioFailure = "io-failure"
    case compression = "compression"
    case missingPrerequisite = "missing-prerequisite"
    case sandbox = "sandbox"
    case internalInvariant = "internal-invariant"
  }

  public var code: Code
  /// What is wrong, in one sentence.
  public var message: String
  /// The file, optionally with `:line` or `#record`, that the error is about.
  public var location: String?
  /// What the user can do to fix it.
  public var hint: String?

  public init(_ code: Code, _ message: String, location: String? = nil, hint: String? = nil) {
    self.code = code
    self.message = message
    self.location = location
    self.hint = hint
  }

  public var description: String {
    var text = ""
    if let location { text += "\(location): " }
    text += message
    if let hint { text += "\n  hint: \(hint)" }
    return text
  }
}

extension HindcastError {
  /// Convenience for a file location with an optional 1-based line number.
  public static func at(_ path: String, line: Int? = nil) -> String {
    guard let line else { return path }
    return "\(path):\(line)"
  }
}
