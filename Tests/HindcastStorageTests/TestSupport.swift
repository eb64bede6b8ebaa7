import Foundation
import HindcastStorage
import HindcastSupport
import Testing

/// Scopes a suite's temporary files: `makeTemporaryDirectory()` creates directories under a
/// per-suite root that is removed when the suite finishes.
struct TemporaryFilesTrait: SuiteTrait, TestScoping {
  @TaskLocal static var root: String?

  func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    let root = FileManager.default.temporaryDirectory
      .appendingPathComponent("hindcast-storage-tests-" + UUID().uuidString).path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    try await Self.$root.withValue(root) { try await function() }
  }
}

extension Trait where Self == TemporaryFilesTrait {
  /// Removes the suite's temporary directories when it finishes.
  static var temporaryFiles: Self { TemporaryFilesTrait() }
}

/// A fresh, empty directory, unique per call, under the suite's temporary root (see
/// `TemporaryFilesTrait`) or the system temporary directory.
func makeTemporaryDirectory(_ label: String = #function) throws -> String {
  let root = TemporaryFilesTrait.root ?? FileManager.default.temporaryDirectory.path
  let name = label.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString
  let path = root + "/" + name
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// The absolute path of an executable on PATH, or nil.
func findExecutable(_ name: String) -> String? {
  let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
  for directory in directories {
    let candidate = "\(directory)/\(name)"
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
  }
  return nil
}

/// Runs a program to completion and returns its exit status and standard output.
func runProgram(_ executable: String, _ arguments: [String], stdinPath: String? = nil) throws -> (
  status: Int32, output: [UInt8]
) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  let pipe = Pipe()
  process.standardOutput = pipe
  process.standardError = FileHandle.nullDevice
  if let stdinPath { process.standardInput = FileHandle(forReadingAtPath: stdinPath) }
  try process.run()
  let output = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, [UInt8](output))
}

/// Asserts that `body` throws a `HindcastError` with `code` whose description mentions every
/// string in `mentioning`; returns the error for further checks.
@discardableResult
func expectHindcastError(
  _ code: HindcastError.Code, mentioning: [String] = [], sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) -> HindcastError? {
  do {
    try body()
    Issue.record("expected a \(code.rawValue) error, but nothing was thrown", sourceLocation: sourceLocation)
    return nil
  } catch let error as HindcastError {
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    for text in mentioning {
      #expect(
        error.description.contains(text), "'\(text)' missing from: \(error)", sourceLocation: sourceLocation)
    }
    return error
  } catch {
    Issue.record("expected HindcastError, got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}
