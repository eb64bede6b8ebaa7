import FuzzSupport
import HindcastStorage
import HindcastSupport

@testable import HindcastTraining

/// The safetensors decoder (checkpoint weights and optimizer moments) and the checkpoint's
/// `config.json` reader. The first byte picks which. Every failure is a `HindcastError` naming
/// the file; every tensor a decoded file lists can be read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 0 else { return 0 }
  let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  do {
    if data[0] & 1 == 0 {
      let file = try SafeTensors.decode(bytes, path: "fuzz.safetensors")
      for name in file.names {
        let tensor = try file.tensor(name)
        guard tensor.values.count == tensor.shape.reduce(1, *) else {
          fatalError("shape and values disagree")
        }
        try? CheckpointIO.requireFinite(tensor.values, tensor: name, path: "fuzz.safetensors")
      }
    } else {
      let config = try CheckpointIO.decodeModelConfig(bytes, path: "fuzz.json")
      try config.validate()
    }
  } catch let error as HindcastError {
    guard error.location?.hasPrefix("fuzz.") == true || error.location == nil && data[0] & 1 == 1 else {
      fatalError("error without the file: \(error)")
    }
  } catch {
    fatalError("not a HindcastError: \(error)")
  }
  return 0
}

// SwiftPM aliases `main` to `FuzzSafeTensors_main`; libFuzzer's driver takes over from there.
@_cdecl("FuzzSafeTensors_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzSafeTensors)
}
