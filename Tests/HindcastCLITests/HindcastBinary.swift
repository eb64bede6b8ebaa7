import Foundation
import Testing

/// Runs the built `hindcast` binary (a sibling of the test bundle in the build directory) in
/// `directory` and returns its exit status and output. Standard error goes through a file, so a
/// chatty command cannot fill one pipe while the other is being read.
/// `environment` adds to (or replaces in) the test process's environment.
func runHindcast(
  _ arguments: [String], in directory: String = NSTemporaryDirectory(), environment: [String: String] = [:]
) throws -> (
  status: Int32, stdout: String, stderr: String
) {
  let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  var binary = bundleDirectory.appendingPathComponent("hindcast")
  if !FileManager.default.fileExists(atPath: binary.path) {
    // macOS layout: .build/debug/X.xctest/Contents/MacOS/X
    binary = bundleDirectory.appendingPathComponent("../../../hindcast").standardized
  }
  try #require(FileManager.default.fileExists(atPath: binary.path), "build the hindcast product first")
  let process = Process()
  process.executableURL = binary
  process.arguments = arguments
  if !environment.isEmpty {
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  }
  process.currentDirectoryURL = URL(fileURLWithPath: directory)
  let errorPath = NSTemporaryDirectory() + "hindcast-cli-\(UUID().uuidString)"
  _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
  defer { try? FileManager.default.removeItem(atPath: errorPath) }
  let output = Pipe()
  process.standardOutput = output
  process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
  try process.run()
  let outData = output.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let errData = FileManager.default.contents(atPath: errorPath) ?? Data()
  return (
    process.terminationStatus, String(decoding: outData, as: UTF8.self),
    String(decoding: errData, as: UTF8.self)
  )
}
