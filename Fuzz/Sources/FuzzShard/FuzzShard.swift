import FuzzSupport
import HindcastStorage
import HindcastSupport

/// The shard reader. The first byte picks the mode: even, the rest is the decompressed shard text
/// (header line and record lines, the part a damaged-but-hash-fixed shard reaches); odd, the rest
/// is the compressed file itself. Every failure must be a `HindcastError` naming the shard.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShard(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 0 else { return 0 }
  let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  do {
    let reader =
      data[0] & 1 == 0
      ? try ShardReader(text: bytes, path: "fuzz.jsonl.zst")
      : try ShardReader(compressed: bytes, path: "fuzz.jsonl.zst", expectedSHA256: nil)
    let records = try reader.records(JSONValue.self, kind: reader.header.kind)
    guard records.count == reader.header.count else { fatalError("count mismatch accepted") }
  } catch let error as HindcastError {
    guard error.location?.hasPrefix("fuzz.jsonl.zst") == true else {
      fatalError("error without the file: \(error)")
    }
  } catch {
    fatalError("not a HindcastError: \(error)")
  }
  return 0
}

// SwiftPM aliases `main` to `FuzzShard_main`; libFuzzer's driver takes over from there.
@_cdecl("FuzzShard_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzShard)
}
