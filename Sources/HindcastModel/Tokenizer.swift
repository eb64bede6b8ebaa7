/// Byte-level tokenizer: ids 0...255 are the UTF-8 bytes of the text, and a few special ids mark
/// the segments of a context (task, attempt, feedback, ...). Stateless and thread-safe.
///
/// A context is a sequence of segments, each a special marker followed by its text, for example
/// `<task>12+7=<answer>19<end>`. The student sees only the task; the teacher also sees the attempt,
/// the feedback, the critique and notes.
public enum Tokenizer {
  /// Special tokens that mark segments. Their raw values are their token ids.
  public enum Special: Int32, CaseIterable, Sendable, Codable {
    case task = 256
    case attempt = 257
    case feedback = 258
    case critique = 259
    case note = 260
    case answer = 261
    case end = 262
    case pad = 263

    /// How the token is rendered by `decode` and written in docs.
    public var marker: String {
      switch self {
      case .task: return "<task>"
      case .attempt: return "<attempt>"
      case .feedback: return "<feedback>"
      case .critique: return "<critique>"
      case .note: return "<note>"
      case .answer: return "<answer>"
      case .end: return "<end>"
      case .pad: return "<pad>"
      }
    }
  }

  /// Number of ids the tokenizer uses: 256 bytes plus the special tokens.
  public static let vocabSize = 256 + Special.allCases.count

  /// The UTF-8 bytes of `text` as token ids.
  public static func encode(_ text: String) -> [Int32] {
    text.utf8.map { Int32($0) }
  }

  /// A context made of segments: each special marker followed by its text.
  public static func encode(segments: [(Special, String)]) -> [Int32] {
    var tokens: [Int32] = []
    for (special, text) in segments {
      tokens.append(special.rawValue)
      tokens.append(contentsOf: encode(text))
    }
    return tokens
  }

  /// Renders ids as text. Bytes are decoded as UTF-8 (invalid sequences become U+FFFD), special
  /// ids become their markers, and ids outside the vocabulary become `<?ID>`.
  public static func decode(_ tokens: [Int32]) -> String {
    var result = ""
    var bytes: [UInt8] = []
    func flush() {
      if !bytes.isEmpty {
        result += String(decoding: bytes, as: UTF8.self)
        bytes.removeAll(keepingCapacity: true)
      }
    }
    for token in tokens {
      if (0...255).contains(token) {
        bytes.append(UInt8(token))
      } else {
        flush()
        result += Special(rawValue: token)?.marker ?? "<?\(token)>"
      }
    }
    flush()
    return result
  }

  /// Decodes only the byte tokens (drops special tokens), for example an attempt's text.
  public static func decodeText(_ tokens: [Int32]) -> String {
    String(decoding: tokens.compactMap { (0...255).contains($0) ? UInt8($0) : nil }, as: UTF8.self)
  }
}
