import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTraining
import Testing

/// A checkpoint of the toy config with random weights, moments and state.
private func sampleCheckpoint(seed: UInt64 = 1) throws -> Checkpoint {
  let config = TrainingTestSupport.toyConfig
  let count = ParameterLayout(config: config).totalCount
  let weights = try ModelWeights(
    config: config, parameters: TrainingTestSupport.randomValues(count, seed: seed))
  var random = SeededRandom(seed: seed)
  for _ in 0..<5 { _ = random.next() }
  let optimizer = AdamWState(
    m: TrainingTestSupport.randomValues(count, seed: seed + 1, scale: 1e-3),
    v: TrainingTestSupport.randomValues(count, seed: seed + 2, scale: 1e-6).map(abs), step: 7)
  let state = TrainingState(
    step: 7, random: random, dataCursor: 7, tokensSeen: 7 * 32, training: TrainingConfig(steps: 20),
    threadCount: 1, dataFingerprint: "0123456789abcdef", losses: [5.5, 5.25, 4.875, 4.5, 4.25, 4, 3.875],
    extra: ["ema": "absent"])
  return Checkpoint(weights: weights, training: TrainingSnapshot(optimizer: optimizer, state: state))
}

/// `body` throws a `HindcastError` with `code` whose text contains each of `fragments`.
private func expectError(
  _ code: HindcastError.Code, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) {
  do {
    try body()
    Issue.record("no error; expected \(code)", sourceLocation: sourceLocation)
  } catch let error as HindcastError {
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    for fragment in fragments {
      #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
    }
  } catch {
    Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
  }
}

private func files(in directory: String) throws -> [String: [UInt8]] {
  var result: [String: [UInt8]] = [:]
  for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
    result[name] = try AtomicFile.read(directory + "/" + name)
  }
  return result
}

