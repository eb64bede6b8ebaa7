import HindcastMemory
import HindcastModel
import HindcastTasks

/// Revision examples of the stage-0 corpus: the teacher context for a flawed attempt (task,
/// attempt, feedback, the critique unless the spec's `rewrite.critique` is off, and optionally a
/// note), then the canonical solution.
///
/// The feedback names the first wrong step and its correct value, so the behaviour to learn is
/// "copy the attempt up to the wrong step, take the given value, continue correctly". For arith
/// the canonical scratchpad shares the attempt's prefix up to the error, so the target already
/// is that corrected continuation; what the plain cross-entropy does not do is tell the model
/// where the feedback matters. `weights.prefix` (`pretrain.revision_prefix_weight`) scales the
/// loss on the copied prefix (the completion tokens before the first error that also match the
/// attempt), which a direct example teaches anyway, so more of each revision example's gradient
/// goes to taking the given value and continuing from it. 1 is the plain example.
///
/// `weights.fix` (`pretrain.revision_fix_weight`) scales the loss on the corrected step: the
/// completion tokens from the end of the copied prefix up to and including the next `;` (arith's
/// step separator) or the end of the solution. Where the attempt is the policy's own mistake the
/// policy's own computation of that step is wrong, so the feedback's value (which names the
/// correct step) is what lowers the loss there; a weight above 1 makes that lesson count more.
enum RevisionCorpus {
  /// Loss weights of a revision example's parts (1 and 1: the plain example).
  struct Weights: Equatable {
    var prefix: Float = 1
    var fix: Float = 1
    static let plain = Weights()
  }

  static func example(
    task: TaskRecord, attempt: String, family: any TaskFamily, builder: ContextBuilder,
    noteWriter: RuleBasedNoteProposer? = nil, weights: Weights = .plain, critique showsCritique: Bool = true
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
      attempt: attempt, feedback: result.feedbackText(level: .full),
      critique: showsCritique ? critique.rendered : nil,
      notes: notes
    )
    let prompt = builder.teacher(task: task.prompt, hindsight: hindsight).tokens
    var sequence = TrainingSequence.supervised(
      prompt: prompt, completion: ContextBuilder.completion(task.canonical))
    guard weights != .plain else { return sequence }
    let copied = copiedPrefix(attempt: attempt, canonical: task.canonical, errorOffset: result.errorOffset)
    let fixed = correctedStepEnd(canonical: task.canonical, from: copied)
    // A non-empty teacher prompt keeps every completion term, so term i predicts token i.
    for i in sequence.terms.indices {
      if i < copied {
        sequence.terms[i].weight = weights.prefix
      } else if i < fixed {
        sequence.terms[i].weight = weights.fix
      }
    }
    return sequence
  }

  /// The end (exclusive, in solution bytes) of the corrected step that starts at `start`: just
  /// past the next `;` at or after `start`, or the solution's end.
  static func correctedStepEnd(canonical: String, from start: Int) -> Int {
    let bytes = Array(canonical.utf8)
    guard start < bytes.count else { return bytes.count }
    guard let separator = bytes[start...].firstIndex(of: UInt8(ascii: ";")) else { return bytes.count }
    return separator + 1
  }

  /// The number of leading solution bytes the attempt got right: its common prefix with the
  /// canonical solution, cut at the executor's error offset when there is one.
  static func copiedPrefix(attempt: String, canonical: String, errorOffset: Int?) -> Int {
    let common = zip(attempt.utf8, canonical.utf8).prefix { $0 == $1 }.count
    return min(common, errorOffset ?? common)
  }
}
