import Foundation
import HindcastPipeline
import HindcastSupport
import Testing

@Suite struct ExperimentSpecTests {
  static let full = """
    name = "exp"
    base = "quickstart.toml"
    seeds = [1, 2, 3]
    arms = ["sdpo", "grpo", "sdpo-bare", "sdpo+sft"]
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

  func error(_ text: String) -> HindcastError? {
    do {
      _ = try ExperimentSpec.parse(text: text, source: "pipelines/exp.toml")
      return nil
    } catch let error as HindcastError {
      return error
    } catch {
      return nil
    }
  }

  @Test func parsesEveryKeyAndResolvesTheBaseAgainstTheFile() throws {
    let spec = try ExperimentSpec.parse(text: Self.full, source: "pipelines/exp.toml")
    #expect(spec.name == "exp")
    #expect(spec.basePath == "pipelines/quickstart.toml")
    #expect(spec.seeds == [1, 2, 3])
    #expect(spec.arms == [.sdpo, .grpo, .sdpoBare, .sdpoPlusSFT])
    #expect(spec.learningRates == [3e-5, 1e-4])
    #expect(spec.rounds == 4)
    #expect(abs(spec.collapseMargin - 0.05) < 1e-12)
    #expect(spec.pipelineOverrides["tasks.train_per_round"] == .integer(32))
    #expect(spec.pipelineOverrides["model.preset"] == .string("tiny"))
  }

  @Test func unknownKeysArmsAndControlledKeysAreRejectedWithTheLine() throws {
    let typo = try #require(error(Self.full.replacingOccurrences(of: "rounds = 4", with: "round = 4")))
    #expect(typo.message.contains("budget.round"))
    #expect(typo.location == "pipelines/exp.toml:7")
    let arm = try #require(error(Self.full.replacingOccurrences(of: "\"sdpo-bare\"", with: "\"sdpo-naked\"")))
    #expect(arm.message.contains("sdpo-naked"))
    let table = try #require(error(Self.full.replacingOccurrences(of: "[guard]", with: "[guards]")))
    #expect(table.message.contains("guards"))
    let controlled = try #require(
      error(
        Self.full.replacingOccurrences(
          of: "train_per_round = 32", with: "train_per_round = 32\n[pipeline.distill]\nlr = 0.1")))
    #expect(controlled.message.contains("pipeline.distill.lr"))
    #expect(error(Self.full.replacingOccurrences(of: "[1, 2, 3]", with: "[1, 1, 3]")) != nil)
    #expect(error(Self.full.replacingOccurrences(of: "base = \"quickstart.toml\"\n", with: "")) != nil)
  }

  @Test func renderedSpecsCarryTheOverridesAndReadBackIdentically() throws {
    let base = try TOMLDocument(
      text:
        "name = \"b\"\nrounds = 3\n[distill]\nsdpo = 1.0\nsft = 0.5\nlr = 0.0001\n[tasks]\nvalidation = 9\n",
      source: "base.toml")
    for arm in ExperimentArm.allCases {
      var overrides = arm.overrides
      overrides["distill.lr"] = .float(3e-5)
      overrides["base.policy"] = .string("runs/x \"quoted\"/policy/round-0000")
      let text = try SpecRendering.render(base: base, overrides: overrides, comment: ["arm \(arm.rawValue)"])
      #expect(
        try SpecRendering.render(base: base, overrides: overrides, comment: ["arm \(arm.rawValue)"]) == text)
      let spec = try PipelineSpec.parse(text: text, source: "rendered.toml")
      #expect(spec.distill.learningRate == 3e-5)
      #expect(spec.basePolicy == "runs/x \"quoted\"/policy/round-0000")
      #expect(spec.tasks.validation == 9)
      #expect(spec.rounds == 3)
      // The base spec's sft weight never leaks into an arm.
      let weights = [spec.distill.sdpo, spec.distill.sft, spec.distill.grpo, spec.distill.rft]
      switch arm {
      case .grpo: #expect(weights == [0, 0, 1, 0])
      case .rft: #expect(weights == [0, 0, 0, 1])
      case .sft: #expect(weights == [0, 1, 0, 0])
      case .sdpoPlusSFT: #expect(weights == [1, 0.5, 0, 0])
      case .sdpoPlusGRPO: #expect(weights == [1, 0, 0.5, 0])
      default: #expect(weights == [1, 0, 0, 0])
      }
      #expect(spec.rewrite.feedback == (arm == .sdpoBare ? .bare : arm == .sdpoLocation ? .location : .full))
      #expect(spec.rewrite.memory == (arm != .sdpoNoMemory))
      let teacher: PipelineSpec.Teacher =
        arm == .sdpoAllRoundStart ? .roundStart : arm == .sdpoEMA ? .ema : .base
      #expect(spec.distill.teacher == teacher)
      #expect(spec.distill.positions == (arm == .sdpoAllRoundStart ? .all : .upToFirstError))
    }
  }

  @Test func aBadOverrideFailsAtRenderTime() throws {
    let base = try TOMLDocument(text: "rounds = 3\n", source: "base.toml")
    #expect(throws: HindcastError.self) {
      _ = try SpecRendering.render(base: base, overrides: ["tasks.held_outt": .integer(3)], comment: [])
    }
    #expect(SpecRendering.literal(.float(1e-5)) == "1e-05")
    #expect(SpecRendering.literal(.float(2)) == "2.0")
  }

  /// The shipped experiment specs parse, and every arm's generated run spec is valid.
  @Test(arguments: ["experiment-arith.toml", "experiment-listdsl.toml", "experiment-smoke.toml"])
  func shippedExperimentSpecsRenderForEveryArm(file: String) throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let spec = try ExperimentSpec.load(path: root.appendingPathComponent("pipelines/\(file)").path)
    // Shipped experiments: at least 5 paired seeds, a sweep seed that is never reported, and a
    // test set where one binomial SE of greedy pass@1 is at most about 1.5 points.
    #expect(spec.seeds.count >= (file == "experiment-smoke.toml" ? 1 : 5))
    #expect(!spec.seeds.contains(spec.sweepSeed))
    let baseText = try String(contentsOfFile: spec.basePath, encoding: .utf8)
    let base = try TOMLDocument(text: baseText, source: spec.basePath)
    for arm in spec.arms {
      var overrides = spec.pipelineOverrides
      for (key, value) in arm.overrides { overrides[key] = value }
      overrides["distill.lr"] = .float(spec.learningRates[0])
      let text = try SpecRendering.render(base: base, overrides: overrides, comment: [])
      let rendered = try PipelineSpec.parse(text: text, source: file)
      #expect(rendered.model.threads == 1)
      if file != "experiment-smoke.toml" { #expect(rendered.tasks.test >= 1000) }
    }
  }
}
