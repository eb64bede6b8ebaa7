import Foundation
import HindcastStorage
import HindcastSupport
import Testing

/// The record-level I/O the memory store builds on: per-record zstd frames with reused contexts,
/// the pull JSON scanner and ordered writer, and the append-only file.
@Suite(.temporaryFiles) struct RecordIOTests {
  @Test func zstdFramesRoundTripWithAndWithoutADictionary() throws {
    let record = Array(#"{"event":"observation","note":"00ff00ff00ff00ff","included":true}"#.utf8)
    // A raw-content dictionary (zstd accepts any bytes that do not start with its magic).
    let dictionary = Array(String(repeating: #"{"event":"observation","note":""#, count: 8).utf8)
    let decompressor = try ZstdFrameDecompressor()
    try decompressor.addDictionary(id: 7, bytes: dictionary)
    var output: [UInt8] = []
    for (id, bytes) in [(UInt16(0), nil as [UInt8]?), (7, dictionary)] {
      let compressor = try ZstdFrameCompressor(level: 3, dictionary: bytes)
      var frames: [UInt8] = [1, 2, 3]
      let length = try compressor.compress(record, appendingTo: &frames)
      #expect(frames.count == 3 + length && frames.prefix(3) == [1, 2, 3])
      try frames[3...].withUnsafeBytes { frame in
        try decompressor.decompress(frame, dictionaryId: id, into: &output)
      }
      #expect(output == record)
    }
    // A frame that needs a dictionary the decompressor does not hold, and bytes that are no frame.
    let compressor = try ZstdFrameCompressor(level: 3, dictionary: dictionary)
    var frame: [UInt8] = []
    _ = try compressor.compress(record, appendingTo: &frame)
    expectHindcastError(.corruptFile, mentioning: ["dictionary 9"]) {
      try frame.withUnsafeBytes { try decompressor.decompress($0, dictionaryId: 9, into: &output) }
    }
    expectHindcastError(.corruptFile, mentioning: ["not a zstd frame"]) {
      try [UInt8](repeating: 0x41, count: 32).withUnsafeBytes {
        try decompressor.decompress($0, dictionaryId: 0, into: &output)
      }
    }
  }

  @Test func scannerReadsWhatTheWriterWritesAndLocatesErrors() throws {
    var writer = JSONWriter()
    writer.beginObject()
    writer.field("text", "a \"quoted\"\nline é")
    writer.field("count", -42)
    writer.field("tags", ["x", "y"])
    writer.key("nothing")
    writer.null()
    writer.endObject()
    #expect(
      String(decoding: writer.bytes, as: UTF8.self)
        == #"{"text":"a \"quoted\"\nline é","count":-42,"tags":["x","y"],"nothing":null}"#)
    let read = try JSONScanner.scan(writer.bytes) { scanner -> (String, Int, [String]) in
      var cursor = try scanner.beginObject()
      var values = ("", 0, [String]())
      while let key = try scanner.nextKey(&cursor) {
        switch key {
        case "text": values.0 = try scanner.readString()
        case "count": values.1 = try scanner.readInt()
        case "tags": values.2 = try scanner.readStringArray()
        default: try scanner.skipValue()
        }
      }
      return values
    }
    #expect(read.0 == "a \"quoted\"\nline é" && read.1 == -42 && read.2 == ["x", "y"])
    do {
      _ = try JSONScanner.scan(Array(#"{"n": 99999999999999999999}"#.utf8)) { scanner -> Int in
        var cursor = try scanner.beginObject()
        _ = try scanner.nextKey(&cursor)
        return try scanner.readInt()
      }
      Issue.record("an integer past Int.max was accepted")
    } catch let error as JSONScanError {
      #expect(error.reason == "integer out of range" && error.offset > 5)
    }
  }

  @Test func appendFileKeepsItsSizeAndFileOpsNameTheirPath() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/seg-000003.log"
    let file = try AppendFile(path: path)
    try file.append(Array("abc".utf8), sync: true)
    try file.append(Array("defg".utf8), sync: false, maximumWriteSize: 1)
    #expect(file.size == 7 && FileOps.fileSize(path) == 7)
    #expect(try AtomicFile.read(path) == Array("abcdefg".utf8))
    let reopened = try AppendFile(path: path)
    #expect(reopened.size == 7)
    try FileOps.truncate(path, to: 2)
    #expect(FileOps.fileSize(path) == 2)
    #expect(FileOps.number(in: "seg-000003.log", prefix: "seg-", suffix: ".log") == 3)
    #expect(FileOps.number(in: "seg-.log", prefix: "seg-", suffix: ".log") == nil)
    #expect(FileOps.listDirectory(directory) == ["seg-000003.log"])
    try FileOps.remove(path)
    try FileOps.remove(path)  // already gone: not an error
    #expect(!FileOps.exists(path))
    expectHindcastError(.ioFailure, mentioning: [directory + "/missing/x"]) {
      _ = try AppendFile(path: directory + "/missing/x")
    }
  }
}
