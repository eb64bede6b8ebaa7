import Foundation
import HindcastSupport

/// A validated experiment spec (`pipelines/experiment-FAMILY.toml`): which arms to compare, on
/// which seeds, with which learning-rate sweep and round budget, starting from which pipeline spec.
/// Same TOML subset and strictness as pipeline specs: an unknown key is an error naming its line.
///
///     name = "experiment-arith"
///     base = "quickstart.toml"            # relative to this file's directory
///     seeds = [1, 2, 3, 4, 5]
///     sweep_seed = 1000                   # learning-rate sweep runs, never reported
///     arms = ["sdpo", "grpo", "rft"]
///     learning_rates = [3e-5, 1e-4, 3e-4]
///     [budget]
///     rounds = 4
///     [guard]
///     collapse_margin = 0.1
///     [pipeline.tasks]                    # any pipeline-spec key, applied to every run
///     train_per_round = 32
public struct ExperimentSpec: Sendable, Equatable {
  public var name: String
  /// The base pipeline spec as written in the file.
  public var base: String
  /// The base pipeline spec resolved against the experiment file's directory.
  public var basePath: String
  /// Reported run seeds.
  public var seeds: [UInt64]
  /// Seed of the learning-rate sweep's runs; never one of `seeds`, so no sweep run is reported.
  public var sweepSeed: UInt64
  public var arms: [ExperimentArm]
  /// Candidate values of `distill.lr`; a single value means no sweep.
  public var learningRates: [Double]
  /// Rounds every run gets (each round: rollout, feedback, rewrite, memory, distill, eval).
  public var rounds: Int
  /// An arm whose mean test greedy pass@1 falls more than this below its best round is
  /// flagged as collapsed in the report (absolute, 0...1).
  public var collapseMargin: Double
  /// Pipeline-spec keys (dotted, e.g. `tasks.train_per_round`) applied to every run.
  public var pipelineOverrides: [String: TOMLDocument.Value]

  /// Keys the experiment itself sets in every generated run spec; `[pipeline]` may not set them.
  /// Pipeline keys the experiment sets per run. (`pipeline.base.policy` is allowed: it makes the
  /// base run copy that checkpoint instead of pretraining; the arms always start from the base
  /// run's policy.)
  static let controlledKeys: Set<String> = ["name", "seed", "rounds", "distill.lr"]

  public static func load(path: String) throws -> ExperimentSpec {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw HindcastError(.missingFile, "experiment spec not found or unreadable", location: path)
    }
    return try parse(text: String(decoding: data, as: UTF8.self), source: path)
  }

  /// Parses and validates an experiment spec; `source` names the file for errors and resolves the
  /// relative `base` path. Does not read the base spec.
  public static func parse(text: String, source: String) throws -> ExperimentSpec {
    let document = try TOMLDocument(text: text, source: source)
    var r = SpecReader(document)
    let fallbackName = ((source as NSString).lastPathComponent as NSString).deletingPathExtension
    let name = try r.string("name", default: fallbackName) ?? fallbackName
    guard !name.isEmpty, !name.contains("/") else {
      throw r.invalid("name", "must be a non-empty name without '/'")
    }
    guard let base = try r.string("base", default: nil), !base.isEmpty else {
      throw HindcastError(
        .invalidConfig, "missing key 'base' (the pipeline spec every arm starts from)", location: source,
        hint: "add e.g. base = \"quickstart.toml\" (relative to this file's directory)")
    }
    let seeds = try r.ints("seeds", default: [1, 2, 3], in: 0...Int.max).map { UInt64($0) }
    guard !seeds.isEmpty, Set(seeds).count == seeds.count else {
      throw r.invalid("seeds", "must list at least one seed, without repeats")
    }
    let sweepSeed = UInt64(try r.int("sweep_seed", default: 1000, in: 0...Int.max))
    guard !seeds.contains(sweepSeed) else {
      throw r.invalid(
        "sweep_seed", "must differ from every reported seed: the sweep's runs are never reported")
    }
    let armNames = try r.strings("arms", default: [ExperimentArm.sdpo.rawValue, ExperimentArm.grpo.rawValue])
    var arms: [ExperimentArm] = []
    for armName in armNames {
      guard let arm = ExperimentArm(rawValue: armName) else {
        let allowed = ExperimentArm.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        throw r.invalid("arms", "must hold arm names from \(allowed), got '\(armName)'")
      }
      arms.append(arm)
    }
    guard !arms.isEmpty, Set(arms).count == arms.count else {
      throw r.invalid("arms", "must list at least one arm, without repeats")
    }
    let learningRates = try r.doubles("learning_rates", default: [1e-4], in: 1e-8...1)
    guard !learningRates.isEmpty, Set(learningRates).count == learningRates.count else {
      throw r.invalid("learning_rates", "must list at least one learning rate, without repeats")
    }
    let rounds = try r.int("budget.rounds", default: 3, in: 1...1000)
    let margin = try r.double("guard.collapse_margin", default: 0.1, in: 0...1)

    var overrides: [String: TOMLDocument.Value] = [:]
    for (key, entry) in document.entries where key.hasPrefix("pipeline.") {
      let specKey = String(key.dropFirst("pipeline.".count))
      if controlledKeys.contains(specKey) {
        throw HindcastError(
          .invalidConfig, "'\(key)' is set by the experiment itself",
          location: HindcastError.at(source, line: entry.line),
          hint: "use seeds, budget.rounds and learning_rates instead")
      }
      overrides[specKey] = entry.value
    }
    try finish(reader: r, document: document)

    let directory = (source as NSString).deletingLastPathComponent
    let basePath = base.hasPrefix("/") || directory.isEmpty ? base : directory + "/" + base
    return ExperimentSpec(
      name: name, base: base, basePath: basePath, seeds: seeds, sweepSeed: sweepSeed, arms: arms,
      learningRates: learningRates,
      rounds: rounds, collapseMargin: margin, pipelineOverrides: overrides)
  }

  /// Like `SpecReader.finish`, but keys and tables under `pipeline` belong to the base spec and are
  /// validated when the run specs are rendered.
  private static func finish(reader: SpecReader, document: TOMLDocument) throws {
    let unknown = document.entries.filter { !reader.used.contains($0.key) && !$0.key.hasPrefix("pipeline.") }
    if let (key, entry) = unknown.min(by: { $0.value.line < $1.value.line }) {
      throw HindcastError(
        .invalidConfig, "unknown key '\(key)'", location: HindcastError.at(document.source, line: entry.line),
        hint: "docs/experiments.md lists every key; pipeline-spec keys go under [pipeline.TABLE]")
    }
    let known: Set<String> = ["budget", "guard", "pipeline"]
    if let (table, line) = document.tables.filter({
      !known.contains($0.key) && !$0.key.hasPrefix("pipeline.")
    })
    .min(by: { $0.value < $1.value }) {
      throw HindcastError(
        .invalidConfig, "unknown table [\(table)]", location: HindcastError.at(document.source, line: line),
        hint: "docs/experiments.md lists every table")
    }
  }

  /// Rounds to a short, stable label used in directory names (`lr-0.0001`, `lr-3e-05`).
  public static func label(learningRate: Double) -> String { "lr-\(learningRate)" }
}
