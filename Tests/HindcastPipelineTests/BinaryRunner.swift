import Foundation
import Testing

/// Runs the built `hindcast` binary (a sibling of the test bundle in the build directory).
struct BinaryRunner {
  let directory: String

  static var binary: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
      "hindcast"
    ).path
  }

  static func temporaryDirectory(_ label: String) throws -> String {
    let path = NSTemporaryDirectory() + "hindcast-\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Starts the binary without waiting; stderr goes to `stderr` (a file in the directory) if given.
  func start(_ arguments: [String], stderr: String? = nil) throws -> Process {
    try #require(FileManager.default.fileExists(atPath: Self.binary), "build the hindcast product first")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.binary)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    if let stderr {
      let path = directory + "/" + stderr
      _ = FileManager.default.createFile(atPath: path, contents: nil)
      process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }
    try process.run()
    return process
  }

  func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    try #require(FileManager.default.fileExists(atPath: Self.binary), "build the hindcast product first")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.binary)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    // stderr goes to a file so that neither stream can fill its pipe while the other is read.
    let errorPath = NSTemporaryDirectory() + "hindcast-stderr-\(UUID().uuidString)"
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

  func write(_ text: String, to name: String) throws {
    try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
  }

  func contents(_ relative: String) -> Data? {
    FileManager.default.contents(atPath: directory + "/" + relative)
  }

  /// Every regular file under `relative`, as paths relative to it, sorted.
  func files(under relative: String) -> [String] {
    let root = directory + "/" + relative
    guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
    var result: [String] = []
    while let path = enumerator.nextObject() as? String {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory),
        !isDirectory.boolValue
      {
        result.append(path)
      }
    }
    return result.sorted()
  }
}

/// A pipeline small enough to run many times in a test: a tiny model, a handful of tasks.
enum TinySpec {
  /// The tiny spec with another teacher (e.g. "ema" or "round-start").
  static func withTeacher(_ teacher: String) -> String {
    text.replacingOccurrences(of: "[distill]\n", with: "[distill]\nteacher = \"\(teacher)\"\n")
  }

  static let text = """
    name = "tiny"
    seed = 5
    rounds = 2
    [model]
    preset = "tiny"
    context = 224
    threads = 1
    [tasks]
    family = "arith"
    difficulty = 1
    train_per_round = 6
    samples_per_task = 3
    validation = 4
    test = 6
    tasks_per_shard = 2
    [pretrain]
    steps = 12
    batch = 4
    corpus_tasks = 40
    [rollout]
    max_tokens = 32
    [rewrite]
    teacher_top_k = 4
    [distill]
    sdpo = 1.0
    sft = 0.5
    grpo = 0.5
    rft = 0.5
    steps = 2
    batch = 6
    [eval]
    samples = 2
    """
}
