import Foundation
import HindcastModel
import HindcastSupport
import HindcastTraining
import Testing

/// Helpers shared by the training and checkpoint tests.
enum TrainingTestSupport {
  /// A model small enough that a training step costs microseconds (about 1,300 parameters).
  static let toyConfig = ModelConfig(contextLength: 16, layers: 1, width: 4, heads: 1, mlpMultiplier: 1)

  /// A fresh temporary directory; the caller removes it.
  static func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "hindcast-training-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Runs `python3 -c script args...`, returning standard output; records a failure with the
  /// script's standard error if it exits non-zero (`scripts/bootstrap.sh --test` installs the
  /// `safetensors` and `numpy` packages these scripts use).
  static func runPython(_ script: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let stderr = String(decoding: errData, as: UTF8.self)
    try #require(
      process.terminationStatus == 0, "python3 failed (run scripts/bootstrap.sh --test): \(stderr)")
    return String(decoding: outData, as: UTF8.self)
  }

  /// Writes a JSON-lines corpus of `documents` to `path`.
  static func writeCorpus(_ documents: [String], to path: String) throws {
    let lines = try documents.map { document -> String in
      String(decoding: try JSONEncoder().encode(["text": document]), as: UTF8.self)
    }
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
  }

  /// Gaussian values scaled by `scale`, from `seed`.
  static func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var random = SeededRandom(seed: seed)
    return (0..<count).map { _ in scale * random.nextGaussian() }
  }
}

/// A stand-in for the transformer with the same parameter layout and a cheap, deterministic
/// loss that depends on the batch's tokens, so data order, clipping, the schedule and AdamW all
/// influence the result:
///
///     loss = mean over (b, t) of 0.5 (p[k(x, y)] - u(y))^2  +  0.005 * mean over j of p[j]^2
///
/// where `x = batch[b][t]`, `y = batch[b][t + 1]`, `k` picks an entry of `wte` and
/// `u(y) = (y mod 7) / 7`.
final class QuadraticToyModel: GradientSource {
  let config: ModelConfig
  var parameters: [Float]
  var gradients: [Float]
  /// Throws after this many `lossAndGradients` calls (simulates a killed process).
  var failAfterCalls: Int?
  private(set) var calls = 0

  init(config: ModelConfig, seed: UInt64) {
    self.config = config
    let count = ParameterLayout(config: config).totalCount
    parameters = TrainingTestSupport.randomValues(count, seed: seed, scale: 0.5)
    gradients = [Float](repeating: 0, count: count)
  }

  struct Interrupted: Error {}

  func lossAndGradients(batch: [[Int32]]) throws -> Float {
    if let failAfterCalls, calls >= failAfterCalls { throw Interrupted() }
    calls += 1
    let count = parameters.count
    let regularization: Float = 0.01
    var loss: Float = 0
    for j in 0..<count {
      loss += 0.5 * regularization * parameters[j] * parameters[j] / Float(count)
      gradients[j] = regularization * parameters[j] / Float(count)
    }
    let positions = batch.reduce(0) { $0 + $1.count - 1 }
    let width = config.width
    for sequence in batch {
      for t in 0..<(sequence.count - 1) {
        let x = Int(sequence[t])
        let y = Int(sequence[t + 1])
        let k = x * width + y % width
        let difference = parameters[k] - Float(y % 7) / 7
        loss += 0.5 * difference * difference / Float(positions)
        gradients[k] += difference / Float(positions)
      }
    }
    return loss
  }
}
