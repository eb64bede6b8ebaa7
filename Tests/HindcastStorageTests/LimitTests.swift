import Foundation
import HindcastStorage
import HindcastSupport
import Testing

/// Size limits and strict reading of shards and metrics logs: a small file that inflates to
/// gigabytes, a huge record or a non-JSON line is a clear error naming the file.
@Suite struct LimitTests {
  @Test func decompressionStopsAtItsLimit() throws {
    let big = [UInt8](repeating: 10, count: 4 << 20)
    let compressed = try Zstd.compress(big)
    #expect(compressed.count < 4096)
    #expect(try Zstd.decompress(compressed, limit: big.count) == big)
    #expect {
      _ = try Zstd.decompress(compressed, what: "bomb.zst", limit: 1 << 20)
    } throws: { ($0 as? HindcastError)?.location == "bomb.zst" && "\($0)".contains("inflates") }
  }

  @Test func aShardRecordLongerThanTheLimitIsRefused() throws {
    let header = #"{"hindcast_shard":1,"kind":"x","count":1}"#
    let long = "{\"a\":\"" + String(repeating: "a", count: ShardFile.maxRecordBytes) + "\"}"
    #expect {
      _ = try ShardReader(text: Array((header + "\n" + long + "\n").utf8), path: "s.jsonl.zst")
    } throws: { ($0 as? HindcastError)?.location == "s.jsonl.zst" && "\($0)".contains("per record") }
  }

  @Test func aShardHeaderCountBeyondTheLimitIsRefused() throws {
    for count in ["-1", "99999999999", "1.5"] {
      let text = #"{"hindcast_shard":1,"kind":"x","count":"# + count + "}\n"
      #expect(throws: HindcastError.self) { try ShardReader(text: Array(text.utf8), path: "s") }
    }
  }

  @Test func aNonJSONMetricsLineIsAnErrorButATornOneIsReported() throws {
    let directory = NSTemporaryDirectory() + "hindcast-limits-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/metrics.jsonl"
    try Data("{\"a\":1}\nhello world\n{\"a\":2}\n".utf8).write(to: URL(fileURLWithPath: path))
    #expect {
      _ = try MetricsLog.read(JSONValue.self, from: path)
    } throws: { ($0 as? HindcastError)?.location == path + ":2" }
    try Data("{\"a\":1}\n{\"a\":2, \"b\n{\"a\":3}\n".utf8).write(to: URL(fileURLWithPath: path))
    let contents = try MetricsLog.read(JSONValue.self, from: path)
    #expect(contents.events.count == 2 && contents.skipped.map(\.line) == [2])
    // A complete object that does not parse (NaN, invalid UTF-8, nesting) is damage, not a tear.
    let deep = String(repeating: "{\"a\":", count: 5000) + "1" + String(repeating: "}", count: 5000)
    for bad in [
      Array("{\"a\":NaN}".utf8), Array("{\"a\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8), Array(deep.utf8),
    ] {
      try Data(Array("{\"a\":1}\n".utf8) + bad + [10]).write(to: URL(fileURLWithPath: path))
      #expect(throws: HindcastError.self) { try MetricsLog.read(JSONValue.self, from: path) }
    }
  }
}
