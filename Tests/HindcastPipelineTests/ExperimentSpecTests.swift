import Foundation
import HindcastPipeline
import HindcastSupport
import Logging
import Testing

@Suite struct ExperimentSpecTests {
  /// The repository root (for the shipped `pipelines/` files).
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The shipped arms, by name.
  static func shippedArms() throws -> [String: ExperimentArm] {
    let arms = try ArmCatalog.load(path: root.appendingPathComponent("pipelines/arms.toml").path)
    return Dictionary(uniqueKeysWithValues: arms.map { ($0.name, $0) })
  }

  /// An experiment spec beside the shipped arms file (source `pipelines/exp.toml` under the root).
  static let full = """
    name = "exp"
    base = "quickstart.toml"
    seeds = [1, 2, 3]
    arms_file = "arms.toml"
    arms = ["sdpo", "grpo", "sdpo-bare", "sdpo+sft"]
    primary = "sdpo"
    learning_rates = [3e-5, 1e-4]
    [budget]
    rounds = 4
    [guard]
    collapse_margin = 0.05
    [pipeline.tasks]
    train_per_round = 32
    [pipeline.model]
    preset = "tiny"
    """

  static var source: String { root.appendingPathComponent("pipelines/exp.toml").path }

  func error(_ text: String, source: String = ExperimentSpecTests.source) -> HindcastError? {
    do {
      _ = try ExperimentSpec.parse(text: text, source: source)
      return nil
    } catch let error as HindcastError {
      return error
    } catch {
      return nil
    }
  }

  @Test func parsesEveryKeyAndResolvesTheBaseAgainstTheFile() throws {
    let spec = try ExperimentSpec.parse(text: Self.full, source: Self.source)
    #expect(spec.name == "exp")
    #expect(spec.basePath == Self.root.appendingPathComponent("pipelines/quickstart.toml").path)
    #expect(spec.seeds == [1, 2, 3])
    #expect(spec.arms.map(\.name) == ["sdpo", "grpo", "sdpo-bare", "sdpo+sft"])
    #expect(spec.arms.map(\.isBaseline) == [false, true, false, false])
    #expect(spec.primary == "sdpo")
    #expect(spec.armsFile == "arms.toml")
    #expect(spec.learningRates == [3e-5, 1e-4])
    #expect(spec.rounds == 4)
    #expect(abs(spec.collapseMargin - 0.05) < 1e-12)
    #expect(spec.pipelineOverrides["tasks.train_per_round"] == .integer(32))
    #expect(spec.pipelineOverrides["model.preset"] == .string("tiny"))
  }

