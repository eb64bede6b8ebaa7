import HindcastSupport

/// Which split a task belongs to. The three are disjoint by construction: see `SplitAssignment`.
///
/// - `train`: rollouts, rewrites, pretraining corpora: everything that learns.
/// - `validation`: every choice a run or an experiment makes (the collapse guard and its
///   rollbacks, the learning-rate sweep, any gating); never reported as a result.
/// - `test`: only ever reported; nothing is chosen on it.
public enum TaskSplit: String, Codable, Sendable, CaseIterable {
  case train
  case validation
  case test

  /// The split named `name`, or an error that names the allowed values (and what replaced the
  /// old "held-out" split). `location` is where the name was read.
  public static func parse(_ name: String, location: String? = nil) throws -> TaskSplit {
    if let split = TaskSplit(rawValue: name) { return split }
    let allowed = allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
    if name == "held-out" {
      throw HindcastError(
        .invalidInput, "split \"held-out\" was replaced by \"validation\" and \"test\"", location: location,
        hint: "use \"test\" for tasks that are only reported and \"validation\" for tasks that drive choices")
    }
    throw HindcastError(.invalidInput, "split must be one of \(allowed), got \"\(name)\"", location: location)
  }
}

/// One task of a family: what the model sees, a canonical solution, and what the executor needs.
///
/// Serialized as one JSON object per line (`hindcast tasks generate`), keys as below.
public struct TaskRecord: Codable, Sendable, Equatable {
  /// Stable id: the family name and a hash of the task's content (built-in families), or the
  /// id from the user's file (exec). Identical tasks have identical ids in every process.
  public var id: String
  /// The family that generated the task and can execute attempts at it.
  public var family: String
  public var split: TaskSplit
  /// The text the model sees after `<task>`.
  public var prompt: String
  /// A correct solution, the text the model should produce after `<answer>`. Empty when unknown
  /// (an exec task without a canonical solution).
  public var canonical: String
  /// Family-specific data the executor needs (operands, hidden tests, the user's task object).
  public var payload: JSONValue
  /// Scope tags for memory retrieval and reports, e.g. `["op:add", "digits:3", "level:2"]`.
  public var features: [String]

  public init(
    id: String, family: String, split: TaskSplit, prompt: String, canonical: String,
    payload: JSONValue, features: [String]
  ) {
    self.id = id
    self.family = family
    self.split = split
    self.prompt = prompt
    self.canonical = canonical
    self.payload = payload
    self.features = features
  }

  /// True when `canonical` holds a solution.
  public var hasCanonical: Bool { !canonical.isEmpty }
}

/// A difficulty setting: each generated task draws its level uniformly from `levels`. What a
/// level means is family-specific (`TaskFamily.levels`, docs/tasks.md); larger is harder.
public struct TaskDifficulty: Codable, Sendable, Equatable {
  public var levels: ClosedRange<Int>

  public init(levels: ClosedRange<Int>) { self.levels = levels }
  public init(level: Int) { self.levels = level...level }

  /// Checks the range against what a family supports.
  public func validate(for family: String, supported: ClosedRange<Int>) throws {
    guard supported.contains(levels.lowerBound), supported.contains(levels.upperBound) else {
      throw HindcastError(
        .invalidInput,
        "difficulty \(levels.lowerBound)...\(levels.upperBound) is outside \(family)'s levels "
          + "\(supported.lowerBound)...\(supported.upperBound)",
        hint: "choose levels between \(supported.lowerBound) and \(supported.upperBound)")
    }
  }
}

/// Assigns every task to a split by a stable hash of its content key, so train, validation and
/// test tasks can never coincide: a generator draws tasks and keeps only those of the wanted split.
/// Buckets `0..<testBuckets` are test (the buckets of the former held-out split, 1/8 of all
/// tasks), the next `validationBuckets` are validation (another 1/8), the rest train (3/4).
public enum SplitAssignment {
  public static let testBuckets: UInt64 = 125
  public static let validationBuckets: UInt64 = 125
  public static let bucketCount: UInt64 = 1000

  /// The split of a task of `family` whose content key (the prompt, for built-in families) is
  /// `key`. Deterministic across processes and machines.
  public static func split(family: String, key: String) -> TaskSplit {
    let hash = StableHash.fnv1a64("hindcast-split-v1\u{0}\(family)\u{0}\(key)")
    // Mix the FNV output so that neighbouring keys spread over all buckets.
    var mixer = SplitMix64(state: hash)
    let bucket = mixer.next() % bucketCount
    if bucket < testBuckets { return .test }
    return bucket < testBuckets + validationBuckets ? .validation : .train
  }

  /// A stable task id: `family-` and 16 hex digits of a hash of the content key.
  public static func id(family: String, key: String) -> String {
    "\(family)-\(StableHash.hex(StableHash.fnv1a64("hindcast-task-v1\u{0}\(family)\u{0}\(key)")))"
  }
}
