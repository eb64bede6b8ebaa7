/// The near-duplicate measure: Jaccard similarity of word 3-shingles.
///
/// Text is lowercased and split into words (runs of letters and digits; everything else
/// separates words). Every run of digits becomes `0`, so notes that differ only in the numbers
/// of an example ("step 3" vs "step 5") count as the same strategy. The shingles are the
/// overlapping sequences of three consecutive words (texts of fewer than three words use their
/// words). Similarity = |A ∩ B| / |A ∪ B|, in [0, 1]; identical texts give 1.
///
/// Two notes are near-duplicates when they have the same scope and similarity ≥ the store's
/// `mergeThreshold`, 0.5 by default. For scale: one changed word in a 12-word note leaves 7 of
/// 13 distinct shingles shared (0.54, merged); two changed words far apart leave 4 of 16 (0.25,
/// kept apart). The threshold catches small rewordings of one piece of advice, not different
/// advice.
public struct ShingleSet: Hashable, Sendable {
  public let hashes: Set<UInt64>

  public init(_ text: String) {
    let words = ShingleSet.words(text)
    var hashes = Set<UInt64>()
    if words.count < 3 {
      for word in words { hashes.insert(ShingleSet.hash([word])) }
    } else {
      for start in 0...(words.count - 3) { hashes.insert(ShingleSet.hash(words[start..<start + 3])) }
    }
    self.hashes = hashes
  }

  /// Lowercased words with digit runs replaced by `0`.
  static func words(_ text: String) -> [String] {
    var words: [String] = []
    var current = ""
    var inDigits = false
    func flush() {
      if !current.isEmpty { words.append(current) }
      current = ""
      inDigits = false
    }
    for character in text.lowercased() {
      if character.isNumber {
        if !inDigits { current.append("0") }
        inDigits = true
      } else if character.isLetter {
        inDigits = false
        current.append(character)
      } else {
        flush()
      }
    }
    flush()
    return words
  }

  private static func hash<Words: Collection>(_ words: Words) -> UInt64 where Words.Element == String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for word in words {
      for byte in word.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
      }
      hash ^= 0x20
      hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
  }

  /// Jaccard similarity with another set; 1 when both are empty.
  public func jaccard(_ other: ShingleSet) -> Double {
    if hashes.isEmpty && other.hashes.isEmpty { return 1 }
    let shared = hashes.intersection(other.hashes).count
    return Double(shared) / Double(hashes.count + other.hashes.count - shared)
  }
}

public enum NoteSimilarity {
  /// The default merge threshold (see `ShingleSet`).
  public static let defaultThreshold = 0.5

  /// Jaccard similarity of the word 3-shingles of two texts.
  public static func similarity(_ a: String, _ b: String) -> Double {
    ShingleSet(a).jaccard(ShingleSet(b))
  }
}
