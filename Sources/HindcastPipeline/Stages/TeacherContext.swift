import HindcastModel
import HindcastSupport
import HindcastTasks

/// Which segments the teacher's context holds. Each segment is its own spec switch, so an
/// ablation that names one segment changes exactly that one:
///
/// | segment | spec key | what the teacher sees |
/// |---|---|---|
/// | feedback | `rewrite.feedback` | `full` (the first wrong step and its correct value), `location` (where, not the value) or `bare` ("wrong") |
/// | critique | `rewrite.critique` | the critic's cause and hint, in its own `<critique>` segment |
/// | sibling | `rewrite.use_sibling` | a passing sibling attempt of the same task, as a `<note>` |
/// | memory | `rewrite.memory` | memory notes, each shown or withheld by a fair coin (note values) |
///
/// The task and the attempt are always there: they are what the teacher re-scores.
public struct TeacherSegments: Sendable, Equatable {
  public var feedback: FeedbackLevel
  public var critique: Bool
  public var sibling: Bool
  public var memory: Bool

  public init(feedback: FeedbackLevel, critique: Bool, sibling: Bool, memory: Bool) {
    self.feedback = feedback
    self.critique = critique
    self.sibling = sibling
    self.memory = memory
  }

  /// The segments a spec's `[rewrite]` keys choose.
  public init(spec: PipelineSpec) {
    self.init(
      feedback: FeedbackLevel(rawValue: spec.rewrite.feedback.rawValue) ?? .full,
      critique: spec.rewrite.critique,
      sibling: spec.rewrite.useSibling, memory: spec.rewrite.memory)
  }

  /// The prefix that marks a sibling's solution among the notes.
  public static let siblingPrefix = "a passing attempt: "
}

/// Builds the teacher context of one attempt from the chosen segments, and decides, before any
/// coin is flipped, which memory notes fit.
public struct TeacherContextPlan: Sendable {
  public let builder: ContextBuilder
  public let segments: TeacherSegments

  public init(builder: ContextBuilder, segments: TeacherSegments) {
    self.builder = builder
    self.segments = segments
  }

  /// The segments of one attempt other than memory notes (those follow from `fittingNotes`).
  public struct Parts: Sendable, Equatable {
    public var attempt: String
    public var feedback: String
    public var critique: String?
    /// The sibling's note text, when shown.
    public var sibling: String?
  }

  /// The parts the switches allow for an attempt with `result` and `critique`, and a passing
  /// sibling's text if one exists. A sibling is shown only when it fits beside the attempt, its
  /// feedback and critique.
  public func parts(
    task: String, attempt: String, result: ExecutionResult, critique: Critique, sibling: String?
  )
    throws -> Parts
  {
    var parts = Parts(
      attempt: attempt, feedback: result.feedbackText(level: segments.feedback),
      critique: segments.critique ? critique.rendered : nil, sibling: nil)
    if segments.sibling, let sibling {
      let text = TeacherSegments.siblingPrefix + sibling
      if try fits(task: task, parts: parts, notes: [text]) { parts.sibling = text }
    }
    return parts
  }

  /// The memory notes among `candidates` (in order) that are eligible for the randomized
  /// exposure: each fits together with every segment of `parts` and every earlier eligible note,
  /// so any subset the coins choose fits too. The same rule decides for both arms of the
  /// experiment, before the coin flip, so an eligible note's "included" and "withheld" outcomes
  /// come from the same contexts. Empty when memory is switched off.
  public func fittingNotes<Note>(task: String, parts: Parts, candidates: [Note], text: (Note) -> String)
    throws -> [Note]
  {
    guard segments.memory else { return [] }
    var eligible: [Note] = []
    var texts = parts.sibling.map { [$0] } ?? []
    for note in candidates {
      let trial = texts + [text(note)]
      if try fits(task: task, parts: parts, notes: trial) {
        eligible.append(note)
        texts = trial
      }
    }
    return eligible
  }

  /// The randomized exposure of the eligible notes: each is shown or withheld by its own fair coin,
  /// drawn from `rng` in order. Every eligible note gets an outcome in one arm or the other.
  public static func expose<Note>(_ eligible: [Note], rng: inout SeededRandom) -> [(
    note: Note, included: Bool
  )] {
    eligible.map { ($0, rng.next() & 1 == 1) }
  }

  /// The teacher context with the sibling (if any) and the memory notes `shown`.
  public func context(task: String, parts: Parts, shown: [String]) throws -> (tokens: [Int32], notesKept: Int)
  {
    try builder.teacherPrompt(task: task, hindsight: hindsight(parts: parts, notes: shown))
  }

  func hindsight(parts: Parts, notes: [String]) -> ContextBuilder.Hindsight {
    ContextBuilder.Hindsight(
      attempt: parts.attempt, feedback: parts.feedback, critique: parts.critique,
      notes: (parts.sibling.map { [$0] } ?? []) + notes)
  }

  /// Whether the context holds every segment of `parts` and every note of `notes` (the sibling's
  /// text included in `notes` when given) without shortening.
  func fits(task: String, parts: Parts, notes: [String]) throws -> Bool {
    let probe = ContextBuilder.Hindsight(
      attempt: parts.attempt, feedback: parts.feedback, critique: parts.critique, notes: notes)
    return try builder.teacherPrompt(task: task, hindsight: probe).notesKept == notes.count
  }
}
