import HindcastSupport

/// The stable identifier of a note: a 64-bit hash of its scope and normalized text, printed as
/// 16 lowercase hex digits. Identical on every machine and in every process.
public struct NoteId: Hashable, Comparable, Sendable, CustomStringConvertible {
  public let value: UInt64

  public init(value: UInt64) { self.value = value }

  /// Parses 16 hex digits; nil for anything else.
  public init?(hex: String) {
    guard hex.utf8.count == 16, let value = UInt64(hex, radix: 16) else { return nil }
    self.value = value
  }

  /// The id of a note with this scope and text (the text is normalized first, see `NoteText`).
  public init(scope: NoteScope, text: String) {
    var bytes = Array("hindcast-note-v1".utf8)
    bytes.append(0)
    bytes.append(contentsOf: scope.family.utf8)
    for feature in scope.features {
      bytes.append(0x1F)
      bytes.append(contentsOf: feature.utf8)
    }
    bytes.append(0)
    bytes.append(contentsOf: NoteText.identityForm(text).utf8)
    // FNV-1a followed by the SplitMix64 finalizer (a bijection) so that every hex digit, and
    // therefore every id prefix, is well mixed.
    var mixer = SplitMix64(state: StableHash.fnv1a64(bytes: bytes))
    value = mixer.next()
  }

  public var description: String { StableHash.hex(value) }

  public static func < (lhs: NoteId, rhs: NoteId) -> Bool { lhs.value < rhs.value }
}

/// Text normalization used for ids and similarity.
public enum NoteText {
  /// The stored form of a note's text: leading and trailing whitespace removed and every run of
  /// whitespace (including newlines) collapsed to one space.
  public static func clean(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    var pendingSpace = false
    for character in text {
      if character.isWhitespace {
        pendingSpace = !result.isEmpty
        continue
      }
      if pendingSpace {
        result.append(" ")
        pendingSpace = false
      }
      result.append(character)
    }
    return result
  }

  /// The form that decides identity: the clean form, lowercased.
  public static func identityForm(_ text: String) -> String {
    clean(text).lowercased()
  }

  /// The number of model tokens a note costs in a context: one per UTF-8 byte (the embedded
  /// model is byte-level) plus one `<note>` marker.
  public static func tokenCount(_ text: String) -> Int {
    text.utf8.count + 1
  }
}

/// Where a note applies: a task family and the task features it is about. Features are kept
/// sorted and unique, so two scopes with the same features in another order are equal.
/// A scope without features applies to the whole family.
public struct NoteScope: Hashable, Sendable {
  public let family: String
  public let features: [String]

  public init(family: String, features: [String] = []) {
    self.family = NoteText.clean(family)
    self.features = Array(Set(features.map(NoteText.clean).filter { !$0.isEmpty })).sorted()
  }

  /// A readable one-line rendering, e.g. `arith[carry,multi-digit]`.
  public var label: String {
    features.isEmpty ? family : family + "[" + features.joined(separator: ",") + "]"
  }
}

/// What kind of evidence a note was written from.
public enum NoteOrigin: String, Sendable, CaseIterable, Comparable {
  /// A critique of a failed attempt.
  case critique
  /// A hindsight rewrite that was executed and verified.
  case verifiedRewrite
  /// Raw execution feedback (an error or a failing test), without a critique.
  case executionFeedback

  public static func < (lhs: NoteOrigin, rhs: NoteOrigin) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Where a note came from, down to the records of the run that produced it.
public struct NoteProvenance: Hashable, Sendable {
  /// The run directory name (or another run identifier).
  public var run: String
  /// The pipeline round whose records produced the note.
  public var round: Int
  /// Rollout record ids (the student attempts) the note was written from.
  public var rolloutIds: [String]
  /// Feedback record ids (execution results and critiques).
  public var feedbackIds: [String]
  /// Rewrite record ids (hindsight trajectories).
  public var rewriteIds: [String]
  /// The task the evidence was about; retrieval never returns a note for its own source task.
  public var sourceTaskId: String
  /// Whether the source task is held out; such notes are excluded from retrieval by default.
  public var sourceIsHeldOut: Bool

  public init(
    run: String, round: Int, rolloutIds: [String] = [], feedbackIds: [String] = [], rewriteIds: [String] = [],
    sourceTaskId: String, sourceIsHeldOut: Bool = false
  ) {
    self.run = run
    self.round = round
    self.rolloutIds = rolloutIds
    self.feedbackIds = feedbackIds
    self.rewriteIds = rewriteIds
    self.sourceTaskId = sourceTaskId
    self.sourceIsHeldOut = sourceIsHeldOut
  }
}

/// A strategy note ("when X, do Y, because Z"): immutable once written. Its value and status live
/// in the folded state (`NoteRecord`), never in the note.
public struct Note: Hashable, Sendable {
  public let id: NoteId
  /// The clean text (see `NoteText.clean`).
  public let text: String
  public let scope: NoteScope
  public let origin: NoteOrigin
  public let provenance: NoteProvenance
  public let createdRound: Int

  /// Makes a note; its id is derived from `scope` and `text`.
  public init(
    text: String, scope: NoteScope, origin: NoteOrigin, provenance: NoteProvenance, createdRound: Int
  ) {
    let clean = NoteText.clean(text)
    self.id = NoteId(scope: scope, text: clean)
    self.text = clean
    self.scope = scope
    self.origin = origin
    self.provenance = provenance
    self.createdRound = createdRound
  }

  /// Rebuilds a decoded note, keeping the id that was stored (verification recomputes it).
  init(
    storedId: NoteId, text: String, scope: NoteScope, origin: NoteOrigin, provenance: NoteProvenance,
    createdRound: Int
  ) {
    self.id = storedId
    self.text = text
    self.scope = scope
    self.origin = origin
    self.provenance = provenance
    self.createdRound = createdRound
  }

  /// Tokens this note costs in a context (see `NoteText.tokenCount`).
  public var tokenCount: Int { NoteText.tokenCount(text) }
}