  @Test func unknownKeysArmsAndControlledKeysAreRejectedWithTheLine() throws {
    let typo = try #require(error(Self.full.replacingOccurrences(of: "rounds = 4", with: "round = 4")))
    #expect(typo.message.contains("budget.round"))
    #expect(typo.location == Self.source + ":9")
    let arm = try #require(error(Self.full.replacingOccurrences(of: "\"sdpo-bare\"", with: "\"sdpo-naked\"")))
    #expect(arm.message.contains("sdpo-naked"))
    #expect(arm.location == Self.source + ":5")
    let table = try #require(error(Self.full.replacingOccurrences(of: "[guard]", with: "[guards]")))
    #expect(table.message.contains("guards"))
    let controlled = try #require(
      error(
        Self.full.replacingOccurrences(
          of: "train_per_round = 32", with: "train_per_round = 32\n[pipeline.distill]\nlr = 0.1")))
    #expect(controlled.message.contains("pipeline.distill.lr"))
    // Objective weights belong to the arms: the experiment may not set one for every run.
    let weight = try #require(
      error(
        Self.full.replacingOccurrences(
          of: "train_per_round = 32", with: "train_per_round = 32\n[pipeline.distill]\nsft = 0.5")))
    #expect(weight.message.contains("objective weights are set by the arms"))
    #expect(weight.location == Self.source + ":15")
    #expect(error(Self.full.replacingOccurrences(of: "[1, 2, 3]", with: "[1, 1, 3]")) != nil)
    #expect(error(Self.full.replacingOccurrences(of: "base = \"quickstart.toml\"\n", with: "")) != nil)
    let missingFile = try #require(
      error(Self.full.replacingOccurrences(of: "\"arms.toml\"", with: "\"nope.toml\"")))
    #expect(missingFile.location == Self.source + ":4")
  }

  /// The primary arm is named before anything runs: missing, unknown or a baseline is an error.
  @Test func thePrimaryArmMustBeANamedFeedbackArm() throws {
    let missing = try #require(error(Self.full.replacingOccurrences(of: "primary = \"sdpo\"\n", with: "")))
    #expect(missing.message.contains("missing key 'primary'"))
    let unknown = try #require(
      error(Self.full.replacingOccurrences(of: "primary = \"sdpo\"", with: "primary = \"sdpo-ema\"")))
    #expect(unknown.message.contains("must be one of the arms"))
    #expect(unknown.location == Self.source + ":6")
    let baseline = try #require(
      error(Self.full.replacingOccurrences(of: "primary = \"sdpo\"", with: "primary = \"grpo\"")))
    #expect(baseline.message.contains("must be a feedback arm"))
    let noArms = try #require(
      error(
        Self.full.replacingOccurrences(
          of: "arms = [\"sdpo\", \"grpo\", \"sdpo-bare\", \"sdpo+sft\"]\n", with: "")))
    #expect(noArms.message.contains("missing key 'arms'"))
  }

  /// Inline [arms.NAME] tables add arms and replace a file arm of the same name as a whole; every
  /// key is checked by the pipeline spec reader, with this file's line and the key.
  @Test func inlineArmsExtendAndReplaceTheFileAndAreValidatedLikeAPipelineSpec() throws {
    let inline =
      Self.full.replacingOccurrences(of: "\"sdpo+sft\"]", with: "\"sdpo+sft\", \"hot\"]") + """

        [arms.hot]
        summary = "sdpo at rollout temperature 1.2"
        baseline = false
        distill.sdpo = 1.0
        rollout.temperature = 1.2
        [arms.grpo]
        summary = "grpo with a wider clip"
        baseline = true
        distill.grpo = 1.0
        distill.grpo_clip = 0.3
        """
    let spec = try ExperimentSpec.parse(text: inline, source: Self.source)
    #expect(spec.arms.map(\.name) == ["sdpo", "grpo", "sdpo-bare", "sdpo+sft", "hot"])
    let hot = try #require(spec.arms.last)
    #expect(hot.keys == ["distill.sdpo": .float(1), "rollout.temperature": .float(1.2)])
    #expect(hot.origin == Self.source + ":16")
    // Replaced as a whole: the file's grpo has no grpo_clip; this one has.
    #expect(spec.arms[1].keys == ["distill.grpo": .float(1), "distill.grpo_clip": .float(0.3)])
    // Every objective weight is reset before the arm's keys: an arm never inherits a weight.
    let overrides = hot.overrides
    for key in ExperimentArm.objectiveWeightKeys where key != "distill.sdpo" {
      #expect(overrides[key] == .float(0), "\(key)")
    }
    #expect(overrides["distill.sdpo"] == .float(1))

    func armError(_ from: String, _ to: String) throws -> HindcastError {
      try #require(error(inline.replacingOccurrences(of: from, with: to)), "\(to)")
    }
    let range = try armError("rollout.temperature = 1.2", "rollout.temperature = 99.0")
    #expect(range.message.contains("arm 'hot'") && range.message.contains("rollout.temperature"))
    #expect(range.location == Self.source + ":20")
    let unknown = try armError("rollout.temperature = 1.2", "rollout.temprature = 1.2")
    #expect(unknown.message.contains("unknown key 'rollout.temprature'"))
    #expect(unknown.location == Self.source + ":20")
    let type = try armError("distill.sdpo = 1.0\nrollout", "distill.sdpo = \"one\"\nrollout")
    #expect(type.message.contains("distill.sdpo") && type.location == Self.source + ":19")
    let noWeight = try armError("distill.sdpo = 1.0\nrollout", "rollout")
    #expect(noWeight.message.contains("sets no objective weight above zero"))
    #expect(noWeight.location == Self.source + ":16")
    let controlled = try armError("rollout.temperature = 1.2", "distill.lr = 0.1")
    #expect(controlled.message.contains("set by the experiment itself"))
    let summary = try armError("summary = \"sdpo at rollout temperature 1.2\"\n", "")
    #expect(summary.message.contains("no 'summary'"))
    let flag = try armError("baseline = false\ndistill.sdpo", "baseline = 1\ndistill.sdpo")
    #expect(flag.message.contains("'baseline' must be true or false"))
    let name = try armError("[arms.hot]", "[arms.\"h/t\"]")
    #expect(name.message.contains("may hold only"))
  }

  /// Every shipped experiment spec opens: every run spec it generates (base run, each arm's runs,
  /// named after the arm) passes the spec reader. An arm named `sdpo+sft` once made the shipped
  /// experiments refuse to start.
  @Test func shippedExperimentsRenderEveryRunSpec() throws {
    let directory = NSTemporaryDirectory() + "hindcast-shipped-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let names = try FileManager.default.contentsOfDirectory(
      atPath: Self.root.appendingPathComponent("pipelines").path
    )
    .filter { $0.hasPrefix("experiment-") && $0.hasSuffix(".toml") }.sorted()
    #expect(names.count >= 4, "\(names)")
    for name in names {
      let runner = try ExperimentRunner(
        specPath: Self.root.appendingPathComponent("pipelines/\(name)").path,
        outDirectory: directory + "/\(name)",
        logger: Logger(label: "test"), progress: { _ in })
      for arm in runner.spec.arms {
        let text = try runner.runSpecText(
          arm: arm, learningRate: runner.spec.learningRates[0], seed: runner.spec.seeds[0])
        let spec = try PipelineSpec.parse(text: text, source: "\(name) arm \(arm.name)")
        #expect(spec.name.contains(arm.name), "\(name): \(spec.name)")
      }
    }
  }

  /// Every shipped arm's keys exactly as the enum that preceded the arms file set them, so no
  /// result changes; the base spec's objective weights (sdpo 1, sft 0.5) never leak into an arm.
  @Test func shippedArmsRenderTheirExactOverrides() throws {
    let arms = try Self.shippedArms()
    #expect(
      Set(arms.keys)
        == [
          "sdpo", "sdpo-all-roundstart", "sdpo-ema", "sft", "sdpo+sft", "grpo", "rft", "sdpo+grpo",
          "sdpo-nomemory", "sdpo-bare", "sdpo-location", "sdpo-nocritique", "sdpo-nosibling",
        ])
    let base = try TOMLDocument(
      text:
        "name = \"b\"\nrounds = 3\n[distill]\nsdpo = 1.0\nsft = 0.5\nlr = 0.0001\n[tasks]\nvalidation = 9\n",
      source: "base.toml")
    for (name, arm) in arms {
      #expect(arm.isBaseline == (name == "grpo" || name == "rft"), "\(name)")
      var overrides = arm.overrides
      overrides["distill.lr"] = .float(3e-5)
      overrides["base.policy"] = .string("runs/x \"quoted\"/policy/round-0000")
      let text = try SpecRendering.render(base: base, overrides: overrides, comment: ["arm \(name)"])
      #expect(try SpecRendering.render(base: base, overrides: overrides, comment: ["arm \(name)"]) == text)
      let spec = try PipelineSpec.parse(text: text, source: "rendered.toml")
      #expect(spec.distill.learningRate == 3e-5)
      #expect(spec.basePolicy == "runs/x \"quoted\"/policy/round-0000")
      #expect(spec.tasks.validation == 9)
      #expect(spec.rounds == 3)
      let expectedWeights: [String: Double]
      switch name {
      case "grpo": expectedWeights = ["grpo": 1]
      case "rft": expectedWeights = ["rft": 1]
      case "sft": expectedWeights = ["sft": 1]
      case "sdpo+sft": expectedWeights = ["sdpo": 1, "sft": 0.5]
      case "sdpo+grpo": expectedWeights = ["sdpo": 1, "grpo": 0.5]
      default: expectedWeights = ["sdpo": 1]
      }
      #expect(spec.distill.weights == expectedWeights, "\(name)")
      // Baselines set only their weight: the rest is the base spec's.
      let expectedKeys =
        arm.isBaseline
        ? Set(expectedWeights.keys.map { "distill." + $0 })
        : Set(expectedWeights.keys.map { "distill." + $0 }).union([
          "distill.teacher", "distill.positions", "rewrite.feedback", "rewrite.critique",
          "rewrite.use_sibling",
          "rewrite.memory",
        ])
      #expect(Set(arm.keys.keys) == expectedKeys, "\(name)")
      guard !arm.isBaseline else { continue }
      #expect(
        spec.rewrite.feedback == (name == "sdpo-bare" ? .bare : name == "sdpo-location" ? .location : .full))
      #expect(spec.rewrite.memory == (name != "sdpo-nomemory"))
      #expect(spec.rewrite.critique == (name != "sdpo-nocritique"))
      #expect(spec.rewrite.useSibling == (name != "sdpo-nosibling"))
      let teacher: PipelineSpec.Teacher =
        name == "sdpo-all-roundstart" ? .roundStart : name == "sdpo-ema" ? .ema : .base
      #expect(spec.distill.teacher == teacher)
      #expect(spec.distill.positions == (name == "sdpo-all-roundstart" ? .all : .upToFirstError))
    }
  }

  /// An arms file's errors name that file, the line and the key; it holds only arm tables.
  @Test func armsFileErrorsNameTheArmsFileLineAndKey() throws {
    let directory = NSTemporaryDirectory() + "hindcast-armsfile-\(UInt64.random(in: 0...UInt64.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let experiment = "base = \"b.toml\"\narms_file = \"mine.toml\"\narms = [\"a\"]\nprimary = \"a\"\n"
    func error(_ arms: String) -> HindcastError? {
      do {
        try arms.write(toFile: directory + "/mine.toml", atomically: true, encoding: .utf8)
        _ = try ExperimentSpec.parse(text: experiment, source: directory + "/e.toml")
        return nil
      } catch { return error as? HindcastError }
    }
    let good =
      "# mine\n[arms.a]\nsummary = \"a\"\nbaseline = false\ndistill.sdpo = 1.0\nrewrite.samples = 2\n"
    #expect(error(good) == nil)
    let range = try #require(error(good.replacingOccurrences(of: "samples = 2", with: "samples = 65")))
    #expect(range.location == directory + "/mine.toml:6")
    #expect(range.message.contains("arm 'a'") && range.message.contains("rewrite.samples"))
    let stray = try #require(error(good + "[other]\nx = 1\n"))
    #expect(stray.location == directory + "/mine.toml:8")
    #expect(stray.message.contains("only [arms.NAME] tables"))
  }

  /// The frozen arms text reads back as the same arms.
  @Test func frozenArmsReadBackIdentically() throws {
    let arms = try Self.shippedArms().values.sorted { $0.name < $1.name }
    let text = ArmCatalog.render(arms, comment: ["frozen"])
    let path = NSTemporaryDirectory() + "hindcast-arms-\(UInt64.random(in: 0...UInt64.max)).toml"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    let again = try ArmCatalog.load(path: path)
    #expect(again.map(\.name) == arms.map(\.name))
    #expect(again.map(\.keys) == arms.map(\.keys))
    #expect(again.map(\.summary) == arms.map(\.summary))
    #expect(again.map(\.isBaseline) == arms.map(\.isBaseline))
    #expect(ArmCatalog.render(again, comment: ["frozen"]) == text)
  }

  @Test func aBadOverrideFailsAtRenderTime() throws {
    let base = try TOMLDocument(text: "rounds = 3\n", source: "base.toml")
    #expect(throws: HindcastError.self) {
      _ = try SpecRendering.render(base: base, overrides: ["tasks.held_outt": .integer(3)], comment: [])
    }
    #expect(SpecRendering.literal(.float(1e-5)) == "1e-05")
    #expect(SpecRendering.literal(.float(2)) == "2.0")
  }

  /// The shipped experiment specs parse, name sdpo as their primary arm, and every arm's
  /// generated run spec is valid.
  @Test(arguments: [
    "experiment-arith.toml", "experiment-listdsl.toml", "experiment-smoke.toml", "experiment-quick.toml",
  ])
  func shippedExperimentSpecsRenderForEveryArm(file: String) throws {
    let spec = try ExperimentSpec.load(path: Self.root.appendingPathComponent("pipelines/\(file)").path)
    #expect(spec.primary == "sdpo")
    // Shipped experiments: at least 5 paired seeds (the smoke and the quickstart's taste excepted),
    // a sweep seed that is never reported, and a test set where one binomial SE of greedy pass@1 is
    // at most about 1.5 points.
    let short = ["experiment-smoke.toml", "experiment-quick.toml"].contains(file)
    #expect(spec.seeds.count >= (short ? 1 : 5))
    #expect(!spec.seeds.contains(spec.sweepSeed))
    #expect(spec.arms.contains { $0.isBaseline })
    let baseText = try String(contentsOfFile: spec.basePath, encoding: .utf8)
    let base = try TOMLDocument(text: baseText, source: spec.basePath)
    for arm in spec.arms {
      var overrides = spec.pipelineOverrides
      for (key, value) in arm.overrides { overrides[key] = value }
      overrides["distill.lr"] = .float(spec.learningRates[0])
      let text = try SpecRendering.render(base: base, overrides: overrides, comment: [])
      let rendered = try PipelineSpec.parse(text: text, source: file)
      if file != "experiment-quick.toml" { #expect(rendered.model.threads == 1) }
      if file != "experiment-smoke.toml" { #expect(rendered.tasks.test >= 1000) }
    }
  }
}