@Suite struct CheckpointTests {
  @Test func roundTripIsBitExact() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let checkpoint = try sampleCheckpoint()
    let path = root + "/ckpt"
    try CheckpointIO.write(checkpoint, to: path)
    #expect(CheckpointIO.isComplete(path))
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        == ["DONE", "config.json", "model.safetensors", "optimizer.safetensors", "state.json"])
    let loaded = try CheckpointIO.read(path)
    #expect(loaded.weights.config == checkpoint.weights.config)
    #expect(loaded.weights.parameters.map(\.bitPattern) == checkpoint.weights.parameters.map(\.bitPattern))
    let training = try #require(loaded.training)
    #expect(training == checkpoint.training)
    #expect(training.optimizer.m.map(\.bitPattern) == checkpoint.training?.optimizer.m.map(\.bitPattern))

    // DONE records the SHA-256 of every other file.
    let done = try JSONSerialization.jsonObject(with: Data(AtomicFile.read(path + "/DONE"))) as? [String: Any]
    #expect(done?["hash"] as? String == "sha256")
    let hashes = try #require(done?["files"] as? [String: String])
    #expect(
      hashes.keys.sorted() == ["config.json", "model.safetensors", "optimizer.safetensors", "state.json"])
    for (name, hash) in hashes {
      #expect(hash == SHA256.hex(try AtomicFile.read(path + "/" + name)), "\(name)")
    }

    // Writing the loaded checkpoint again gives identical bytes, and replaces the old one.
    let before = try files(in: path)
    try CheckpointIO.write(loaded, to: path)
    let unchanged = try files(in: path) == before
    #expect(unchanged, "rewriting a loaded checkpoint changed its bytes")
    let siblings = try FileManager.default.contentsOfDirectory(atPath: root)
    #expect(siblings == ["ckpt"], "no temporary or old directories remain: \(siblings)")

    // A weights-only read of the same directory.
    let weights = try CheckpointIO.readWeights(path)
    #expect(weights.parameters.map(\.bitPattern) == checkpoint.weights.parameters.map(\.bitPattern))
  }

  @Test func weightsOnlyCheckpointHasNoTrainingState() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let full = try sampleCheckpoint()
    try CheckpointIO.write(Checkpoint(weights: full.weights), to: root + "/w")
    let loaded = try CheckpointIO.read(root + "/w")
    #expect(loaded.training == nil)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: root + "/w").sorted() == [
        "DONE", "config.json", "model.safetensors",
      ])
  }

  @Test func damagedCheckpointsAreRejectedWithTheFileNamed() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let checkpoint = try sampleCheckpoint()
    func fresh(_ name: String) throws -> String {
      let path = root + "/" + name
      try CheckpointIO.write(checkpoint, to: path)
      return path
    }

    // Truncated weights: the hash in DONE no longer matches.
    let truncated = try fresh("truncated")
    let modelPath = truncated + "/model.safetensors"
    let bytes = try AtomicFile.read(modelPath)
    try AtomicFile.write(Array(bytes.prefix(bytes.count / 2)), to: modelPath)
    expectError(.corruptFile, ["truncated/model.safetensors", "does not match"]) {
      _ = try CheckpointIO.read(truncated)
    }
    // Without DONE (hash not checked) the truncation is still found by the reader.
    try FileManager.default.removeItem(atPath: truncated + "/DONE")
    expectError(.corruptFile, ["truncated/model.safetensors", "not a valid safetensors file"]) {
      _ = try CheckpointIO.readWeights(truncated)
    }
    // And a full read requires the marker.
    expectError(.corruptFile, ["no DONE marker"]) { _ = try CheckpointIO.read(truncated) }

    // One flipped bit in the optimizer moments.
    let flipped = try fresh("flipped")
    var optimizerBytes = try AtomicFile.read(flipped + "/optimizer.safetensors")
    optimizerBytes[optimizerBytes.count - 3] ^= 0x10
    try AtomicFile.write(optimizerBytes, to: flipped + "/optimizer.safetensors")
    expectError(.corruptFile, ["flipped/optimizer.safetensors"]) { _ = try CheckpointIO.read(flipped) }

    // A corrupt DONE marker, and one from a newer format.
    let badDone = try fresh("bad-done")
    try AtomicFile.write(text: "{not json", to: badDone + "/DONE")
    expectError(.corruptFile, ["bad-done/DONE", "invalid DONE marker"]) { _ = try CheckpointIO.read(badDone) }
    let newer = try fresh("newer")
    let done = try String(decoding: AtomicFile.read(newer + "/DONE"), as: UTF8.self)
    try AtomicFile.write(
      text: done.replacingOccurrences(of: "\"format_version\" : 1", with: "\"format_version\" : 9"),
      to: newer + "/DONE")
    expectError(.versionMismatch, ["newer/DONE", "version 9"]) { _ = try CheckpointIO.read(newer) }

    expectError(.missingFile, ["nowhere"]) { _ = try CheckpointIO.read(root + "/nowhere") }
  }

  @Test func configThatDoesNotMatchTheWeightsIsAShapeMismatch() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let checkpoint = try sampleCheckpoint()
    let path = root + "/ckpt"
    try CheckpointIO.write(Checkpoint(weights: checkpoint.weights), to: path)
    try FileManager.default.removeItem(atPath: path + "/DONE")

    // A wider model: every matrix has the wrong shape.
    var wider = checkpoint.weights.config
    wider.width = 8
    wider.heads = 2
    try AtomicFile.write(JSONEncoder().encode(wider).map { $0 }, to: path + "/config.json")
    expectError(.shapeMismatch, ["ckpt/model.safetensors", "tensor 'wte' has shape [264, 4] but [264, 8]"]) {
      _ = try CheckpointIO.readWeights(path)
    }
    // One layer more: tensors are missing.
    var deeper = checkpoint.weights.config
    deeper.layers = 2
    try AtomicFile.write(JSONEncoder().encode(deeper).map { $0 }, to: path + "/config.json")
    expectError(.shapeMismatch, ["12 tensors missing", "'h.1.ln1.weight'"]) {
      _ = try CheckpointIO.readWeights(path)
    }
    // An invalid config is rejected with the field name.
    var invalid = checkpoint.weights.config
    invalid.heads = 3
    try AtomicFile.write(JSONEncoder().encode(invalid).map { $0 }, to: path + "/config.json")
    expectError(.invalidConfig, ["ckpt/config.json", "'heads'"]) { _ = try CheckpointIO.readWeights(path) }
    try AtomicFile.write(text: "{\"layers\": 1}", to: path + "/config.json")
    expectError(.invalidConfig, ["ckpt/config.json", "missing field"]) {
      _ = try CheckpointIO.readWeights(path)
    }
  }

  @Test func interruptedReplacementIsRecovered() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let old = try sampleCheckpoint(seed: 1)
    let new = try sampleCheckpoint(seed: 2)
    let path = root + "/ckpt"

    // Killed after moving the old checkpoint aside, before the new one was renamed in.
    try CheckpointIO.write(old, to: root + "/ckpt.old-111")
    try CheckpointIO.write(new, to: root + "/ckpt.tmp-222")
    try CheckpointIO.recoverInterruptedWrite(at: path)
    #expect(try CheckpointIO.read(path).weights.parameters == new.weights.parameters)
    #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["ckpt"])

    // Killed while the new checkpoint was still being written: the old one stays.
    try FileManager.default.removeItem(atPath: path)
    try CheckpointIO.write(old, to: root + "/ckpt.old-333")
    try CheckpointIO.write(new, to: root + "/ckpt.tmp-444")
    try FileManager.default.removeItem(atPath: root + "/ckpt.tmp-444/DONE")
    try CheckpointIO.recoverInterruptedWrite(at: path)
    #expect(try CheckpointIO.read(path).weights.parameters == old.weights.parameters)
    #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["ckpt"])

    // A complete checkpoint in place is never replaced by leftovers.
    try CheckpointIO.write(new, to: root + "/ckpt.tmp-555")
    try CheckpointIO.recoverInterruptedWrite(at: path)
    #expect(try CheckpointIO.read(path).weights.parameters == old.weights.parameters)
    #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["ckpt"])
  }

  @Test func pythonLoadsAHindcastCheckpoint() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let checkpoint = try sampleCheckpoint(seed: 9)
    let path = root + "/ckpt"
    try CheckpointIO.write(checkpoint, to: path)
    let script = """
      import json, sys
      from safetensors.numpy import load_file
      from safetensors import safe_open
      d = sys.argv[1]
      config = json.load(open(d + "/config.json"))
      print("config", config["width"], config["layers"], config["vocab_size"])
      with safe_open(d + "/model.safetensors", framework="numpy") as f:
          print("meta", f.metadata()["format"], json.loads(f.metadata()["config"])["width"])
      for file in ["model", "optimizer"]:
          for name, t in sorted(load_file(d + "/" + file + ".safetensors").items()):
              flat = t.reshape(-1)
              print(file, name, str(t.dtype), "x".join(map(str, t.shape)),
                    int(flat.view("uint32")[0]), int(flat.view("uint32")[-1]), repr(float(flat.astype("float64").sum())))
      """
    let lines = try TrainingTestSupport.runPython(script, [path]).split(separator: "\n").map(String.init)
    let config = checkpoint.weights.config
    #expect(lines.contains("config \(config.width) \(config.layers) \(config.vocabSize)"))
    #expect(lines.contains("meta hindcast-checkpoint \(config.width)"))
    let layout = ParameterLayout(config: config)
    var byName: [String: [String]] = [:]
    for line in lines {
      let fields = line.split(separator: " ").map(String.init)
      if fields.count == 7 { byName[fields[0] + " " + fields[1]] = Array(fields[2...]) }
    }
    #expect(byName.count == 3 * layout.entries.count)
    func check(_ key: String, _ entry: ParameterLayout.Entry, _ buffer: [Float]) throws {
      let fields = try #require(byName[key], "python did not list \(key)")
      let values = Array(buffer[entry.offset..<(entry.offset + entry.count)])
      #expect(fields[0] == "float32")
      #expect(fields[1] == entry.shape.map(String.init).joined(separator: "x"))
      #expect(fields[2] == String(values[0].bitPattern))
      #expect(fields[3] == String(values[values.count - 1].bitPattern))
      let sum = values.reduce(0.0) { $0 + Double($1) }
      let pythonSum = try #require(Double(fields[4]))
      #expect(abs(pythonSum - sum) <= 1e-9 * max(1, abs(sum)), "\(key): \(pythonSum) vs \(sum)")
    }
    let training = try #require(checkpoint.training)
    for entry in layout.entries {
      try check("model " + entry.name, entry, checkpoint.weights.parameters)
      try check("optimizer m." + entry.name, entry, training.optimizer.m)
      try check("optimizer v." + entry.name, entry, training.optimizer.v)
    }
  }

  @Test func weightsWrittenByPythonLoad() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let config = TrainingTestSupport.toyConfig
    let layout = ParameterLayout(config: config)
    let spec = layout.entries.map { "\($0.name):" + $0.shape.map(String.init).joined(separator: ",") }
    // Python fills each tensor with (index + offset) / 1000 in float32 and writes the config.
    let script = """
      import json, sys
      import numpy as np
      from safetensors.numpy import save_file
      d, config, specs = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
      tensors, offset = {}, 0
      for spec in specs:
          name, shape = spec.split(":")
          shape = [int(s) for s in shape.split(",")]
          n = int(np.prod(shape))
          tensors[name] = ((np.arange(n, dtype=np.float64) + offset) / 1000).astype(np.float32).reshape(shape)
          offset += n
      save_file(tensors, d + "/model.safetensors")
      json.dump(config, open(d + "/config.json", "w"))
      """
    let configJSON = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
    _ = try TrainingTestSupport.runPython(script, [root, configJSON] + spec)
    let weights = try CheckpointIO.readWeights(root)
    #expect(weights.config == config)
    let expected = (0..<layout.totalCount).map { Float(Double($0) / 1000) }
    #expect(weights.parameters.map(\.bitPattern) == expected.map(\.bitPattern))
    // Without a DONE marker it is not a resumable checkpoint.
    expectError(.corruptFile, ["no DONE marker"]) { _ = try CheckpointIO.read(root) }
  }
}

@Suite struct NonFiniteCheckpointTests {
  /// Weights or moments holding NaN or an infinity are refused at load, naming the file and the
  /// tensor (they would otherwise load and sample blanks, or poison training).
  @Test func nonFiniteWeightsAndMomentsAreRefusedAtLoad() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let good = try sampleCheckpoint()
    for (label, value) in [("nan", Float.nan), ("inf", Float.infinity), ("neg-inf", -Float.infinity)] {
      var parameters = good.weights.parameters
      parameters[parameters.count / 2] = value
      let weights = try ModelWeights(config: good.weights.config, parameters: parameters)
      let path = root + "/weights-" + label
      try CheckpointIO.write(Checkpoint(weights: weights), to: path)
      expectError(.corruptFile, ["weights-\(label)/model.safetensors", "finite"]) {
        _ = try CheckpointIO.readWeights(path)
      }
      var training = try #require(good.training)
      training.optimizer.m[7] = value
      let momentsPath = root + "/moments-" + label
      try CheckpointIO.write(Checkpoint(weights: good.weights, training: training), to: momentsPath)
      expectError(.corruptFile, ["moments-\(label)/optimizer.safetensors", "finite"]) {
        _ = try CheckpointIO.read(momentsPath)
      }
    }
  }
}
