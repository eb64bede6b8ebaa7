import HindcastSupport

/// Tuning of `MemoryState.retrieve`.
public struct RetrievalOptions: Hashable, Sendable {
  /// Weight of the posterior standard deviation in the optimistic value (`ValueEstimate.optimistic`):
  /// 0 ranks by the mean alone; larger values try uncertain notes more.
  public var explorationWeight: Double
  /// At most this many notes are returned.
  public var maxNotes: Int

  public init(explorationWeight: Double = 1.0, maxNotes: Int = 8) {
    self.explorationWeight = explorationWeight
    self.maxNotes = maxNotes
  }
}

/// A note chosen for a task, with the numbers that ranked it.
public struct RetrievedNote: Hashable, Sendable {
  public let note: Note
  /// Feature overlap with the task, in (0, 1].
  public let relevance: Double
  /// `estimate.optimistic(explorationWeight:)`, in [-1, 1].
  public let optimisticValue: Double
  /// `relevance · (1 + optimisticValue) / 2`, the ranking key.
  public let score: Double
  /// Tokens the note costs in a context (`NoteText.tokenCount`).
  public let tokens: Int
  public let estimate: ValueEstimate
}

extension MemoryState {
  /// Notes for a task: relevance times value, under a token budget.
  ///
  /// Eligible notes are active, of the same family, and either family-wide (no features) or
  /// sharing at least one feature with the task. Relevance is
  /// `(1 + |note ∩ task|) / (1 + |note ∪ task|)` over feature sets. Value is the optimistic
  /// value of the note's estimate mapped to [0, 1]. Notes are taken greedily by score (ties by
  /// id) while their tokens fit in what is left of `tokenBudget`; a note that does not fit is
  /// skipped and smaller ones may still be taken.
  ///
  /// Never returned: notes any of whose provenance (including that of notes merged into them)
  /// names a task in `excludingTaskIds`, and, when `excludeHeldOutSources` is true, notes with
  /// any provenance from a held-out task.
  ///
  /// - Parameter tokenBudget: total tokens of all returned notes, markers included (≥ 0).
  public func retrieve(
    family: String, features: [String], excludingTaskIds: Set<String>, excludeHeldOutSources: Bool = true,
    tokenBudget: Int, options: RetrievalOptions = RetrievalOptions()
  ) -> [RetrievedNote] {
    let taskScope = NoteScope(family: family, features: features)
    let taskFeatures = Set(taskScope.features)
    var candidates: [RetrievedNote] = []
    for record in records
    where record.status == .active && record.note.scope.family == taskScope.family {
      let noteFeatures = record.note.scope.features
      let shared = noteFeatures.reduce(0) { $0 + (taskFeatures.contains($1) ? 1 : 0) }
      guard noteFeatures.isEmpty || shared > 0 else { continue }
      let excluded = record.provenance.contains { provenance in
        excludingTaskIds.contains(provenance.sourceTaskId)
          || (excludeHeldOutSources && provenance.sourceIsHeldOut)
      }
      if excluded { continue }
      let union = noteFeatures.count + taskFeatures.count - shared
      let relevance = Double(1 + shared) / Double(1 + union)
      let estimate = record.estimate
      let optimistic = estimate.optimistic(explorationWeight: options.explorationWeight)
      candidates.append(
        RetrievedNote(
          note: record.note, relevance: relevance, optimisticValue: optimistic,
          score: relevance * (1 + optimistic) / 2, tokens: record.note.tokenCount, estimate: estimate))
    }
    candidates.sort { $0.score != $1.score ? $0.score > $1.score : $0.note.id < $1.note.id }
    var chosen: [RetrievedNote] = []
    var remaining = max(0, tokenBudget)
    for candidate in candidates where chosen.count < options.maxNotes {
      guard candidate.tokens <= remaining else { continue }
      chosen.append(candidate)
      remaining -= candidate.tokens
    }
    return chosen
  }
}

/// The randomized exposure of the rewrite stage: each retrieved note is included in the
/// teacher's context or withheld by an independent coin flip, and the assignment is recorded as
/// an observation once the rewrite is verified (see `ValueObservation`).
public enum NoteExposure {
  /// One coin flip per note, in order, from `random` (so the assignment is reproducible from
  /// the stage's derived seed). `inclusionProbability` must be in (0, 1); 0.5 gives the most
  /// information per rewrite.
  public static func assign(
    _ notes: [RetrievedNote], inclusionProbability: Double = 0.5, random: inout SeededRandom
  ) -> [(note: RetrievedNote, included: Bool)] {
    notes.map { note in (note, random.nextUnitDouble() < inclusionProbability) }
  }
}
