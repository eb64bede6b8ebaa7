import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport

/// Reads and writes checkpoint directories:
///
///     DIR/model.safetensors      weights by `ParameterLayout` entry name (F32), metadata with the
///                                format version and the config as JSON
///     DIR/config.json            the `ModelConfig`
///     DIR/optimizer.safetensors  AdamW moments "m.NAME" and "v.NAME" per entry (training only)
///     DIR/state.json             `TrainingState` (training only)
///     DIR/DONE                   written last: format version and a content hash of every file
///
/// A checkpoint is complete exactly when `DONE` exists and every hash matches. Hashes are
/// SHA-256 in hex (what `sha256sum` prints), and `DONE` names the algorithm.
///
/// Writes build the directory as `DIR.tmp-PID` (every file flushed), then move an existing `DIR`
/// aside to `DIR.old-PID`, rename the new one into place, flush the parent and delete the old
/// one. `recoverInterruptedWrite(at:)` completes or rolls back a write killed between those
/// renames. One writer per directory at a time.
public enum CheckpointIO {
  /// The file names inside a checkpoint directory.
  public enum FileName {
    public static let model = "model.safetensors"
    public static let config = "config.json"
    public static let optimizer = "optimizer.safetensors"
    public static let state = "state.json"
    public static let done = "DONE"
  }

  /// The checkpoint format version this build writes (and the newest it reads).
  public static let formatVersion = 1
  static let formatName = "hindcast-checkpoint"
  static let hashName = "sha256"

  /// The contents of `DONE`.
  struct DoneMarker: Codable {
    var format: String
    var formatVersion: Int
    var hash: String
    var files: [String: String]

    enum CodingKeys: String, CodingKey {
      case format
      case formatVersion = "format_version"
      case hash
      case files
    }
  }

  /// Writes `checkpoint` to `directory`, replacing any checkpoint there. See the type's notes.
  public static func write(_ checkpoint: Checkpoint, to directory: String) throws {
    let directory = normalized(directory)
    let parent = (directory as NSString).deletingLastPathComponent
    let fileManager = FileManager.default
    try createDirectory(parent.isEmpty ? "." : parent)
    let pid = getpid()
    let temporary = "\(directory).tmp-\(pid)"
    try? fileManager.removeItem(atPath: temporary)
    try createDirectory(temporary)
    var replaced = false
    defer {
      if !replaced { try? fileManager.removeItem(atPath: temporary) }
    }

    var hashes: [String: String] = [:]
    func put(_ name: String, _ bytes: [UInt8]) throws {
      hashes[name] = contentHash(bytes)
      try AtomicFile.write(bytes, to: temporary + "/" + name)
    }
    let weights = checkpoint.weights
    let layout = ParameterLayout(config: weights.config)
    let configJSON = try encodeJSON(weights.config, what: FileName.config)
    try put(
      FileName.model,
      SafeTensors.encode(
        layout.entries.map {
          ($0.name, $0.shape, Array(weights.parameters[$0.offset..<($0.offset + $0.count)]))
        },
        metadata: [
          "format": formatName, "format_version": String(formatVersion),
          "config": String(
            decoding: try encodeJSON(weights.config, what: FileName.config, pretty: false), as: UTF8.self),
        ], location: temporary + "/" + FileName.model))
    try put(FileName.config, configJSON + [0x0A])
    if let training = checkpoint.training {
      let optimizer = training.optimizer
      guard optimizer.m.count == layout.totalCount, optimizer.v.count == layout.totalCount else {
        throw HindcastError(
          .internalInvariant,
          "optimizer moments have \(optimizer.m.count)/\(optimizer.v.count) values for \(layout.totalCount) parameters",
          location: directory)
      }
      var tensors: [SafeTensors.NamedTensor] = []
      for entry in layout.entries {
        let range = entry.offset..<(entry.offset + entry.count)
        tensors.append(("m." + entry.name, entry.shape, Array(optimizer.m[range])))
        tensors.append(("v." + entry.name, entry.shape, Array(optimizer.v[range])))
      }
      try put(
        FileName.optimizer,
        SafeTensors.encode(
          tensors,
          metadata: [
            "format": formatName, "format_version": String(formatVersion), "step": String(optimizer.step),
          ], location: temporary + "/" + FileName.optimizer))
      try put(FileName.state, encodeJSON(training.state, what: FileName.state) + [0x0A])
    }
    let done = DoneMarker(format: formatName, formatVersion: formatVersion, hash: hashName, files: hashes)
    try AtomicFile.write(encodeJSON(done, what: FileName.done) + [0x0A], to: temporary + "/" + FileName.done)

    let old = "\(directory).old-\(pid)"
    var movedAside = false
    if fileManager.fileExists(atPath: directory) {
      try? fileManager.removeItem(atPath: old)
      try rename(directory, to: old)
      movedAside = true
    }
    do {
      try rename(temporary, to: directory)
    } catch {
      if movedAside { try? rename(old, to: directory) }
      throw error
    }
    replaced = true
    AtomicFile.syncDirectory(parent.isEmpty ? "." : parent)
    if movedAside { try? fileManager.removeItem(atPath: old) }
  }

