/// One entry of the append-only memory log. The memory state is a pure fold of these events in
/// order (`MemoryState.apply`); nothing else changes it.
public enum MemoryEvent: Hashable, Sendable {
  /// A note was proposed. Adding a note whose id already exists adds its provenance to the
  /// existing note (and changes nothing else).
  indirect case noteAdded(Note)
  /// One randomized exposure outcome from the rewrite stage.
  case observation(ValueObservation)
  /// A near-duplicate was merged into another note.
  case merged(NoteMerge)
  /// A note was retired (a tombstone; the note and its evidence stay in the store).
  case retired(NoteRetirement)
  /// A retired note was made active again.
  case restored(NoteRestoration)

  /// The event kind as written in the log's `event` field.
  public var kind: String {
    switch self {
    case .noteAdded: return "noteAdded"
    case .observation: return "observation"
    case .merged: return "merged"
    case .retired: return "retired"
    case .restored: return "restored"
    }
  }
}

/// The outcome of one rewrite in which a retrieved note was randomly included in the teacher's
/// context or withheld from it.
public struct ValueObservation: Hashable, Sendable {
  public var noteId: NoteId
  /// True if the note was in the teacher's context, false if it was withheld.
  public var included: Bool
  /// True if the rewrite was executed and verified correct.
  public var verified: Bool
  /// The task the rewrite was for.
  public var taskId: String
  public var round: Int
  /// The rewrite record id; (note, rewrite) pairs are counted once even if logged twice.
  public var rewriteId: String

  public init(noteId: NoteId, included: Bool, verified: Bool, taskId: String, round: Int, rewriteId: String) {
    self.noteId = noteId
    self.included = included
    self.verified = verified
    self.taskId = taskId
    self.round = round
    self.rewriteId = rewriteId
  }
}

/// `from` was folded into `into`: its evidence and provenance now count for `into`.
public struct NoteMerge: Hashable, Sendable {
  public var from: NoteId
  public var into: NoteId
  /// The text similarity that justified the merge (see `NoteSimilarity`), in [0, 1].
  public var similarity: Double

  public init(from: NoteId, into: NoteId, similarity: Double) {
    self.from = from
    self.into = into
    self.similarity = similarity
  }
}

public struct NoteRetirement: Hashable, Sendable {
  public var noteId: NoteId
  /// Why it was retired, e.g. "harmful: upper bound below zero" or a person's words.
  public var reason: String

  public init(noteId: NoteId, reason: String) {
    self.noteId = noteId
    self.reason = reason
  }
}

public struct NoteRestoration: Hashable, Sendable {
  public var noteId: NoteId
  public var reason: String

  public init(noteId: NoteId, reason: String) {
    self.noteId = noteId
    self.reason = reason
  }
}
