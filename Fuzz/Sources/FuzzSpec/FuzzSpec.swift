import FuzzSupport
import HindcastPipeline
import HindcastSupport

/// The spec reader (TOML subset and schema): any input either parses or throws a
/// `HindcastError` located in the file; nothing traps, and no recursion depth is unbounded.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  do {
    _ = try PipelineSpec.parse(text: text, source: "fuzz.toml")
  } catch let error as HindcastError {
    guard error.location?.hasPrefix("fuzz.toml") == true else {
      fatalError("error without the file: \(error)")
    }
  } catch {
    fatalError("not a HindcastError: \(error)")
  }
  return 0
}

// SwiftPM aliases `main` to `FuzzSpec_main`; libFuzzer's driver takes over from there.
@_cdecl("FuzzSpec_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzSpec)
}
