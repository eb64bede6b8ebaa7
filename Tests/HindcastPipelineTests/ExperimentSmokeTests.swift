import Foundation
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// A tiny experiment through the built binary: `experiment`, a resumed rerun, then `report`; the
/// report's numbers must match the runs' eval.json and metrics.jsonl.
@Suite(.serialized) struct ExperimentSmokeTests {
  static let experiment = """
    name = "smoke"
    base = "tiny.toml"
    seeds = [7]
    arms_file = "arms.toml"
    arms = ["sdpo", "grpo"]
    primary = "sdpo"
    learning_rates = [0.001, 0.003]
    [budget]
    rounds = 2
    """

  /// The shipped arms file, copied beside the experiment spec of a test.
  static func shippedArms() throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return try String(
      contentsOfFile: root.appendingPathComponent("pipelines/arms.toml").path, encoding: .utf8)
  }

  /// Sum of training-stage environment calls in a run's metrics log (eval and pretrain excluded).
  static func trainingCalls(_ runner: BinaryRunner, run: String) throws -> Int {
    let data = try #require(runner.contents(run + "/metrics.jsonl"))
    var total = 0
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
      let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      let stage = object["stage"] as? String ?? ""
      guard !["eval", "eval-summary", "pretrain"].contains(stage) else { continue }
      total += object["environment_calls"] as? Int ?? 0
    }
    return total
  }

  static func finalGreedy(_ runner: BinaryRunner, run: String, round: Int) throws -> Double {
    let data = try #require(runner.contents(run + String(format: "/r%04d/eval.json", round)))
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    return try #require(object["greedy_pass1"] as? Double)
  }

  @Test func experimentThenReportAgreeWithTheRuns() throws {
    let directory = try BinaryRunner.temporaryDirectory("experiment")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try runner.write(TinySpec.text, to: "tiny.toml")
    try runner.write(Self.experiment, to: "smoke.toml")
    let arms = try Self.shippedArms()
    try runner.write(arms, to: "arms.toml")
    let first = try runner.run(["experiment", "smoke.toml", "--out", "exp"])
    try #require(first.status == 0, "\(first.stderr)")
    // Per arm: two sweep runs on the sweep seed (never reported), then the reported seed.
    #expect(first.stderr.contains("[6/6] grpo"))
    #expect(runner.contents("exp/runs/grpo/lr-0.001/seed-1000/r0002/eval.json") != nil)
    #expect(first.stdout.contains("sdpo"))

    // Rerunning skips everything and changes no result.
    let sweep = runner.contents("exp/sweep.json")
    let again = try runner.run(["experiment", "smoke.toml", "--out", "exp"])
    try #require(again.status == 0, "\(again.stderr)")
    #expect(again.stderr.components(separatedBy: "complete, skipped").count - 1 == 7)
    #expect(!again.stderr.contains(": running"))
    #expect(runner.contents("exp/sweep.json") == sweep)

    // An edited experiment spec is refused for the same directory.
    try runner.write(
      Self.experiment.replacingOccurrences(of: "rounds = 2", with: "rounds = 3"), to: "edited.toml")
    let edited = try runner.run(["experiment", "edited.toml", "--out", "exp"])
    #expect(edited.status == 1)
    #expect(edited.stderr.contains("different experiment spec"))
    // So is a changed arm: the directory froze the arms it ran (OUT/arms.toml).
    let frozenArms = String(decoding: try #require(runner.contents("exp/arms.toml")), as: UTF8.self)
    #expect(frozenArms.contains("[arms.sdpo]") && frozenArms.contains("[arms.grpo]"))
    #expect(!frozenArms.contains("[arms.rft]"))
    try runner.write(
      arms.replacingOccurrences(
        of:
          "[arms.grpo]\nsummary = \"GRPO on binary execution reward (baseline)\"\nbaseline = true\ndistill.grpo = 1.0",
        with:
          "[arms.grpo]\nsummary = \"GRPO on binary execution reward (baseline)\"\nbaseline = true\ndistill.grpo = 2.0"
      ),
      to: "arms.toml")
    let changed = try runner.run(["experiment", "smoke.toml", "--out", "exp"])
    #expect(changed.status == 1)
    #expect(changed.stderr.contains("the arms of this experiment changed"), "\(changed.stderr)")
    try runner.write(arms, to: "arms.toml")

    let report = try runner.run(["report", "--experiment", "exp", "--out", "docs/results.md"])
    try #require(report.status == 0, "\(report.stderr)")
    let markdown = String(decoding: try #require(runner.contents("docs/results.md")), as: UTF8.self)
    #expect(markdown.contains("hindcast report --experiment exp --out docs/results.md"))
    #expect(
      markdown.contains("its spec frozen in `DIR/experiment.toml`")
        && markdown.contains("`exp/experiment.toml`"))
    #expect(markdown.contains("](results-arith.svg)"))
    // The guard table carries the per-round entropy estimate logged by the rollout stage.
    #expect(markdown.contains("| policy entropy |"))
    let entropyRow = markdown.split(separator: "\n").first { $0.hasPrefix("| sdpo | 0 |") }
    #expect(entropyRow.map { $0.split(separator: "|").count >= 7 && !$0.contains("| – | ") } == true)
    #expect(markdown.contains("## Conclusion"))
    // The line chosen on validation and the lines reported on test are labelled as such.
    #expect(markdown.contains("Learning-rate sweep (**chosen on validation**: sweep seed 1000"))
    #expect(markdown.contains("Accuracy is test greedy pass@1"))
    // The primary arm against the tuned baseline; one seed, so no interval.
    #expect(markdown.contains("Primary arm sdpo (named before the runs)"))
    #expect(markdown.contains("| sdpo | primary | 1 |"))
    #expect(markdown.contains("- `sdpo` **primary**: self-distillation"))

    let svg = try #require(runner.contents("docs/results-arith.svg"))
    let counter = ElementCounter()
    let parser = XMLParser(data: svg)
    parser.delegate = counter
    #expect(parser.parse())
    #expect(counter.counts["polyline"] == 2)

    // The sweep's choice is what the report used: the table's lr and numbers come from those runs.
    let sweepData = try #require(sweep)
    let choices = try #require(try JSONSerialization.jsonObject(with: sweepData) as? [[String: Any]])
    #expect(choices.count == 2)
    for choice in choices {
      let arm = try #require(choice["arm"] as? String)
      let lr = try #require(choice["chosen"] as? Double)
      let run = "exp/runs/\(arm)/lr-\(lr)/seed-7"
      let final = try Self.finalGreedy(runner, run: run, round: 2)
      let calls = try Self.trainingCalls(runner, run: run)
      #expect(calls > 0)
      let row = try #require(
        markdown.split(separator: "\n").first {
          $0.hasPrefix("| \(arm)\(arm == "sdpo" ? " (primary)" : "") | \(lr) | 1 |")
        },
        "no table row for \(arm)")
      let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
      #expect(cells[3].hasPrefix(String(format: "%.1f%%", 100 * final)))
      #expect(cells[5] == "\(calls)")
      // The calls table charges the same calls, split by purpose.
      let rewrites = try Self.stageCalls(runner, run: run, stage: "rewrite")
      let rollouts = try Self.stageCalls(runner, run: run, stage: "feedback")
      #expect(rollouts + rewrites == calls)
      // sdpo (memory on, no objective on rewrites) verifies rewrites only for memory.
      #expect(arm == "grpo" ? rewrites == 0 : rewrites > 0)
      let memory = arm == "grpo" ? 0 : rewrites
      #expect(
        markdown.contains("| \(arm) | \(calls) | \(rollouts) | \(rewrites) | \(memory) |"), "\(markdown)")
    }
    #expect(markdown.contains("](results-arith-compute.svg)"))
    #expect(runner.contents("docs/results-arith-compute.svg") != nil)
  }

  /// Environment calls of one stage in a run's metrics log.
  static func stageCalls(
    _ runner: BinaryRunner, run: String, stage: String, key: String = "environment_calls"
  )
    throws -> Int
  {
    let data = try #require(runner.contents(run + "/metrics.jsonl"))
    var total = 0
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
      let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      if object["stage"] as? String == stage { total += object[key] as? Int ?? 0 }
    }
    return total
  }

  /// Acceptance of issue 11, point 3: an sdpo-only arm with memory off needs no rewrites, so it
  /// spends exactly grpo's environment calls for the same rounds, tasks and samples.
  @Test func sdpoWithoutMemorySpendsExactlyGRPOsCalls() throws {
    let directory = try BinaryRunner.temporaryDirectory("experiment-calls")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try runner.write(TinySpec.text, to: "tiny.toml")
    try runner.write(
      """
      name = "calls"
      base = "tiny.toml"
      seeds = [3]
      arms_file = "arms.toml"
      arms = ["sdpo-nomemory", "grpo"]
      primary = "sdpo-nomemory"
      learning_rates = [0.001]
      [budget]
      rounds = 2
      """, to: "calls.toml")
    try runner.write(try Self.shippedArms(), to: "arms.toml")
    let result = try runner.run(["experiment", "calls.toml", "--out", "exp"])
    try #require(result.status == 0, "\(result.stderr)")
    let sdpo = "exp/runs/sdpo-nomemory/lr-0.001/seed-3"
    let grpo = "exp/runs/grpo/lr-0.001/seed-3"
    let sdpoCalls = try Self.trainingCalls(runner, run: sdpo)
    #expect(sdpoCalls > 0)
    #expect(sdpoCalls == (try Self.trainingCalls(runner, run: grpo)))
    #expect(try Self.stageCalls(runner, run: sdpo, stage: "rewrite") == 0)
    // The teacher still re-scored the attempts: sdpo's signal costs compute, not calls.
    #expect(try Self.stageCalls(runner, run: sdpo, stage: "rewrite", key: "teacher_scored_tokens") > 0)
    #expect(try Self.stageCalls(runner, run: sdpo, stage: "rewrite", key: "model_tokens") > 0)
  }
}
