import HindcastSupport

/// A validated value of one objective option (`[objective.NAME]` table of a spec).
public enum ObjectiveOptionValue: Codable, Sendable, Equatable {
  case number(Double)
  case text(String)
  case flag(Bool)
}

/// One option an objective accepts: its key, what values are allowed, and its default.
public struct ObjectiveOptionDeclaration: Sendable {
  public enum Kind: Sendable {
    case number(ClosedRange<Double>)
    case choice([String])
    case flag
  }

  public var key: String
  public var kind: Kind
  public var defaultValue: ObjectiveOptionValue
  /// One line for docs and error hints.
  public var meaning: String

  public static func number(_ key: String, _ value: Double, in range: ClosedRange<Double>, _ meaning: String)
    -> Self
  {
    Self(key: key, kind: .number(range), defaultValue: .number(value), meaning: meaning)
  }

  public static func choice(_ key: String, _ value: String, of allowed: [String], _ meaning: String) -> Self {
    Self(key: key, kind: .choice(allowed), defaultValue: .text(value), meaning: meaning)
  }

  public static func flag(_ key: String, _ value: Bool, _ meaning: String) -> Self {
    Self(key: key, kind: .flag, defaultValue: .flag(value), meaning: meaning)
  }
}

/// An objective's options after validation: every declared key has a value (the spec's or the
/// default), so the typed getters cannot fail for a declared key.
public struct ObjectiveOptions: Codable, Sendable, Equatable {
  public var values: [String: ObjectiveOptionValue]

  public init(values: [String: ObjectiveOptionValue] = [:]) { self.values = values }

  public func number(_ key: String) -> Double {
    if case .number(let v) = values[key] { return v }
    return 0
  }

  public func text(_ key: String) -> String {
    if case .text(let v) = values[key] { return v }
    return ""
  }

  public func flag(_ key: String) -> Bool {
    if case .flag(let v) = values[key] { return v }
    return false
  }
}

/// Everything a factory may read: the objective's own options and the `[distill]` table (whose
/// older keys, such as `divergence` and `grpo_clip`, configure sdpo and grpo).
public struct ObjectiveContext: Sendable {
  public var options: ObjectiveOptions
  public var distill: PipelineSpec.Distill
}

/// The table of objectives the distill stage knows, by spec name (in the spirit of verl's
/// `register_policy_loss` / `register_adv_est` registries: one signature, selected by a string).
///
/// An objective's weight is `distill.NAME` (0 = off, the default except sdpo's 1); its options
/// live in an optional `[objective.NAME]` table and are validated against its declarations, with
/// errors naming the file, line and key. Adding an objective: write its type in its own file
/// under `Objectives/`, and add one `Entry` to `entries`. Order matters: within one rollout, the
/// pool lists examples in this order, which fixes the data order of training.
public enum ObjectiveRegistry {
  public struct Entry: Sendable {
    public var name: String
    public var summary: String
    public var options: [ObjectiveOptionDeclaration]
    public var make: @Sendable (ObjectiveContext) throws -> any DistillObjective
  }

  /// Options every objective accepts (applied by `ObjectiveModifiers`).
  public static let commonOptions: [ObjectiveOptionDeclaration] = [
    .flag(
      "difficulty", false,
      "multiply each example's terms by sqrt(p(1-p)) of its task's group pass rate p (SC-SDPO)")
  ]

  public static let entries: [Entry] = [
    Entry(
      name: "sdpo", summary: "divergence toward the feedback-conditioned teacher on the student's attempt",
      options: SdpoObjective.options, make: { try SdpoObjective(context: $0) }),
    Entry(
      name: "sft", summary: "cross-entropy on verified hindsight rewrites",
      options: [], make: { _ in SftObjective() }),
    Entry(
      name: "rft", summary: "cross-entropy on the policy's own passing attempts",
      options: [], make: { _ in RftObjective() }),
    Entry(
      name: "grpo", summary: "clipped policy gradient with group-normalized rewards",
      options: GrpoObjective.options, make: { try GrpoObjective(context: $0) }),
    Entry(
      name: "route", summary: "sdpo on failed attempts, grpo or rft on passing ones (SRPO routing)",
      options: RouteObjective.options, make: { try RouteObjective(context: $0) }),
    Entry(
      name: "credit",
      summary: "grpo with per-token weights from the clipped teacher-student log-ratio (RLSD)",
      options: CreditObjective.options, make: { try CreditObjective(context: $0) }),
    Entry(
      name: "rewrite_advantage",
      summary: "cross-entropy on hindsight rewrites weighted by reward minus the group's mean (RLTF-SD)",
      options: RewriteAdvantageObjective.options, make: { try RewriteAdvantageObjective(context: $0) }),
  ]

