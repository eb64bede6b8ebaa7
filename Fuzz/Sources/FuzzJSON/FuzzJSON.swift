import FuzzSupport
import HindcastStorage
import HindcastSupport

@testable import HindcastMemory

/// The JSON readers: the shared `JSONValue` parser (checker output, shard headers, metrics
/// lines), JSON-lines splitting, and the pull scanner (`JSONScanner`, HindcastStorage) with the
/// memory store's event decoder. The first byte picks the reader.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 0 else { return 0 }
  let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  switch data[0] % 4 {
  case 0:
    if let value = try? JSONValue(parsing: bytes) {
      // What parses must encode again (the writers rely on it).
      guard (try? JSONValue(encoding: value)) != nil else { fatalError("parsed value does not encode") }
    }
  case 1:
    let lines = JSONLines.split(bytes)
    var last = 0
    for line in lines {
      guard line.number > last, !line.bytes.contains(0x0A) else { fatalError("bad line split") }
      last = line.number
      _ = try? JSONValue(parsing: line.bytes)
    }
  case 2:
    _ = try? JSONScanner.scan(bytes) { try $0.skipValue() }
  default:
    _ = try? EventCoding.decode(bytes)
  }
  return 0
}

// SwiftPM aliases `main` to `FuzzJSON_main`; libFuzzer's driver takes over from there.
@_cdecl("FuzzJSON_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzJSON)
}
