import Foundation
import HindcastModel
import HindcastRemote
import HindcastStorage
import HindcastSupport
import HindcastTasks

/// What `hindcast export` writes for trainers that already scale (schema: docs/formats.md,
/// "Export for trainers").
public enum ExportFormat: String, CaseIterable, Sendable {
  /// One row per rollout: prompt, completion, privileged context, reward (TRL's SDPO trainer).
  case trlSDPO = "trl-sdpo"
  /// Prompt/completion (and chat messages) of verified hindsight rewrites (TRL's SFT trainer).
  case sft
  /// verl's RL dataset rows (Parquet, written from JSON lines by Python's pyarrow).
  case verl
  /// Stored teacher log-probs of rewritten attempts, for distillation toward stored scores.
  case teacherLogprobs = "teacher-logprobs"
}

/// Rows of one round of a run in a trainer's format. Reads complete rollout, feedback and
/// (for every format but verl) rewrite stages; rows are in shard order, then record order, so
/// the same run always exports the same bytes.
public struct RoundExport {
  public let run: Run
  public let tasks: TaskSource
  public let round: Int

  public init(run: Run, tasks: TaskSource, round: Int) {
    self.run = run
    self.tasks = tasks
    self.round = round
  }

  /// One JSON object per row.
  public func rows(_ format: ExportFormat) throws -> [JSONValue] {
    let stages: [StageName] = format == .verl ? [.rollout, .feedback] : [.rollout, .feedback, .rewrite]
    for stage in stages where try !run.isComplete(round: round, stage: stage) {
      throw HindcastError(
        .missingPrerequisite,
        "export \(format.rawValue) of round \(round) needs its complete \(stage.rawValue) stage",
        location: run.layout.root,
        hint: "run `hindcast \(stage.rawValue) --run \(run.layout.root) --round \(round)` first")
    }
    let byId = Dictionary(try tasks.train(round: round).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let count = try run.manifest().shardCounts[RunManifest.stageKey(round: round, stage: .rollout)] ?? 0
    var rows: [JSONValue] = []
    for shard in 0..<count {
      let rollouts = try run.readShard(RolloutRecord.self, round: round, stage: .rollout, shard: shard)
      let feedback = Dictionary(
        try run.readShard(FeedbackRecord.self, round: round, stage: .feedback, shard: shard).map {
          ($0.rolloutId, $0)
        },
        uniquingKeysWith: { a, _ in a })
      let rewrites =
        format == .verl
        ? [:]
        : Dictionary(
          try run.readShard(RewriteRecord.self, round: round, stage: .rewrite, shard: shard).map {
            ($0.rolloutId, $0)
          },
          uniquingKeysWith: { a, _ in a })
      for rollout in rollouts {
        guard let task = byId[rollout.taskId], let verdict = feedback[rollout.id] else {
          throw HindcastError(
            .corruptFile, "rollout \(rollout.id) has no task or feedback in round \(round)",
            location: run.layout.path(run.layout.shardName(round: round, stage: .rollout, shard: shard)))
        }
        let rewrite = rewrites[rollout.id]
        switch format {
        case .trlSDPO: rows.append(sdpoRow(task, rollout, verdict, rewrite))
        case .sft:
          for (j, sample) in (rewrite?.hindsight ?? []).enumerated() where sample.verified {
            rows.append(sftRow(task, rollout, sample, index: j))
          }
        case .verl: rows.append(verlRow(task, rollout, verdict, index: rows.count))
        case .teacherLogprobs:
          if let rewrite, !rewrite.teacherLogprobs.isEmpty { rows.append(teacherRow(task, rollout, rewrite)) }
        }
      }
    }
    return rows
  }

  /// The student's context as text (segment markers literal), the prompt every format trains on;
  /// for a chat run (`[policy] context = "chat"`) the student's conversation (`chatPrompt`).
  func studentPrompt(_ task: TaskRecord) -> JSONValue {
    if let chat = chatPrompts { return chatPrompt(task, chat) }
    return .string(
      Tokenizer.decode(
        Tokenizer.encode(segments: [(.task, task.prompt)]) + [Tokenizer.Special.answer.rawValue]))
  }

  /// The conversations of a chat run, nil for a run on token contexts.
  var chatPrompts: ChatPrompts? { run.spec.policy.context == .chat ? ChatPrompts(spec: run.spec) : nil }

  func chatPrompt(_ task: TaskRecord, _ chat: ChatPrompts) -> JSONValue {
    .array(chat.student(task: task.prompt).map(\.json))
  }

  /// A completion: text, or for a chat run one assistant message (TRL's conversational format).
  func completion(_ text: String) -> JSONValue {
    chatPrompts == nil ? .string(text) : [["role": "assistant", "content": .string(text)]]
  }

  /// The teacher's context after the task: the rendered feedback, critique, sibling and notes.
  func privilegedContext(_ task: TaskRecord, _ rewrite: RewriteRecord) -> String {
    let context = rewrite.teacherContext
    if chatPrompts != nil {
      // The chat teacher turn runs from "Your previous attempt:" to "Answer the task again."
      // (`ChatPrompts.privileged`); the template's markup around it is left out.
      let closing = "Answer the task again."
      guard let start = context.range(of: "\n\nYour previous attempt:\n"),
        let end = context.range(of: closing, range: start.upperBound..<context.endIndex)
      else { return context }
      return String(context[start.lowerBound..<end.upperBound])
    }
    let taskSegment = Tokenizer.decode(Tokenizer.encode(segments: [(.task, task.prompt)]))
    return context.hasPrefix(taskSegment) ? String(context.dropFirst(taskSegment.count)) : context
  }

  func feedbackText(_ verdict: FeedbackRecord) -> String {
    let level = FeedbackLevel(rawValue: run.spec.rewrite.feedback.rawValue) ?? .full
    return verdict.result.feedbackText(level: level)
  }

  func sdpoRow(
    _ task: TaskRecord, _ rollout: RolloutRecord, _ verdict: FeedbackRecord, _ rewrite: RewriteRecord?
  )
    -> JSONValue
  {
    // The privileged context: the teacher's context without the student's prompt, as the
    // rewrite stage rendered it (feedback, critique, sibling, notes); passing attempts have none.
    var privileged: JSONValue = .null
    if let rewrite { privileged = .string(privilegedContext(task, rewrite)) }
    return [
      "id": .string(rollout.id), "task_id": .string(task.id), "round": .number(Double(round)),
      "prompt": studentPrompt(task), "completion": completion(rollout.text),
      "privileged_context": privileged, "reward": .number(verdict.reward), "passed": .bool(verdict.passed),
      "feedback": .string(feedbackText(verdict)), "critique": .string(verdict.critique.text),
      "notes": .array((rewrite?.notes ?? []).filter(\.included).map { .string($0.noteId) }),
      "sibling_id": rewrite?.siblingRolloutId.map { .string($0) } ?? .null,
    ]
  }

  func sftRow(_ task: TaskRecord, _ rollout: RolloutRecord, _ sample: HindsightSample, index: Int)
    -> JSONValue
  {
    let user: [JSONValue] =
      chatPrompts.map { chat in chat.student(task: task.prompt).map(\.json) } ?? [
        ["role": "user", "content": .string(task.prompt)]
      ]
    return [
      "id": .string("\(rollout.id)/rw\(index)"), "task_id": .string(task.id), "round": .number(Double(round)),
      "prompt": studentPrompt(task), "completion": completion(sample.text),
      "kind": .string(sample.kind),
      "messages": .array(user + [["role": "assistant", "content": .string(sample.text)]]),
    ]
  }

  func verlRow(_ task: TaskRecord, _ rollout: RolloutRecord, _ verdict: FeedbackRecord, index: Int)
    -> JSONValue
  {
    [
      "data_source": .string("hindcast/\(task.family)"),
      "prompt": chatPrompts.map { chatPrompt(task, $0) } ?? [
        ["role": "user", "content": .string(task.prompt)]
      ],
      "ability": .string(task.family),
      "reward_model": ["style": "rule", "ground_truth": .string(task.canonical)],
      "extra_info": [
        "split": "train", "index": .number(Double(index)), "task_id": .string(task.id),
        "rollout_id": .string(rollout.id),
        "attempt": .string(rollout.text), "passed": .bool(verdict.passed),
        "feedback": .string(feedbackText(verdict)),
        "critique": .string(verdict.critique.text),
      ],
    ]
  }

  func teacherRow(_ task: TaskRecord, _ rollout: RolloutRecord, _ rewrite: RewriteRecord) -> JSONValue {
    func numbers(_ values: [Float]) -> JSONValue { .array(values.map { .number(Double($0)) }) }
    func ids(_ values: [Int32]) -> JSONValue { .array(values.map { .number(Double($0)) }) }
    return [
      "id": .string(rollout.id), "task_id": .string(task.id), "round": .number(Double(round)),
      "student_prompt": studentPrompt(task), "teacher_prompt": .string(rewrite.teacherContext),
      "teacher_prompt_tokens": ids(rewrite.teacherTokens), "completion": .string(rollout.text),
      "completion_tokens": ids(rollout.tokens), "student_logprobs": numbers(rollout.logprobs),
      // What an importance ratio divides by: the log-probs under the distribution the tokens were
      // drawn from (temperature, top-k, top-p), or null when the rollout does not know them.
      "behaviour_logprobs": rollout.behaviour.map(numbers) ?? .null,
      "sampling": [
        "temperature": .number(rollout.temperature),
        "top_k": rollout.topK.map { .number(Double($0)) } ?? .null,
        "top_p": rollout.topP.map { .number($0) } ?? .null,
      ],
      "teacher_logprobs": numbers(rewrite.teacherLogprobs),
      "teacher_top_ids": .array(rewrite.teacherTopIds.map(ids)),
      "teacher_top_logprobs": .array(rewrite.teacherTopLogprobs.map(numbers)),
    ]
  }

  /// Writes `rows` as JSON lines (keys sorted) to `path`, atomically.
  public static func writeJSONLines(_ rows: [JSONValue], to path: String) throws {
    var text = ""
    for (i, row) in rows.enumerated() {
      guard let line = row.jsonText else {
        throw HindcastError(.invalidInput, "export row \(i) holds a non-finite number", location: path)
      }
      text += line + "\n"
    }
    try AtomicFile.write(text: text, to: path)
  }
}
