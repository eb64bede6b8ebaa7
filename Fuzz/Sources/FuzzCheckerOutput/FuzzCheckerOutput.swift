import FuzzSupport
import HindcastSupport

@testable import HindcastTasks

/// The exec checker's stdout parser: whatever a checker prints, the result is well-formed, and
/// it is a pass only when the output is a JSON object with `"passed": true`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckerOutput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  let attemptLength = size % 97
  let result = CheckerOutput.parse(bytes, attemptLength: attemptLength)
  if result.passed {
    guard case .object(let object) = try? JSONValue.parse(bytes), object["passed"] == .bool(true) else {
      fatalError("a pass from output that does not say passed: true")
    }
  }
  guard result.score.isFinite, (0...1).contains(result.score) else { fatalError("score \(result.score)") }
  if let offset = result.errorOffset, !(0...attemptLength).contains(offset) {
    fatalError("error offset \(offset) outside the attempt")
  }
  guard result.feedback.utf8.count <= CheckerOutput.maxFeedbackBytes else {
    fatalError("feedback not capped")
  }
  return 0
}

// SwiftPM aliases `main` to `FuzzCheckerOutput_main`; libFuzzer's driver takes over from there.
@_cdecl("FuzzCheckerOutput_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv, fuzzCheckerOutput)
}
