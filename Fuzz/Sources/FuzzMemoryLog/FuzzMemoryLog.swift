import FuzzSupport
import HindcastStorage
import HindcastSupport

@testable import HindcastMemory

/// The memory log's recovery path: frame scanning of a segment (torn tails, damage, commits),
/// then decompression and decoding of every committed record, as `MemoryStore` does on open; an
/// odd first byte decodes the input as a snapshot instead. Nothing may trap, and the scan's
/// offsets must stay inside the buffer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMemoryLog(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 0 else { return 0 }
  let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  if data[0] & 1 == 1 {
    _ = try? SnapshotCoding.decode(bytes, location: "fuzz.snap", threads: 1)
    return 0
  }
  let scan = bytes.withUnsafeBytes { LogFrame.scan($0) }
  guard scan.committedLength <= bytes.count, scan.goodLength <= bytes.count,
    scan.committedFrames <= scan.frames.count
  else { fatalError("scan outside the buffer") }
  guard let decompressor = try? ZstdFrameDecompressor() else { return 0 }
  var json: [UInt8] = []
  var observations = ObservationLog()
  bytes.withUnsafeBytes { raw in
    for frame in scan.frames.prefix(scan.committedFrames) {
      guard frame.payloadOffset >= 0, frame.payloadOffset + frame.payloadLength <= bytes.count else {
        fatalError("frame outside the buffer")
      }
      let payload = UnsafeRawBufferPointer(
        rebasing: raw[frame.payloadOffset..<(frame.payloadOffset + frame.payloadLength)])
      guard (try? decompressor.decompress(payload, dictionaryId: frame.dictionaryId, into: &json)) != nil
      else {
        continue
      }
      _ = try? EventCoding.decode(json, observationsInto: &observations)
    }
  }
  return 0
}

// SwiftPM aliases `main` to `FuzzMemoryLog_main`; libFuzzer's driver takes over from there.
@_cdecl("FuzzMemoryLog_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzMemoryLog)
}
