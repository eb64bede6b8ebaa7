import HindcastMemory
import HindcastModel
import HindcastTasks

/// Revision examples of the stage-0 corpus: the teacher context for a flawed attempt (task,
/// attempt, feedback, critique and optionally a note), then the canonical solution.
///
/// The feedback names the first wrong step and its correct value, so the behaviour to learn is
/// "copy the attempt up to the wrong step, take the given value, continue correctly". For arith
/// the canonical scratchpad shares the attempt's prefix up to the error, so the target already
/// is that corrected continuation; what the plain cross-entropy does not do is tell the model
/// where the feedback matters. `prefixWeight` (`pretrain.revision_prefix_weight`) scales the
/// loss on the copied prefix (the completion tokens before the first error that also match the
/// attempt), which a direct example teaches anyway, so more of each revision example's gradient
/// goes to taking the given value and continuing from it. 1 is the plain example.
enum RevisionCorpus {
  static func example(
    task: TaskRecord, attempt: String, family: any TaskFamily, builder: ContextBuilder,
    noteWriter: RuleBasedNoteProposer? = nil, prefixWeight: Float = 1
  ) -> TrainingSequence {
    let result = family.execute(task: task, attempt: attempt)
    let critique = family.critique(task: task, attempt: attempt, result: result)
    var notes: [String] = []
    if let noteWriter {
      let evidence = NoteEvidence(
        family: task.family, features: task.features, critique: critique.text, causeTag: critique.cause,
        hint: critique.hint, verifiedRewrite: true,
        provenance: NoteProvenance(run: "pretrain", round: 0, sourceTaskId: task.id))
      notes = noteWriter.propose(from: evidence).prefix(1).map(\.text)
    }
    let hindsight = ContextBuilder.Hindsight(
      attempt: attempt, feedback: result.feedbackText(level: .full), critique: critique.rendered, notes: notes
    )
    let prompt = builder.teacher(task: task.prompt, hindsight: hindsight).tokens
    var sequence = TrainingSequence.supervised(
      prompt: prompt, completion: ContextBuilder.completion(task.canonical))
    guard prefixWeight != 1 else { return sequence }
    let copied = copiedPrefix(attempt: attempt, canonical: task.canonical, errorOffset: result.errorOffset)
    // A non-empty teacher prompt keeps every completion term, so term i predicts token i.
    for i in sequence.terms.indices where i < copied { sequence.terms[i].weight = prefixWeight }
    return sequence
  }

  /// The number of leading solution bytes the attempt got right: its common prefix with the
  /// canonical solution, cut at the executor's error offset when there is one.
  static func copiedPrefix(attempt: String, canonical: String, errorOffset: Int?) -> Int {
    let common = zip(attempt.utf8, canonical.utf8).prefix { $0 == $1 }.count
    return min(common, errorOffset ?? common)
  }
}
