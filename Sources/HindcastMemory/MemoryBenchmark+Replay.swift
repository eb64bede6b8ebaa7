extension MemoryBenchmark {
  /// Events that carry the contents of `state`: for every note, one `noteAdded` per provenance
  /// entry (the same text and scope, as the pipeline appends a note once per piece of evidence),
  /// then one `observation` per recorded observation, round by round. Merge and retirement events are left out:
  /// they are small and rare. Used to measure compression on what a real run stored.
  public static func events(rebuilding state: MemoryState) -> [MemoryEvent] {
    // Round by round, as the memory stage appends them: the round's notes, then its observations.
    var byRound: [Int: [MemoryEvent]] = [:]
    for record in state.records {
      let note = record.note
      for provenance in record.provenance {
        byRound[provenance.round, default: []].append(
          .noteAdded(
            Note(
              text: note.text, scope: note.scope, origin: note.origin, provenance: provenance,
              createdRound: provenance.round)))
      }
    }
    var observations: [Int: [MemoryEvent]] = [:]
    for record in state.records {
      for observation in record.observations {
        observations[observation.round, default: []].append(.observation(observation))
      }
    }
    let rounds = Set(byRound.keys).union(observations.keys).sorted()
    return rounds.flatMap { (byRound[$0] ?? []) + (observations[$0] ?? []) }
  }

  /// Compression (with and without a trained dictionary) of the events rebuilt from `state`,
  /// measured in fresh stores under `directory`.
  public static func compression(rebuilding state: MemoryState, in directory: String) throws -> [Measurement]
  {
    try compression(in: directory, events: events(rebuilding: state))
  }
}
