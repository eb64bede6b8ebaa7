import Foundation
import HindcastSupport
import HindcastTasks
import Testing

@testable import HindcastPipeline

/// Regression tests for the decoders and cross-checks of run files: each damaged value is an
/// error naming the file and the record, never a trap or a silent acceptance.
@Suite struct InputCheckTests {
  static func rollout(_ index: Int, tokens: [Int32] = [65, 66, 67], round: Int = 0) -> RolloutRecord {
    RolloutRecord(
      id: "r0000/t\(index)/s0", round: round, taskId: "t\(index)", sample: 0, tokens: tokens, text: "ABC",
      logprobs: tokens.map { _ in -0.5 }, finish: "stop", temperature: 1, maxTokens: 8)
  }

  static func feedback(for rollout: RolloutRecord, firstError: Int? = nil) -> FeedbackRecord {
    FeedbackRecord(
      id: rollout.id + "/fb", rolloutId: rollout.id, taskId: rollout.taskId, round: rollout.round, sample: 0,
      passed: firstError == nil, reward: firstError == nil ? 1 : 0,
      result: ExecutionResult(passed: firstError == nil, score: 0, kind: .pass, feedback: "x"),
      critique: Critique(text: "c", cause: "none"), firstErrorToken: firstError)
  }

  func expectRecordError(_ path: String, record: Int, _ body: () throws -> Void) {
    #expect {
      try body()
    } throws: { error in
      (error as? HindcastError)?.location == "\(path)#record \(record)"
    }
  }

  @Test func rolloutsWithShortLogprobsOrBadTokensAreRefused() throws {
    var short = Self.rollout(0)
    short.logprobs = [-1]
    expectRecordError("r.zst", record: 1) {
      _ = try StageInputs.checkRollouts([short], round: 0, path: "r.zst")
    }
    let bad = Self.rollout(0, tokens: [65, -1])
    expectRecordError("r.zst", record: 1) {
      _ = try StageInputs.checkRollouts([bad], round: 0, path: "r.zst")
    }
    let other = Self.rollout(1, round: 3)
    expectRecordError("r.zst", record: 2) {
      _ = try StageInputs.checkRollouts([Self.rollout(0), other], round: 0, path: "r.zst")
    }
    expectRecordError("r.zst", record: 2) {
      _ = try StageInputs.checkRollouts([Self.rollout(0), Self.rollout(0)], round: 0, path: "r.zst")
    }
    expectRecordError("r.zst", record: 1) {
      _ = try StageInputs.checkRollouts([Self.rollout(5)], round: 0, path: "r.zst", taskIds: ["t0"])
    }
  }

  @Test func feedbackIndicesAndCountsAreCheckedAgainstTheRollouts() throws {
    let rollouts = [Self.rollout(0), Self.rollout(1)]
    let byId = try StageInputs.checkRollouts(rollouts, round: 0, path: "r.zst")
    for bad in [-1, 3, Int.max] {
      expectRecordError("f.zst", record: 2) {
        try StageInputs.checkFeedback(
          [Self.feedback(for: rollouts[0]), Self.feedback(for: rollouts[1], firstError: bad)], rollouts: byId,
          round: 0, path: "f.zst")
      }
    }
    #expect(throws: HindcastError.self) {
      try StageInputs.checkFeedback(
        [Self.feedback(for: rollouts[0])], rollouts: byId, round: 0, path: "f.zst")
    }
    try StageInputs.checkFeedback(
      [Self.feedback(for: rollouts[0], firstError: 2), Self.feedback(for: rollouts[1])], rollouts: byId,
      round: 0,
      path: "f.zst")
  }

  @Test func manifestsThatLeaveTheRunOrOverflowAreRefused() throws {
    let directory = try BinaryRunner.temporaryDirectory("manifest-check")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/manifest.json"
    let good = String(repeating: "a", count: 64)
    let cases = [
      #""units":{"r0000/rollout/00000":{"path":"../../etc/passwd","sha256":"\#(good)","records":1}},"shard_counts":{}"#,
      #""units":{"r0000/rollout/00000":{"path":"/etc/passwd","sha256":"\#(good)","records":1}},"shard_counts":{}"#,
      #""units":{"r0000/rollout/00000":{"path":"r0000/x","sha256":"zz","records":1}},"shard_counts":{}"#,
      #""units":{},"shard_counts":{"r0000/rollout":-3}"#,
      #""units":{},"shard_counts":{"r0000/rollout":9223372036854775807}"#,
    ]
    for body in cases {
      let text = #"{"format":"hindcast-run","version":1,"spec_sha256":"\#(good)","# + body + "}"
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      #expect(throws: HindcastError.self, "\(body)") { _ = try RunManifest.read(path: path) }
    }
  }

  @Test func metricsEventsThatWouldOverflowTheBudgetAreRefused() throws {
    var event = MetricsEvent(stage: "rollout", round: 0)
    event.environmentCalls = Int.max
    #expect(throws: HindcastError.self) { try event.check(location: "metrics.jsonl:3") }
    event.environmentCalls = 1
    event.wallSeconds = 1e308
    #expect(throws: HindcastError.self) { try event.check(location: "metrics.jsonl:3") }
    event.wallSeconds = 2
    try event.check(location: "metrics.jsonl:3")
    #expect(ProgressLine.duration(.infinity) == "?" && ProgressLine.duration(61) == "1m01s")
  }
}
