import Foundation
import HindcastSupport

/// A validated experiment spec (`pipelines/experiment-FAMILY.toml`): which arms to compare, which
/// one is primary, on which seeds, with which learning-rate sweep and round budget, starting from
/// which pipeline spec. Same TOML subset and strictness as pipeline specs: an unknown key is an
/// error naming its line.
///
///     name = "experiment-arith"
///     base = "quickstart.toml"            # relative to this file's directory
///     arms_file = "arms.toml"             # [arms.NAME] tables, relative to this file's directory
///     arms = ["sdpo", "grpo", "rft"]      # which arms run, in this order
///     primary = "sdpo"                    # the feedback arm the conclusion is about
///     seeds = [1, 2, 3, 4, 5]
///     sweep_seed = 1000                   # learning-rate sweep runs, never reported
///     learning_rates = [3e-5, 1e-4]
///     [budget]
///     rounds = 4
///     [guard]
///     collapse_margin = 0.1
///     [pipeline.tasks]                    # any pipeline-spec key, applied to every run
///     train_per_round = 32
///     [arms.sdpo-t2]                      # an arm defined here (replaces a file arm of that name)
///     summary = "sdpo with rollout temperature 1.2"
///     baseline = false
///     distill.sdpo = 1.0
///     rollout.temperature = 1.2
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
  /// The arms file as written (`arms_file`), if any.
  public var armsFile: String?
  /// The arms that run, in the order of `arms`, resolved from the arms file and the inline
  /// `[arms.NAME]` tables (an inline table replaces a file arm of the same name as a whole).
  public var arms: [ExperimentArm]
  /// The name of the primary arm: a feedback arm named before anything runs. The conclusion is
  /// computed for it against the tuned baseline; comparisons of other arms are exploratory.
  public var primary: String
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

  /// The primary arm (always one of `arms`).
  public var primaryArm: ExperimentArm? { arms.first { $0.name == primary } }

  public static func load(path: String) throws -> ExperimentSpec {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw HindcastError(.missingFile, "experiment spec not found or unreadable", location: path)
    }
    return try parse(text: String(decoding: data, as: UTF8.self), source: path)
  }

  /// Parses and validates an experiment spec; `source` names the file for errors and resolves the
  /// relative `base` and `arms_file` paths. Reads the arms file (every arm is validated with the
  /// pipeline spec reader here), not the base spec. With `frozenArms` (an experiment directory's
  /// `arms.toml`) the arms come from that file alone: it holds the arms as resolved when the
  /// experiment started.
  public static func parse(text: String, source: String, frozenArms: String? = nil) throws -> ExperimentSpec {
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
    let directory = (source as NSString).deletingLastPathComponent
    func resolve(_ path: String) -> String {
      path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path
    }
    // Arms: the file's tables, then the inline ones (replacing a file arm of the same name).
    let armsFile = try r.string("arms_file", default: nil)
    var defined: [ExperimentArm] = []
    if let frozenArms {
      defined = try ArmCatalog.load(path: frozenArms)
    } else if let armsFile {
      guard !armsFile.isEmpty else { throw r.invalid("arms_file", "must name a file") }
      let path = resolve(armsFile)
      guard FileManager.default.fileExists(atPath: path) else {
        throw r.invalid("arms_file", "names '\(path)', which does not exist")
      }
      defined = try ArmCatalog.load(path: path)
    }
    var inlineKeys: Set<String> = []
    let inline = try ArmCatalog.arms(in: document, used: &inlineKeys)
    if frozenArms == nil {
      for arm in inline {
        if let index = defined.firstIndex(where: { $0.name == arm.name }) {
          defined[index] = arm
        } else {
          defined.append(arm)
        }
      }
    }
    guard r.document.entries["arms"] != nil else {
      throw HindcastError(
        .invalidConfig, "missing key 'arms' (the arms to run, by name)", location: source,
        hint: "e.g. arms = [\"sdpo\", \"grpo\"] with arms_file = \"arms.toml\" (pipelines/arms.toml)")
    }
    let armNames = try r.strings("arms", default: [])
    guard !armNames.isEmpty, Set(armNames).count == armNames.count else {
      throw r.invalid("arms", "must list at least one arm, without repeats")
    }
    let known = defined.map(\.name)
    let arms = try armNames.map { name -> ExperimentArm in
      guard let arm = defined.first(where: { $0.name == name }) else {
        let definedIn = armsFile.map { "in \($0) or " } ?? ""
        throw r.invalid(
          "arms",
          "names '\(name)', which is not defined \(definedIn)in an [arms.NAME] table here"
            + (known.isEmpty ? "" : " (defined: \(known.joined(separator: ", ")))"))
      }
      return arm
    }
    guard let primary = try r.string("primary", default: nil) else {
      throw HindcastError(
        .invalidConfig,
        "missing key 'primary': name the feedback arm the conclusion is about before anything runs",
        location: source, hint: "e.g. primary = \"sdpo\"; docs/experiments.md explains the primary arm")
    }
    guard let primaryArm = arms.first(where: { $0.name == primary }) else {
      throw r.invalid(
        "primary", "must be one of the arms (\(armNames.joined(separator: ", "))), got '\(primary)'")
    }
    guard !primaryArm.isBaseline else {
      throw r.invalid("primary", "must be a feedback arm, but '\(primary)' is a baseline (baseline = true)")
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
      if ExperimentArm.objectiveWeightKeys.contains(specKey) {
        throw HindcastError(
          .invalidConfig, "'\(key)': objective weights are set by the arms",
          location: HindcastError.at(source, line: entry.line),
          hint: "every weight is 0 before an arm's keys apply; state the weights in the arm's table")
      }
      if controlledKeys.contains(specKey) {
        throw HindcastError(
          .invalidConfig, "'\(key)' is set by the experiment itself",
          location: HindcastError.at(source, line: entry.line),
          hint: "use seeds, budget.rounds and learning_rates instead")
      }
      overrides[specKey] = entry.value
    }
    try finish(reader: r, document: document, armKeys: inlineKeys)

    return ExperimentSpec(
      name: name, base: base, basePath: resolve(base), seeds: seeds, sweepSeed: sweepSeed, armsFile: armsFile,
      arms: arms, primary: primary, learningRates: learningRates,
      rounds: rounds, collapseMargin: margin, pipelineOverrides: overrides)
  }

  /// Like `SpecReader.finish`, but keys and tables under `pipeline` belong to the base spec and are
  /// validated when the run specs are rendered.
  private static func finish(reader: SpecReader, document: TOMLDocument, armKeys: Set<String>) throws {
    let unknown = document.entries.filter {
      !reader.used.contains($0.key) && !armKeys.contains($0.key) && !$0.key.hasPrefix("pipeline.")
    }
    if let (key, entry) = unknown.min(by: { $0.value.line < $1.value.line }) {
      throw HindcastError(
        .invalidConfig, "unknown key '\(key)'", location: HindcastError.at(document.source, line: entry.line),
        hint: "docs/experiments.md lists every key; pipeline-spec keys go under [pipeline.TABLE]")
    }
    let known: Set<String> = ["budget", "guard", "pipeline", "arms"]
    if let (table, line) = document.tables.filter({
      !known.contains($0.key) && !$0.key.hasPrefix("pipeline.") && !$0.key.hasPrefix("arms.")
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
