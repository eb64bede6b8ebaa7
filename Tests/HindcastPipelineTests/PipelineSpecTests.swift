import HindcastPipeline
import HindcastSupport
import Testing

@Suite struct PipelineSpecTests {
  @Test func parsesEveryTableAndKeepsDefaults() throws {
    let spec = try PipelineSpec.parse(
      text: """
        name = "t"  # comment
        seed = 7
        rounds = 2
        [model]
        preset = "tiny"
        [tasks]
        family = "listdsl"
        train_per_round = 1_000
        [distill]
        sdpo = 0.5
        grpo = 1
        teacher = "ema"
        positions = "all"
        divergence = "jsd"
        lr = 3e-4
        """, source: "spec.toml")
    #expect(spec.name == "t" && spec.seed == 7 && spec.rounds == 2)
    #expect(spec.model.config == .tiny)
    #expect(spec.tasks.family == "listdsl" && spec.tasks.trainPerRound == 1000)
    #expect(spec.distill.teacher == .ema && spec.distill.positions == .all && spec.distill.divergence == .jsd)
    #expect(spec.distill.grpo == 1 && abs(spec.distill.learningRate - 3e-4) < 1e-12)
    #expect(spec.tasks.samplesPerTask == PipelineSpec().tasks.samplesPerTask)
  }

  @Test func splitSizesAndTheReplacedHeldOutKey() throws {
    let spec = try PipelineSpec.parse(
      text: "[tasks]\nvalidation = 50\ntest = 1200\n[eval]\nsampled_tasks = 300\n", source: "spec.toml")
    #expect(spec.tasks.validation == 50 && spec.tasks.test == 1200 && spec.eval.sampledTasks == 300)
    #expect(PipelineSpec().tasks.test == 1000)
    let old = try #require(specReadError("[tasks]\nheld_out = 100\n"))
    #expect(old.message.contains("tasks.validation") && old.message.contains("tasks.test"))
    #expect(old.location == "spec.toml:2")
  }

  @Test func unknownKeyIsNamedWithItsLine() throws {
    let e = try #require(specReadError("rounds = 1\n[distill]\nsdpo = 1\nlearning_rate = 0.1\n"))
    #expect(e.code == .invalidConfig)
    #expect(e.message.contains("distill.learning_rate"))
    #expect(e.location == "spec.toml:4")
  }

  @Test func unknownTableWrongTypeAndRangeAreRejected() throws {
    let table = try #require(specReadError("[optimizer]\n"))
    #expect(table.message.contains("[optimizer]"))
    let type = try #require(specReadError("rounds = \"three\"\n"))
    #expect(
      type.message.contains("'rounds'") && type.message.contains("integer") && type.location == "spec.toml:1")
    let range = try #require(specReadError("[distill]\nlr = 5.0\n"))
    #expect(
      range.message.contains("'distill.lr'") && range.message.contains("must be in")
        && range.message.contains("got 5.0"))
    let choice = try #require(specReadError("[distill]\nteacher = \"moving\"\n"))
    #expect(choice.message.contains("'base'") && choice.message.contains("'ema'"))
    let objectives = try #require(specReadError("[distill]\nsdpo = 0\n"))
    #expect(objectives.message.contains("objective"))
    let model = try #require(specReadError("[model]\nwidth = 130\nheads = 4\n"))
    #expect(model.message.contains("heads"))
  }

  @Test func malformedTOMLNamesTheLine() throws {
    let e1 = try #require(specReadError("name = \"unterminated\n"))
    #expect(e1.location == "spec.toml:1" && e1.message.contains("unterminated"))
    let e2 = try #require(specReadError("rounds = 1\nrounds = 2\n"))
    #expect(e2.location == "spec.toml:2" && e2.message.contains("twice"))
    let e3 = try #require(specReadError("x = { a = 1 }\n"))
    #expect(e3.message.contains("inline tables"))
    let e4 = try #require(specReadError("seed = abc\n"))
    #expect(e4.message.contains("quotes"))
  }

  @Test func shippedSpecsParse() throws {
    for name in ["quickstart"] {
      let spec = try PipelineSpec.load(path: "pipelines/\(name).toml")
      #expect(spec.name == name)
    }
  }
}
