import Foundation
import HindcastStorage
import HindcastSupport
import Testing

/// A rollout-like record with optional, nested and dictionary fields.
private struct Rollout: ShardRecord, Equatable {
  static let shardKind = "rollout"
  var id: String
  var score: Double
  var tokens: [Int]
  var features: [String: Int]
  var note: String?
}

private func sampleRollouts() -> [Rollout] {
  [
    Rollout(
      id: "t1/a0", score: 0.5, tokens: [1, 2, 3], features: ["depth": 2, "ops": 3, "width": 7], note: nil),
    Rollout(
      id: "t2/a0", score: -1.25, tokens: [], features: ["z": 1, "a": 2, "m": 3, "b": 4, "y": 5],
      note: "line one\nline two \"quoted\" / slash"),
    Rollout(id: "t3/a1", score: 1e-7, tokens: [255, 0], features: [:], note: "ünïcode ✓"),
  ]
}

/// Writes `text` (the uncompressed shard lines) as a zstd file, bypassing the writer's checks.
private func writeRawShard(_ text: String, to path: String) throws {
  try AtomicFile.write(Zstd.compress(Array(text.utf8)), to: path)
}

@Suite(.temporaryFiles) struct ShardTests {
  @Test func roundTripPreservesRecordsAndReportsInfo() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/r0000/rollouts/" + ShardFile.fileName(index: 3)
    #expect(path.hasSuffix("/shard-00003.jsonl.zst"))
    let records = sampleRollouts()
    let info = try ShardFile.write(records, to: path, metadata: ["round": 0, "stage": "rollouts"])
    #expect(info.path == path)
    #expect(info.recordCount == 3)
    #expect(info.byteCount == (try AtomicFile.read(path)).count)
    #expect(info.sha256 == (try SHA256.hexOfFile(path)))
    #expect(try ShardFile.read(Rollout.self, from: path, expectedSHA256: info.sha256) == records)
    #expect(try ShardFile.read(Rollout.self, from: path, kind: "rollout", expectedSHA256: nil) == records)
    // Hex case does not matter.
    #expect(try ShardFile.read(Rollout.self, from: path, expectedSHA256: info.sha256.uppercased()) == records)
    #expect(try ShardFile.verify(path: path, kind: "rollout", expectedSHA256: info.sha256) == info)
    // No temporary files are left next to the shard.
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: directory + "/r0000/rollouts") == [
        "shard-00003.jsonl.zst"
      ])
  }

  @Test func headerLineIsFixedFieldsThenSortedMetadata() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/s.jsonl.zst"
    try ShardFile.write(sampleRollouts(), to: path, metadata: ["stage": "rollouts", "round": 0, "shard": 3])
    let text = String(decoding: try Zstd.decompress(AtomicFile.read(path)), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 5)  // header, 3 records, empty string after the final newline
    #expect(
      lines[0] == #"{"hindcast_shard":1,"kind":"rollout","count":3,"round":0,"shard":3,"stage":"rollouts"}"#)
    #expect(
      lines[1] == #"{"features":{"depth":2,"ops":3,"width":7},"id":"t1/a0","score":0.5,"tokens":[1,2,3]}"#)
    #expect(lines[4] == "")
    let reader = try ShardReader(path: path, expectedSHA256: nil)
    #expect(reader.header.kind == "rollout")
    #expect(reader.header.count == 3)
    #expect(reader.header.metadata == ["round": 0, "shard": 3, "stage": "rollouts"])
  }

  @Test func sameRecordsGiveByteIdenticalFiles() throws {
    let directory = try makeTemporaryDirectory()
    // Dictionaries with many keys: their in-memory order differs between instances, the bytes must not.
    var records = sampleRollouts()
    records[0].features = Dictionary(uniqueKeysWithValues: (0..<40).map { ("k\($0)", $0) })
    let copy = records.map { record -> Rollout in
      var record = record
      record.features = Dictionary(
        uniqueKeysWithValues: record.features.sorted { $0.key > $1.key }.map { ($0.key, $0.value) })
      return record
    }
    let first = try ShardFile.write(records, to: directory + "/a.jsonl.zst")
    let second = try ShardFile.write(copy, to: directory + "/b.jsonl.zst")
    #expect(try AtomicFile.read(directory + "/a.jsonl.zst") == AtomicFile.read(directory + "/b.jsonl.zst"))
    #expect(first.sha256 == second.sha256)
    let rewritten = try ShardFile.write(records, to: directory + "/a.jsonl.zst")
    #expect(rewritten == first)
  }

  @Test func emptyShardRoundTrips() throws {
    let path = try makeTemporaryDirectory() + "/empty.jsonl.zst"
    let info = try ShardFile.write([Rollout](), to: path)
    #expect(info.recordCount == 0)
    #expect(try ShardFile.read(Rollout.self, from: path, expectedSHA256: info.sha256).isEmpty)
  }

  @Test func incrementalWriterMatchesWholeWrite() throws {
    let directory = try makeTemporaryDirectory()
    var writer = try ShardWriter(path: directory + "/inc.jsonl.zst", header: ShardHeader(kind: "rollout"))
    for record in sampleRollouts() { try writer.append(record) }
    #expect(writer.count == 3)
    let incremental = try writer.finish()
    let whole = try ShardFile.write(
      sampleRollouts(), to: directory + "/whole.jsonl.zst", header: ShardHeader(kind: "rollout"))
    #expect(incremental.sha256 == whole.sha256)
  }

  @Test(.enabled(if: findExecutable("zstd") != nil, "needs the zstd command-line tool"))
  func zstdCommandLineDecompressesAndJqParses() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/cli.jsonl.zst"
    try ShardFile.write(sampleRollouts(), to: path, metadata: ["round": 1])
    let zstd = try #require(findExecutable("zstd"))
    let decompressed = try runProgram(zstd, ["-dc", path])
    #expect(decompressed.status == 0)
    #expect(decompressed.output == (try Zstd.decompress(AtomicFile.read(path))))
    #expect(try runProgram(zstd, ["-t", "-q", path]).status == 0)  // frame checksum verifies
    if let jq = findExecutable("jq") {
      let plain = directory + "/cli.jsonl"
      try AtomicFile.write(decompressed.output, to: plain)
      let parsed = try runProgram(jq, ["-c", ".kind // .id"], stdinPath: plain)
      #expect(parsed.status == 0)
      #expect(
        String(decoding: parsed.output, as: UTF8.self) == "\"rollout\"\n\"t1/a0\"\n\"t2/a0\"\n\"t3/a1\"\n")
    }
  }

  @Test func truncatedShardIsCorruptAndNamed() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/t.jsonl.zst"
    try ShardFile.write(sampleRollouts(), to: path)
    let bytes = try AtomicFile.read(path)
    for length in [0, 3, bytes.count / 2, bytes.count - 1] {
      try AtomicFile.write(Array(bytes[..<length]), to: path)
      let error = expectHindcastError(.corruptFile, mentioning: [path]) {
        _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
      }
      #expect(error?.hint?.contains("rerun the stage") == true, "length \(length)")
    }
  }

  @Test func flippedByteIsCorrupt() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/f.jsonl.zst"
    try ShardFile.write(sampleRollouts(), to: path)
    let original = try AtomicFile.read(path)
    for position in [original.count / 2, original.count - 2] {
      var bytes = original
      bytes[position] ^= 0x10
      try AtomicFile.write(bytes, to: path)
      expectHindcastError(.corruptFile, mentioning: [path]) {
        _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
      }
    }
  }

  @Test func wrongHashNamesBothHashes() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/h.jsonl.zst"
    let info = try ShardFile.write(sampleRollouts(), to: path)
    let wrong = String(repeating: "0", count: 64)
    let error = expectHindcastError(.corruptFile, mentioning: [path, info.sha256, wrong]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: wrong)
    }
    #expect(error?.hint == "the shard was modified or damaged; delete it and rerun the stage")
  }

  @Test func missingOrUnknownVersionIsVersionMismatch() throws {
    let directory = try makeTemporaryDirectory()
    let newer = directory + "/v2.jsonl.zst"
    try writeRawShard("{\"hindcast_shard\":2,\"kind\":\"rollout\",\"count\":0}\n", to: newer)
    expectHindcastError(.versionMismatch, mentioning: [newer, "version 2"]) {
      _ = try ShardFile.read(Rollout.self, from: newer, expectedSHA256: nil)
    }
    let unversioned = directory + "/plain.jsonl.zst"
    try writeRawShard("{\"id\":\"t1\",\"score\":1}\n", to: unversioned)
    expectHindcastError(.versionMismatch, mentioning: [unversioned, "hindcast_shard"]) {
      _ = try ShardFile.read(Rollout.self, from: unversioned, expectedSHA256: nil)
    }
    let textVersion = directory + "/text.jsonl.zst"
    try writeRawShard("{\"hindcast_shard\":\"1\",\"kind\":\"rollout\",\"count\":0}\n", to: textVersion)
    expectHindcastError(.versionMismatch, mentioning: [textVersion]) {
      _ = try ShardFile.read(Rollout.self, from: textVersion, expectedSHA256: nil)
    }
  }

  @Test func wrongKindIsRejected() throws {
    let path = try makeTemporaryDirectory() + "/k.jsonl.zst"
    try ShardFile.write(sampleRollouts(), to: path, header: ShardHeader(kind: "feedback"))
    expectHindcastError(.invalidInput, mentioning: [path, "'feedback'", "'rollout'"]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
    expectHindcastError(.invalidInput, mentioning: [path]) {
      try ShardFile.verify(path: path, kind: "rollout", expectedSHA256: nil)
    }
  }

  @Test func malformedRecordNamesRecordAndField() throws {
    let path = try makeTemporaryDirectory() + "/m.jsonl.zst"
    let good = #"{"features":{},"id":"a","score":1,"tokens":[]}"#
    let missingScore = #"{"features":{},"id":"b","tokens":[]}"#
    try writeRawShard(
      "{\"hindcast_shard\":1,\"kind\":\"rollout\",\"count\":2}\n\(good)\n\(missingScore)\n", to: path)
    let error = expectHindcastError(.invalidInput, mentioning: [path + "#record 2", "score", "line 3"]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
    #expect(error?.location == path + "#record 2")
    let wrongType = #"{"features":{},"id":"b","score":"high","tokens":[]}"#
    try writeRawShard("{\"hindcast_shard\":1,\"kind\":\"rollout\",\"count\":1}\n\(wrongType)\n", to: path)
    expectHindcastError(.invalidInput, mentioning: [path + "#record 1", "score"]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
  }

  @Test func headerCountMismatchAndBadHeaderAreCorrupt() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/c.jsonl.zst"
    let good = #"{"features":{},"id":"a","score":1,"tokens":[]}"#
    try writeRawShard("{\"hindcast_shard\":1,\"kind\":\"rollout\",\"count\":3}\n\(good)\n\(good)\n", to: path)
    expectHindcastError(.corruptFile, mentioning: [path, "3 records", "holds 2"]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
    try writeRawShard("{\"hindcast_shard\":1,\"kind\":\"rollout\",\"count\":1}\n\(good)\n\(good)\n", to: path)
    expectHindcastError(.corruptFile, mentioning: [path, "1 records", "holds 2"]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
    try writeRawShard("not json\n\(good)\n", to: path)
    expectHindcastError(.corruptFile, mentioning: [path]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
    try writeRawShard("", to: path)
    expectHindcastError(.corruptFile, mentioning: [path, "empty"]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
    try writeRawShard("{\"hindcast_shard\":1,\"kind\":\"rollout\"}\n", to: path)
    expectHindcastError(.corruptFile, mentioning: [path, "count"]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
  }

  @Test func missingShardIsMissingFile() throws {
    let path = try makeTemporaryDirectory() + "/absent.jsonl.zst"
    expectHindcastError(.missingFile, mentioning: [path]) {
      _ = try ShardFile.read(Rollout.self, from: path, expectedSHA256: nil)
    }
  }

  @Test func unencodableInputsFailBeforeWriting() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/n.jsonl.zst"
    var records = sampleRollouts()
    records[1].score = .nan
    expectHindcastError(.invalidInput, mentioning: [path + "#record 2"]) {
      try ShardFile.write(records, to: path)
    }
    expectHindcastError(.invalidInput, mentioning: [path, "count"]) {
      try ShardFile.write(sampleRollouts(), to: path, metadata: ["count": 1])
    }
    expectHindcastError(.invalidInput, mentioning: [path]) {
      try ShardFile.write(sampleRollouts(), to: path, header: ShardHeader(kind: ""))
    }
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  @Test func shardInfoCodesWithSnakeCaseKeys() throws {
    let info = ShardInfo(path: "r/s.jsonl.zst", recordCount: 2, byteCount: 99, sha256: "ab")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let text = String(decoding: try encoder.encode(info), as: UTF8.self)
    #expect(text == #"{"byte_count":99,"path":"r/s.jsonl.zst","record_count":2,"sha256":"ab"}"#)
    #expect(try JSONDecoder().decode(ShardInfo.self, from: Data(text.utf8)) == info)
  }
}