  /// Reads a complete checkpoint: `DONE` must exist, its hashes must match, and the weights
  /// (and the optimizer moments, when present) must have the shapes `config.json` implies.
  /// `training` is nil when the checkpoint holds no `state.json`.
  public static func read(_ directory: String) throws -> Checkpoint {
    let directory = normalized(directory)
    let done = try readDone(directory, required: true)
    let weights = try readWeights(directory, done: done)
    guard done?.files[FileName.state] != nil else { return Checkpoint(weights: weights) }
    guard done?.files[FileName.optimizer] != nil else {
      throw HindcastError(
        .corruptFile, "the checkpoint has \(FileName.state) but no \(FileName.optimizer)", location: directory
      )
    }
    let statePath = directory + "/" + FileName.state
    let stateBytes = try readVerified(statePath, done: done)
    let state: TrainingState
    do {
      state = try JSONDecoder().decode(TrainingState.self, from: Data(stateBytes))
    } catch {
      throw HindcastError(
        .corruptFile, "invalid training state: \(JSONLines.describe(error))", location: statePath)
    }
    try checkVersion(state.formatVersion, what: statePath)
    let optimizerPath = directory + "/" + FileName.optimizer
    let file = try SafeTensors.decode(readVerified(optimizerPath, done: done), path: optimizerPath)
    let layout = ParameterLayout(config: weights.config)
    let expected = layout.entries.flatMap { [("m." + $0.name, $0.shape), ("v." + $0.name, $0.shape)] }
    try checkNames(file, expected: expected.map(\.0), against: FileName.config)
    var m = [Float](repeating: 0, count: layout.totalCount)
    var v = [Float](repeating: 0, count: layout.totalCount)
    for entry in layout.entries {
      let range = entry.offset..<(entry.offset + entry.count)
      let mValues = try file.tensor("m." + entry.name, expectedShape: entry.shape).values
      let vValues = try file.tensor("v." + entry.name, expectedShape: entry.shape).values
      try requireFinite(mValues, tensor: "m." + entry.name, path: optimizerPath)
      try requireFinite(vValues, tensor: "v." + entry.name, path: optimizerPath)
      if let bad = vValues.firstIndex(where: { $0 < 0 }) {
        throw HindcastError(
          .corruptFile, "tensor 'v.\(entry.name)' holds a negative second moment at index \(bad)",
          location: optimizerPath, hint: "the optimizer state is damaged; resume from an earlier checkpoint")
      }
      m.replaceSubrange(range, with: mValues)
      v.replaceSubrange(range, with: vValues)
    }
    let optimizerStep = max(0, Int(file.metadata["step"] ?? "") ?? state.step)
    let optimizer = AdamWState(m: m, v: v, step: optimizerStep)
    return Checkpoint(weights: weights, training: TrainingSnapshot(optimizer: optimizer, state: state))
  }

  /// Reads only `config.json` and `model.safetensors`, as inference needs. `DONE` is optional
  /// (a directory written by Python has none); when present, the two files' hashes are checked.
  public static func readWeights(_ directory: String) throws -> ModelWeights {
    let directory = normalized(directory)
    return try readWeights(directory, done: readDone(directory, required: false))
  }

