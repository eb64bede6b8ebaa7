import HindcastModel
import HindcastStorage
import HindcastSupport

/// A training corpus as one token stream: every document's `Tokenizer.encode` followed by
/// `<end>`. Windows for training are drawn from it at positions chosen by a `SeededRandom`, so
/// the data order is fully determined by the generator's state.
public struct TokenCorpus: Sendable {
  /// Where the corpus came from (used in errors).
  public let source: String
  /// The token stream: document, `<end>`, document, `<end>`, ...
  public let tokens: [Int32]
  public let documentCount: Int

  /// One line of a corpus file.
  struct Line: Decodable {
    let text: String
  }

  /// Loads a JSON-lines corpus (`{"text": ...}` per line, plain or zstd-compressed). Throws
  /// `.invalidInput` naming `path:line` for a malformed line, and naming `path` for a corpus
  /// without documents.
  public static func load(_ path: String) throws -> TokenCorpus {
    let lines = try JSONLines.decode(Line.self, from: path)
    guard !lines.isEmpty else {
      throw HindcastError(
        .invalidInput, "the corpus has no documents", location: path,
        hint: "give a JSON-lines file with one {\"text\": ...} object per line")
    }
    return TokenCorpus(documents: lines.map(\.text), source: path)
  }

  /// A corpus made of `documents` in order.
  public init(documents: [String], source: String) {
    var tokens: [Int32] = []
    tokens.reserveCapacity(documents.reduce(0) { $0 + $1.utf8.count + 1 })
    for document in documents {
      tokens.append(contentsOf: Tokenizer.encode(document))
      tokens.append(Tokenizer.Special.end.rawValue)
    }
    self.source = source
    self.tokens = tokens
    self.documentCount = documents.count
  }

  /// A 16-hex-digit FNV-1a hash of the token stream, to detect a corpus that changed between a
  /// checkpoint and its resumption.
  public var fingerprint: String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    tokens.withUnsafeBufferPointer { buffer in
      for token in buffer {
        var value = UInt32(bitPattern: token)
        for _ in 0..<4 {
          hash ^= UInt64(value & 0xFF)
          hash = hash &* 0x0000_0100_0000_01B3
          value >>= 8
        }
      }
    }
    return StableHash.hex(hash)
  }

  /// Throws `.invalidInput` unless the stream holds at least one window of
  /// `sequenceLength + 1` tokens.
  public func requireWindow(sequenceLength: Int) throws {
    guard tokens.count >= sequenceLength + 1 else {
      throw HindcastError(
        .invalidInput,
        "the corpus has \(tokens.count) tokens, fewer than the \(sequenceLength + 1) one training window needs",
        location: source, hint: "use a larger corpus or a shorter sequence length")
    }
  }

  /// `batchSize` windows of `sequenceLength + 1` consecutive tokens, each starting at a uniform
  /// random position drawn from `random` (one draw per window, in order).
  public func sampleBatch(batchSize: Int, sequenceLength: Int, random: inout SeededRandom) throws -> [[Int32]]
  {
    try requireWindow(sequenceLength: sequenceLength)
    let positions = tokens.count - sequenceLength
    return (0..<batchSize).map { _ in
      let start = random.nextInt(below: positions)
      return Array(tokens[start..<(start + sequenceLength + 1)])
    }
  }
}
