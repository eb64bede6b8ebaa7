import Foundation
import HindcastSupport

/// One arm of an experiment: a named table of pipeline-spec keys applied on top of the
/// experiment's base spec. Arms are data (`pipelines/arms.toml`, or `[arms.NAME]` tables in an
/// experiment spec), so adding one needs no rebuild. Every arm shares the base policy, tasks,
/// model and budget; only the keys it states differ.
///
///     [arms.sdpo]
///     summary = "self-distillation, frozen base teacher, up to the first error, full feedback"
///     baseline = false
///     distill.sdpo = 1.0
///     distill.teacher = "base"
///     rewrite.feedback = "full"
///
/// **Objective weights never leak.** Before an arm's keys apply, every registered objective
/// weight (`distill.sdpo`, `distill.sft`, `distill.grpo`, ... — `ObjectiveRegistry.entries`) is
/// set to 0, whatever the base spec or the experiment's `[pipeline]` keys say; an arm trains
/// exactly the objectives it states. An arm must state at least one weight above zero.
public struct ExperimentArm: Sendable, Equatable {
  /// The arm's name: its run directories are `runs/NAME/...`.
  public var name: String
  /// One line for the report: what the arm changes.
  public var summary: String
  /// Whether the arm is a scalar-reward baseline (no language feedback reaches the learner). The
  /// conclusion compares the primary arm with the baseline arm chosen on validation.
  public var isBaseline: Bool
  /// The pipeline-spec keys the arm states (dotted, e.g. `rewrite.critique`), as written.
  public var keys: [String: TOMLDocument.Value]
  /// Where the arm is defined (`file:line` of its table).
  public var origin: String

  public init(
    name: String, summary: String, isBaseline: Bool, keys: [String: TOMLDocument.Value], origin: String
  ) {
    self.name = name
    self.summary = summary
    self.isBaseline = isBaseline
    self.keys = keys
    self.origin = origin
  }

  /// The dotted pipeline keys of every registered objective's weight.
  public static var objectiveWeightKeys: [String] { ObjectiveRegistry.entries.map { "distill." + $0.name } }

  /// Pipeline keys the experiment sets per run; an arm may not state them (`distill.lr` is swept,
  /// `base.policy` is the experiment's shared base policy).
  static let controlledKeys: Set<String> = ["name", "seed", "rounds", "distill.lr", "base.policy"]

  /// The pipeline-spec keys a run of this arm gets on top of the base spec and the experiment's
  /// `[pipeline]` keys: every objective weight at 0, then the arm's own keys.
  public var overrides: [String: TOMLDocument.Value] {
    var result: [String: TOMLDocument.Value] = [:]
    for key in Self.objectiveWeightKeys { result[key] = .float(0) }
    for (key, value) in keys { result[key] = value }
    return result
  }

  /// Whether `name` may name an arm: bare TOML key characters and `+`, no `.` or `/` (it becomes a
  /// directory name and a table key).
  static func isValidName(_ name: String) -> Bool {
    !name.isEmpty && name.count <= 64
      && name.utf8.allSatisfy { c in
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45 || c == 43
      }
  }
}

/// Reads and writes `[arms.NAME]` tables.
public enum ArmCatalog {
  /// The arms defined by `[arms.NAME]` tables (or `arms.NAME.KEY` entries) of `document`, in
  /// the order they appear, each validated on its own: `summary` (non-empty string) and
  /// `baseline` (boolean) are required; every other key is a pipeline-spec key and is read by the
  /// pipeline spec reader with its type and range checks, so an error names the file, the line
  /// and the key. Arm keys may not be `name`, `seed`, `rounds`, `distill.lr` or `base.policy`.
  /// Returns the keys of `document` it consumed in `used`.
  static func arms(in document: TOMLDocument, used: inout Set<String>) throws -> [ExperimentArm] {
    var keysByArm: [String: [(key: String, entry: TOMLDocument.Entry)]] = [:]
    var firstLine: [String: Int] = [:]
    for (path, entry) in document.entries where path.hasPrefix("arms.") {
      used.insert(path)
      let rest = path.dropFirst("arms.".count)
      guard let dot = rest.firstIndex(of: ".") else {
        throw HindcastError(
          .invalidConfig, "'\(path)' must be inside an arm's table, e.g. [arms.NAME]",
          location: HindcastError.at(document.source, line: entry.line))
      }
      let name = String(rest[..<dot])
      keysByArm[name, default: []].append((String(rest[rest.index(after: dot)...]), entry))
      firstLine[name] = min(firstLine[name] ?? Int.max, entry.line)
    }
    for (table, line) in document.tables where table.hasPrefix("arms.") {
      let name = String(table.dropFirst("arms.".count).prefix { $0 != "." })
      keysByArm[name, default: []] += []
      firstLine[name] = min(firstLine[name] ?? Int.max, line)
    }
    var arms: [ExperimentArm] = []
    for name in keysByArm.keys.sorted(by: { (firstLine[$0] ?? 0, $0) < (firstLine[$1] ?? 0, $1) }) {
      let line = document.tables["arms." + name] ?? firstLine[name]
      arms.append(
        try arm(
          name: name, entries: keysByArm[name] ?? [], source: document.source,
          origin: HindcastError.at(document.source, line: line)))
    }
    return arms
  }

