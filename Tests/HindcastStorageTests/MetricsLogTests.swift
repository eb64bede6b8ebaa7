import Foundation
import HindcastStorage
import HindcastSupport
import Testing

private struct ShardEvent: Codable, Equatable {
  var stage: String
  var round: Int
  var shard: Int
  var seconds: Double
}

/// Appends raw bytes to a file the way a crashed writer might have left them.
private func appendRaw(_ text: String, to path: String) throws {
  let handle = try #require(FileHandle(forWritingAtPath: path))
  try handle.seekToEnd()
  try handle.write(contentsOf: Data(text.utf8))
  try handle.close()
}

@Suite(.temporaryFiles) struct MetricsLogTests {
  @Test func appendsOneSortedLinePerEvent() throws {
    let path = try makeTemporaryDirectory() + "/run/metrics.jsonl"
    let log = try MetricsLog(path: path)
    try log.append(ShardEvent(stage: "rollout", round: 0, shard: 1, seconds: 0.25))
    try log.append(["event": "done", "ok": true] as JSONValue)
    log.close()
    let text = String(decoding: try AtomicFile.read(path), as: UTF8.self)
    #expect(
      text == #"{"round":0,"seconds":0.25,"shard":1,"stage":"rollout"}"# + "\n"
        + #"{"event":"done","ok":true}"# + "\n")
    let contents = try MetricsLog.read(JSONValue.self, from: path)
    #expect(contents.skipped.isEmpty)
    #expect(contents.events.map(\.line) == [1, 2])
    #expect(contents.events[1].event["event"] == "done")
  }

  @Test func reopeningAppendsAfterExistingLines() throws {
    let path = try makeTemporaryDirectory() + "/metrics.jsonl"
    try MetricsLog(path: path).append(ShardEvent(stage: "a", round: 0, shard: 0, seconds: 1))
    try MetricsLog(path: path).append(ShardEvent(stage: "b", round: 0, shard: 0, seconds: 2))
    let contents = try MetricsLog.read(ShardEvent.self, from: path)
    #expect(contents.events.map(\.event.stage) == ["a", "b"])
  }

  @Test func tornTrailingLineIsSkippedAndReported() throws {
    let path = try makeTemporaryDirectory() + "/metrics.jsonl"
    let log = try MetricsLog(path: path)
    try log.append(ShardEvent(stage: "rollout", round: 0, shard: 0, seconds: 1))
    try log.append(ShardEvent(stage: "rollout", round: 0, shard: 1, seconds: 2))
    log.close()
    try appendRaw(#"{"round":0,"seconds":3,"sha"#, to: path)  // the writer died mid-line

    let torn = try MetricsLog.read(ShardEvent.self, from: path)
    #expect(torn.events.map(\.event.shard) == [0, 1])
    #expect(torn.skipped == [MetricsLog.SkippedLine(line: 3, reason: .tornTail, byteCount: 27)])

    // A new writer terminates the fragment, so the next event is intact on its own line.
    try MetricsLog(path: path).append(ShardEvent(stage: "rollout", round: 0, shard: 2, seconds: 4))
    let repaired = try MetricsLog.read(ShardEvent.self, from: path)
    #expect(repaired.events.map(\.event.shard) == [0, 1, 2])
    #expect(repaired.events.map(\.line) == [1, 2, 4])
    #expect(repaired.skipped == [MetricsLog.SkippedLine(line: 3, reason: .notJSON, byteCount: 27)])
  }

  @Test func eventOfTheWrongShapeIsAnErrorNamingTheLine() throws {
    let path = try makeTemporaryDirectory() + "/metrics.jsonl"
    let log = try MetricsLog(path: path)
    try log.append(ShardEvent(stage: "rollout", round: 0, shard: 0, seconds: 1))
    try log.append(["stage": "eval"] as JSONValue)
    expectHindcastError(.invalidInput, mentioning: [path + ":2", "round"]) {
      _ = try MetricsLog.read(ShardEvent.self, from: path)
    }
  }

  @Test func closedLogAndUnencodableEventsThrow() throws {
    let path = try makeTemporaryDirectory() + "/metrics.jsonl"
    let log = try MetricsLog(path: path)
    expectHindcastError(.invalidInput, mentioning: [path]) {
      try log.append(ShardEvent(stage: "x", round: 0, shard: 0, seconds: .infinity))
    }
    log.close()
    expectHindcastError(.ioFailure, mentioning: [path, "closed"]) {
      try log.append(ShardEvent(stage: "x", round: 0, shard: 0, seconds: 1))
    }
    #expect(try AtomicFile.read(path).isEmpty)
  }

  @Test func concurrentAppendersNeverInterleaveLines() async throws {
    let path = try makeTemporaryDirectory() + "/metrics.jsonl"
    let logs = try (0..<4).map { _ in try MetricsLog(path: path) }  // separate descriptors
    try await withThrowingTaskGroup(of: Void.self) { group in
      for (writer, log) in logs.enumerated() {
        group.addTask {
          for shard in 0..<10 {
            try log.append(ShardEvent(stage: "w\(writer)", round: 0, shard: shard, seconds: Double(shard)))
          }
        }
      }
      try await group.waitForAll()
    }
    let contents = try MetricsLog.read(ShardEvent.self, from: path)
    #expect(contents.skipped.isEmpty)
    #expect(contents.events.count == 40)
    for writer in 0..<4 {
      #expect(contents.events.filter { $0.event.stage == "w\(writer)" }.map(\.event.shard) == Array(0..<10))
    }
  }
}