  /// Reads and validates a model config JSON file (the `config.json` format). Throws
  /// `.invalidConfig` naming the file and the field for malformed or out-of-range values.
  public static func readModelConfig(_ path: String) throws -> ModelConfig {
    try decodeModelConfig(AtomicFile.read(path), path: path)
  }

  /// True when `directory` holds a `DONE` marker (the checkpoint was completely written).
  public static func isComplete(_ directory: String) -> Bool {
    FileManager.default.fileExists(atPath: normalized(directory) + "/" + FileName.done)
  }

  /// Repairs the effects of a `write` to `directory` that was killed: if `directory` is missing
  /// but a complete new (`.tmp-PID`) or old (`.old-PID`) copy exists, the newest complete one is
  /// renamed into place; then every leftover `.tmp-*`/`.old-*` sibling is deleted. Must not run
  /// while another process writes the same checkpoint.
  public static func recoverInterruptedWrite(at directory: String) throws {
    let directory = normalized(directory)
    let parent = (directory as NSString).deletingLastPathComponent
    let name = (directory as NSString).lastPathComponent
    let listing = parent.isEmpty ? "." : parent
    guard let siblings = try? FileManager.default.contentsOfDirectory(atPath: listing) else { return }
    let prefix = parent.isEmpty ? "" : parent + "/"
    let temporaries = siblings.filter { $0.hasPrefix(name + ".tmp-") }.sorted().map { prefix + $0 }
    let olds = siblings.filter { $0.hasPrefix(name + ".old-") }.sorted().map { prefix + $0 }
    if !FileManager.default.fileExists(atPath: directory),
      let survivor = (temporaries + olds).first(where: { isComplete($0) })
    {
      try rename(survivor, to: directory)
      AtomicFile.syncDirectory(listing)
    }
    for leftover in temporaries + olds where FileManager.default.fileExists(atPath: leftover) {
      try? FileManager.default.removeItem(atPath: leftover)
    }
  }

  // MARK: - Internals

  /// Refuses a tensor holding NaN or an infinity: such weights would load and then sample
  /// garbage (or poison training) without any error.
  static func requireFinite(_ values: [Float], tensor name: String, path: String) throws {
    guard let bad = values.firstIndex(where: { !$0.isFinite }) else { return }
    throw HindcastError(
      .corruptFile, "tensor '\(name)' holds \(values[bad]) at index \(bad); weights must be finite",
      location: path, hint: "the checkpoint is damaged or came from a diverged run; use an earlier one")
  }

  static func readWeights(_ directory: String, done: DoneMarker?) throws -> ModelWeights {
    let configPath = directory + "/" + FileName.config
    let config = try decodeModelConfig(readVerified(configPath, done: done), path: configPath)
    let modelPath = directory + "/" + FileName.model
    let file = try SafeTensors.decode(readVerified(modelPath, done: done), path: modelPath)
    if let version = file.metadata["format_version"] {
      try checkVersion(Int(version) ?? Int.max, what: modelPath)
    }
    let layout = ParameterLayout(config: config)
    try checkNames(file, expected: layout.entries.map(\.name), against: FileName.config)
    var parameters = [Float](repeating: 0, count: layout.totalCount)
    for entry in layout.entries {
      let values = try file.tensor(entry.name, expectedShape: entry.shape).values
      try requireFinite(values, tensor: entry.name, path: modelPath)
      parameters.replaceSubrange(entry.offset..<(entry.offset + entry.count), with: values)
    }
    return try ModelWeights(config: config, parameters: parameters)
  }

  static func decodeModelConfig(_ bytes: [UInt8], path: String) throws -> ModelConfig {
    let config: ModelConfig
    do {
      config = try JSONDecoder().decode(ModelConfig.self, from: Data(bytes))
    } catch {
      throw HindcastError(
        .invalidConfig, "invalid model config: \(JSONLines.describe(error))", location: path,
        hint:
          "a model config is a JSON object with vocab_size, context_length, layers, width, heads, mlp_multiplier"
      )
    }
    try config.validate(source: path)
    return config
  }