  public static func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

  /// The objectives with a positive weight, in registry order, each wrapped with its common
  /// options.
  public static func active(_ distill: PipelineSpec.Distill) throws -> [(
    objective: any DistillObjective, weight: Double
  )] {
    try entries.compactMap { entry in
      let weight = distill.weights[entry.name] ?? 0
      guard weight > 0 else { return nil }
      let options = Self.options(of: entry, in: distill)
      let inner = try entry.make(ObjectiveContext(options: options, distill: distill))
      return (ObjectiveModifiers.wrap(inner, options: options), weight)
    }
  }

  /// An objective's options: the spec's values over the declared defaults.
  public static func options(of entry: Entry, in distill: PipelineSpec.Distill) -> ObjectiveOptions {
    var values: [String: ObjectiveOptionValue] = [:]
    for declaration in entry.options + commonOptions { values[declaration.key] = declaration.defaultValue }
    for (key, value) in distill.options[entry.name]?.values ?? [:] { values[key] = value }
    return ObjectiveOptions(values: values)
  }

  /// What the active objectives need computed.
  public static func needs(_ distill: PipelineSpec.Distill) -> ObjectiveNeeds {
    var needs: ObjectiveNeeds = []
    for (objective, _) in (try? active(distill)) ?? [] { needs.formUnion(objective.needs) }
    return needs
  }

  /// Reads `distill.NAME` weights and `[objective.NAME]` options of every registered objective.
  static func read(_ r: inout SpecReader, into distill: inout PipelineSpec.Distill) throws {
    distill.weights = [:]
    distill.options = [:]
    for entry in entries {
      let standard = entry.name == "sdpo" ? 1.0 : 0.0
      let weight = try r.double("distill." + entry.name, default: standard, in: 0...1000)
      if weight > 0 { distill.weights[entry.name] = weight }
      var values: [String: ObjectiveOptionValue] = [:]
      for declaration in entry.options + commonOptions {
        let key = "objective." + entry.name + "." + declaration.key
        switch (declaration.kind, declaration.defaultValue) {
        case (.number(let range), .number(let standard)):
          values[declaration.key] = .number(try r.double(key, default: standard, in: range))
        case (.choice(let allowed), .text(let standard)):
          let text = try r.string(key, default: standard) ?? standard
          guard allowed.contains(text) else {
            throw r.invalid(
              key, "must be one of \(allowed.map { "'\($0)'" }.joined(separator: ", ")), got '\(text)'")
          }
          values[declaration.key] = .text(text)
        case (.flag, .flag(let standard)):
          values[declaration.key] = .flag(try r.bool(key, default: standard))
        default:
          throw HindcastError(
            .internalInvariant,
            "objective \(entry.name) option \(declaration.key) has a default of the wrong type")
        }
      }
      let changed = (entry.options + commonOptions).filter { values[$0.key] != $0.defaultValue }
      if !changed.isEmpty {
        distill.options[entry.name] = ObjectiveOptions(
          values: Dictionary(
            uniqueKeysWithValues: changed.map { ($0.key, values[$0.key] ?? $0.defaultValue) }))
      }
    }
    if distill.weights.values.reduce(0, +) <= 0 {
      throw r.invalid(
        "distill",
        "needs at least one objective weight above zero (\(entries.map(\.name).joined(separator: ", ")))")
    }
  }

  /// The option tables a spec may contain.
  static var tables: Set<String> { Set(entries.map { "objective." + $0.name }).union(["objective"]) }
}
