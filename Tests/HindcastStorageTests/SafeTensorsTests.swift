import Foundation
import HindcastStorage
import HindcastSupport
import Testing

/// A fresh temporary directory for one test.
private func makeTemporaryDirectory() throws -> String {
  let path = NSTemporaryDirectory() + "hindcast-safetensors-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Runs `python3 -c script args...` and returns its standard output; fails the test with the
/// script's standard error when it exits non-zero (for example when `safetensors` is missing:
/// `scripts/bootstrap.sh --test` installs it).
private func runPython(_ script: String, _ arguments: [String]) throws -> String {
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

/// A header-length prefix followed by `header` (unpadded) and `data`.
private func rawFile(header: String, data: [UInt8]) -> [UInt8] {
  let headerBytes = Array(header.utf8)
  var bytes: [UInt8] = []
  withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { bytes.append(contentsOf: $0) }
  return bytes + headerBytes + data
}

/// Decoding `bytes` fails with `code`, and the message contains `fragment`.
private func expectFailure(
  _ bytes: [UInt8], _ code: HindcastError.Code, _ fragment: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  do {
    _ = try SafeTensors.decode(bytes, path: "bad.safetensors")
    Issue.record(
      "decoding succeeded; expected \(code) mentioning '\(fragment)'", sourceLocation: sourceLocation)
  } catch let error as HindcastError {
    #expect(error.code == code, sourceLocation: sourceLocation)
    #expect(error.location == "bad.safetensors", sourceLocation: sourceLocation)
    #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
  } catch {
    Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
  }
}

@Suite struct SafeTensorsTests {
  /// Values with awkward bit patterns: signed zero, subnormals, infinities, a NaN payload.
  static let awkward: [Float] = [
    0, -0.0, 1, -1.5, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity, -.infinity,
    Float(bitPattern: 0x7FC0_1234), 3.14159, 1e-20, -7e30,
  ]

  @Test func roundTripIsBitExact() throws {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/a.safetensors"
    var random = SeededRandom(seed: 3)
    let matrix = (0..<(5 * 7)).map { _ in random.nextGaussian() }
    try SafeTensors.write(
      [
        ("w", [5, 7], matrix), ("b", [12], Self.awkward), ("scalar", [], [42]), ("empty", [0, 3], []),
      ],
      metadata: ["format": "test", "quote\"key": "line\nbreak"], to: path)
    let file = try SafeTensors.read(path)
    #expect(file.names == ["b", "empty", "scalar", "w"])
    #expect(file.metadata == ["format": "test", "quote\"key": "line\nbreak"])
    #expect(try file.tensor("w", expectedShape: [5, 7]).values.map(\.bitPattern) == matrix.map(\.bitPattern))
    #expect(try file.tensor("b").values.map(\.bitPattern) == Self.awkward.map(\.bitPattern))
    #expect(try file.tensor("scalar").shape == [])
    #expect(try file.tensor("scalar").values == [42])
    #expect(try file.tensor("empty").values.isEmpty)

    // Rewriting what was read gives the same bytes, whatever the input order.
    let again = directory + "/b.safetensors"
    let reversed = file.names.reversed().map { name in
      (name: name, shape: file.tensors[name]!.shape, values: file.tensors[name]!.values)
    }
    try SafeTensors.write(reversed, metadata: file.metadata, to: again)
    #expect(try AtomicFile.read(again) == AtomicFile.read(path))
    // Data starts at an 8-byte boundary.
    let bytes = try AtomicFile.read(path)
    let headerLength = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
    #expect((8 + headerLength) % 8 == 0)
  }

  @Test func writeRejectsInconsistentTensors() {
    let cases: [([SafeTensors.NamedTensor], String)] = [
      ([("a", [2, 2], [1, 2, 3])], "holds 4 values"),
      ([("a", [1], [1]), ("a", [1], [2])], "appears twice"),
      ([("__metadata__", [1], [1])], "reserved"),
      ([("a", [-1], [])], "invalid shape"),
    ]
    for (tensors, fragment) in cases {
      #expect {
        try SafeTensors.encode(tensors, location: "out.safetensors")
      } throws: { error in
        let error = error as? HindcastError
        return error?.code == .invalidInput && error?.message.contains(fragment) == true
          && error?.location == "out.safetensors"
      }
    }
  }

  @Test func structuralDamageIsReportedAsCorrupt() throws {
    let good = try SafeTensors.encode([("a", [2], [1, 2]), ("b", [1], [3])])
    expectFailure([1, 2, 3], .corruptFile, "shorter than the 8-byte header length")
    expectFailure(Array(good.prefix(20)), .corruptFile, "runs past the end")
    expectFailure(Array(good.dropLast(4)), .corruptFile, "outside the")
    expectFailure(good + [0, 0, 0, 0], .corruptFile, "4 trailing bytes")
    expectFailure(rawFile(header: "{\"a\": [1, 2", data: []), .corruptFile, "not valid JSON")
    expectFailure(rawFile(header: "[]", data: []), .corruptFile, "does not start with '{'")
    expectFailure(
      rawFile(
        header: "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]),
      .corruptFile, "unknown dtype 'F33'")
    expectFailure(
      rawFile(
        header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]),
      .corruptFile, "shape [2] needs 8")
    expectFailure(
      rawFile(
        header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]),
      .corruptFile, "invalid shape")
    expectFailure(
      rawFile(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", data: [0, 0, 0, 0]),
      .corruptFile, "1 data offsets")
    expectFailure(
      rawFile(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", data: [0, 0, 0, 0]),
      .corruptFile, "missing field 'data_offsets'")
    expectFailure(
      rawFile(
        header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        data: [UInt8](repeating: 0, count: 8)),
      .corruptFile, "overlaps")
    expectFailure(
      rawFile(
        header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        data: [UInt8](repeating: 0, count: 8)),
      .corruptFile, "belong to no tensor")
    // A huge declared header length.
    var huge = good
    huge.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 0x7F])
    expectFailure(huge, .corruptFile, "exceeds the limit")
    // A valid file with a dtype Hindcast does not read.
    expectFailure(
      rawFile(
        header: "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]),
      .invalidInput, "dtype F16")
  }

  @Test func missingTensorAndShapeMismatchNameTheTensor() throws {
    let file = try SafeTensors.decode(SafeTensors.encode([("a", [2, 3], [1, 2, 3, 4, 5, 6])]), path: "x")
    #expect {
      try file.tensor("a", expectedShape: [3, 2])
    } throws: { error in
      let error = error as? HindcastError
      return error?.code == .shapeMismatch
        && error?.message.contains("'a' has shape [2, 3] but [3, 2]") == true
    }
    #expect {
      try file.tensor("b")
    } throws: { error in
      (error as? HindcastError)?.code == .corruptFile
    }
    #expect {
      try SafeTensors.read("/nonexistent/hindcast.safetensors")
    } throws: { error in
      (error as? HindcastError)?.code == .missingFile
    }
  }

  @Test func pythonReadsWhatSwiftWrites() throws {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/swift.safetensors"
    var random = SeededRandom(seed: 11)
    let weights = (0..<(3 * 4)).map { _ in random.nextGaussian() }
    let finite = Self.awkward.filter(\.isFinite)
    try SafeTensors.write(
      [("layer.weight", [3, 4], weights), ("odd", [finite.count], finite)], metadata: ["who": "swift"],
      to: path)
    let script = """
      import sys
      from safetensors import safe_open
      with safe_open(sys.argv[1], framework="numpy") as f:
          print("meta", f.metadata()["who"])
          for name in sorted(f.keys()):
              t = f.get_tensor(name)
              print(name, str(t.dtype), ",".join(str(d) for d in t.shape),
                    ",".join(str(int(x)) for x in t.reshape(-1).view("uint32")))
      """
    let lines = try runPython(script, [path]).split(separator: "\n").map(String.init)
    #expect(lines.first == "meta swift")
    func expectLine(_ name: String, _ shape: [Int], _ values: [Float]) {
      let expected = [
        name, "float32", shape.map(String.init).joined(separator: ","),
        values.map { String($0.bitPattern) }.joined(separator: ","),
      ].joined(separator: " ")
      #expect(lines.contains(expected), "python printed \(lines)")
    }
    expectLine("layer.weight", [3, 4], weights)
    expectLine("odd", [finite.count], finite)
  }

  @Test func swiftReadsWhatPythonWrites() throws {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/python.safetensors"
    let script = """
      import sys
      import numpy as np
      from safetensors.numpy import save_file
      a = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 11.5) / 7
      b = np.array([1e-30, -2.5, 3e30], dtype=np.float32)
      save_file({"zeta": a, "alpha.bias": b, "s": np.array(2.0, dtype=np.float32)}, sys.argv[1],
                metadata={"origin": "numpy"})
      """
    _ = try runPython(script, [path])
    let file = try SafeTensors.read(path)
    #expect(file.metadata == ["origin": "numpy"])
    let a = try file.tensor("zeta", expectedShape: [2, 3, 4])
    let expected = (0..<24).map { (Float($0) - 11.5) / 7 }
    #expect(a.values.map(\.bitPattern) == expected.map(\.bitPattern))
    #expect(try file.tensor("alpha.bias", expectedShape: [3]).values == [1e-30, -2.5, 3e30])
    #expect(try file.tensor("s", expectedShape: []).values == [2])
  }
}