  /// Throws `.shapeMismatch` listing the missing and unexpected tensor names of `file`.
  static func checkNames(_ file: SafeTensorsFile, expected: [String], against configName: String) throws {
    let expectedSet = Set(expected)
    let missing = expected.filter { file.tensors[$0] == nil }
    let unexpected = file.names.filter { !expectedSet.contains($0) }
    guard missing.isEmpty && unexpected.isEmpty else {
      func list(_ names: [String]) -> String {
        names.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (names.count > 5 ? ", ..." : "")
      }
      var parts: [String] = []
      if !missing.isEmpty { parts.append("\(missing.count) tensors missing (\(list(missing)))") }
      if !unexpected.isEmpty { parts.append("\(unexpected.count) unexpected tensors (\(list(unexpected)))") }
      throw HindcastError(
        .shapeMismatch, "the tensors do not match \(configName): " + parts.joined(separator: "; "),
        location: file.path, hint: "the weights and \(configName) come from different models")
    }
  }

  static func readDone(_ directory: String, required: Bool) throws -> DoneMarker? {
    let path = directory + "/" + FileName.done
    guard FileManager.default.fileExists(atPath: path) else {
      guard FileManager.default.fileExists(atPath: directory) else {
        throw HindcastError(.missingFile, "checkpoint directory not found", location: directory)
      }
      if !required { return nil }
      throw HindcastError(
        .corruptFile, "the checkpoint is incomplete: it has no \(FileName.done) marker", location: directory,
        hint: "the write was interrupted; use an earlier checkpoint or train again")
    }
    let done: DoneMarker
    do {
      done = try JSONDecoder().decode(DoneMarker.self, from: Data(AtomicFile.read(path)))
    } catch let error as HindcastError {
      throw error
    } catch {
      throw HindcastError(.corruptFile, "invalid DONE marker: \(JSONLines.describe(error))", location: path)
    }
    guard done.format == formatName else {
      throw HindcastError(
        .corruptFile, "not a Hindcast checkpoint marker (format '\(done.format)')", location: path)
    }
    try checkVersion(done.formatVersion, what: path)
    guard done.hash == hashName else {
      throw HindcastError(
        .versionMismatch, "unknown hash '\(done.hash)' (this build knows '\(hashName)')", location: path)
    }
    return done
  }

  /// The bytes of `path`, checked against the hash `DONE` records for it (if there is a marker).
  static func readVerified(_ path: String, done: DoneMarker?) throws -> [UInt8] {
    let bytes = try AtomicFile.read(path)
    guard let done else { return bytes }
    let name = (path as NSString).lastPathComponent
    guard let expected = done.files[name] else {
      throw HindcastError(
        .corruptFile, "the \(FileName.done) marker lists no hash for \(name)", location: path)
    }
    let actual = contentHash(bytes)
    guard actual == expected else {
      throw HindcastError(
        .corruptFile, "content hash \(actual) does not match \(expected) recorded in \(FileName.done)",
        location: path, hint: "the file was modified or damaged after the checkpoint was written")
    }
    return bytes
  }

  static func checkVersion(_ version: Int, what: String) throws {
    guard version >= 1 && version <= formatVersion else {
      throw HindcastError(
        .versionMismatch,
        "checkpoint format version \(version) is not supported (this build reads 1...\(formatVersion))",
        location: what, hint: "use the Hindcast version that wrote it")
    }
  }

  static func contentHash(_ bytes: [UInt8]) -> String {
    SHA256.hex(bytes)
  }

  static func encodeJSON<T: Encodable>(_ value: T, what: String, pretty: Bool = true) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting =
      pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys]
    do {
      return try [UInt8](encoder.encode(value))
    } catch {
      throw HindcastError(.internalInvariant, "cannot encode \(what): \(error)")
    }
  }

  static func normalized(_ path: String) -> String {
    var path = path
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    return path
  }

  static func createDirectory(_ path: String) throws {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw HindcastError(
        .ioFailure, "cannot create directory: \(error.localizedDescription)", location: path)
    }
  }

  static func rename(_ from: String, to: String) throws {
    guard Foundation.rename(from, to) == 0 else {
      throw HindcastError(
        .ioFailure, "cannot rename \(from) to \(to): \(String(cString: strerror(errno)))", location: to)
    }
  }
}