  static func arm(
    name: String, entries: [(key: String, entry: TOMLDocument.Entry)], source: String, origin: String
  ) throws -> ExperimentArm {
    guard ExperimentArm.isValidName(name) else {
      throw HindcastError(
        .invalidConfig, "arm name '\(name)' may hold only letters, digits, '_', '-' and '+'", location: origin
      )
    }
    func invalid(_ key: String, _ entry: TOMLDocument.Entry, _ message: String) -> HindcastError {
      HindcastError(
        .invalidConfig, "arm '\(name)': '\(key)' \(message)",
        location: HindcastError.at(source, line: entry.line))
    }
    var summary: String?
    var baseline: Bool?
    var keys: [String: TOMLDocument.Value] = [:]
    var lines: [Int: String] = [:]
    for (key, entry) in entries {
      switch key {
      case "summary":
        guard case .string(let text) = entry.value, !text.isEmpty else {
          throw invalid(key, entry, "must be a non-empty string")
        }
        summary = text
      case "baseline":
        guard case .bool(let flag) = entry.value else { throw invalid(key, entry, "must be true or false") }
        baseline = flag
      default:
        if ExperimentArm.controlledKeys.contains(key) {
          throw invalid(
            key, entry,
            "is set by the experiment itself (seeds, budget.rounds, learning_rates, the base policy)")
        }
        keys[key] = entry.value
        lines[entry.line] = dottedKey(key) + " = " + SpecRendering.literal(entry.value)
      }
    }
    guard let summary else {
      throw HindcastError(
        .invalidConfig, "arm '\(name)' has no 'summary' (one line for the report: what the arm changes)",
        location: origin)
    }
    guard let baseline else {
      throw HindcastError(
        .invalidConfig,
        "arm '\(name)' has no 'baseline' (true for a scalar-reward baseline, false for a feedback arm)",
        location: origin)
    }
    // The pipeline spec reader checks the arm's keys: a document holding only them, each on the
    // line it has in the arm's file, so errors name that file, line and key.
    let lastLine = lines.keys.max() ?? 0
    let text = (1...max(1, lastLine)).map { lines[$0] ?? "" }.joined(separator: "\n") + "\n"
    do {
      _ = try PipelineSpec.parse(text: text, source: source)
    } catch let error as HindcastError {
      throw HindcastError(
        error.code, "arm '\(name)': " + error.message, location: error.location, hint: error.hint)
    }
    let positive = ExperimentArm.objectiveWeightKeys.filter { key in
      switch keys[key] {
      case .float(let w): return w > 0
      case .integer(let w): return w > 0
      default: return false
      }
    }
    guard !positive.isEmpty else {
      throw HindcastError(
        .invalidConfig,
        "arm '\(name)' sets no objective weight above zero; every weight ("
          + ExperimentArm.objectiveWeightKeys.joined(separator: ", ")
          + ") is 0 before an arm's keys apply, so an arm states the objectives it trains",
        location: origin)
    }
    return ExperimentArm(name: name, summary: summary, isBaseline: baseline, keys: keys, origin: origin)
  }

  /// A dotted key with each part quoted when it is not a bare TOML key.
  static func dottedKey(_ key: String) -> String {
    key.split(separator: ".", omittingEmptySubsequences: false).map { SpecRendering.key(String($0)) }
      .joined(separator: ".")
  }

  /// `arms` as `[arms.NAME]` tables, in the given order with keys sorted: the text an
  /// experiment directory freezes (`OUT/arms.toml`) and reads back with `arms(in:used:)`.
  public static func render(_ arms: [ExperimentArm], comment: [String]) -> String {
    var lines = comment.map { "# " + $0 }
    for arm in arms {
      if !lines.isEmpty { lines.append("") }
      lines.append("[arms.\(SpecRendering.key(arm.name))]")
      lines.append("summary = " + SpecRendering.literal(.string(arm.summary)))
      lines.append("baseline = " + SpecRendering.literal(.bool(arm.isBaseline)))
      for key in arm.keys.keys.sorted() {
        lines.append(dottedKey(key) + " = " + SpecRendering.literal(arm.keys[key] ?? .bool(false)))
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Reads an arms file (only `[arms.NAME]` tables; anything else is an error naming its line).
  public static func load(path: String) throws -> [ExperimentArm] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw HindcastError(.missingFile, "arms file not found or unreadable", location: path)
    }
    let document = try TOMLDocument(text: String(decoding: data, as: UTF8.self), source: path)
    var used: Set<String> = []
    let arms = try arms(in: document, used: &used)
    if let (key, entry) = document.entries.filter({ !used.contains($0.key) }).min(by: {
      $0.value.line < $1.value.line
    }) {
      throw HindcastError(
        .invalidConfig, "unknown key '\(key)' (an arms file holds only [arms.NAME] tables)",
        location: HindcastError.at(path, line: entry.line), hint: "docs/experiments.md describes arms files")
    }
    if let (table, line) = document.tables.filter({ $0.key != "arms" && !$0.key.hasPrefix("arms.") }).min(
      by: {
        $0.value < $1.value
      })
    {
      throw HindcastError(
        .invalidConfig, "unknown table [\(table)] (an arms file holds only [arms.NAME] tables)",
        location: HindcastError.at(path, line: line))
    }
    return arms
  }
}
