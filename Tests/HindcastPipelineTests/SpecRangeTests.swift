import Foundation
import HindcastPipeline
import HindcastSupport
import Testing

/// Every key documented in docs/pipeline-spec.md, given an out-of-range (or wrong-typed) value,
/// is rejected by the spec reader with an error naming the file, the line and the key. A key added
/// to the document without a bad value here fails `everyDocumentedKeyHasBadValues`.
@Suite struct SpecRangeTests {
  /// Out-of-range values per key, as TOML text. Several per key where a stage has more than one
  /// limit (for example temperatures: below 0, between 0 and 0.001, above 10).
  static let badValues: [String: [String]] = [
    "name": ["\"../../x\"", "\"\"", "\"a/b\"", "\".hidden\"", "3"],
    "seed": ["-1", "1.5"],
    "rounds": ["-1", "1001"],
    "base.policy": ["7"],
    "guard.rollback_margin": ["-0.1", "1.5", "nan", "inf"],
    "model.preset": ["\"huge\""],
    "model.layers": ["0", "129"],
    "model.width": ["3", "16385"],
    "model.heads": ["0", "3", "2000"],
    "model.context": ["1", "16385"],
    "model.position": ["\"absolute\"", "1"],
    "model.threads": ["0", "257"],
    "tasks.family": ["\"chess\"", "1"],
    "tasks.difficulty": ["0", "6"],
    "tasks.train_per_round": ["0"],
    "tasks.samples_per_task": ["0", "257"],
    "tasks.held_out": ["0", "200"],
    "tasks.validation": ["0", "-5"],
    "tasks.test": ["0", "1000001"],
    "tasks.tasks_per_shard": ["0"],
    "tasks.exec_tasks": ["\"\"", "3"],
    "tasks.exec_checker": ["[]", "[\"\"]", "\"python3\""],
    "pretrain.steps": ["-1"],
    "pretrain.batch": ["0", "4097"],
    "pretrain.lr": ["0", "2"],
    "pretrain.warmup": ["-1"],
    "pretrain.revision_fraction": ["1.01", "-0.5"],
    "pretrain.pack": ["1", "\"yes\""],
    "pretrain.own_mistakes_from": ["2"],
    "pretrain.own_mistakes_every": ["-1"],
    "pretrain.own_mistakes_tasks": ["-1"],
    "pretrain.own_fraction": ["1.5"],
    "pretrain.own_temperature": ["-1", "0.0005", "11"],
    "pretrain.note_fraction": ["-1"],
    "pretrain.corpus_tasks": ["0"],
    "pretrain.revision_prefix_weight": ["-0.1", "1.5"],
    "pretrain.revision_fix_weight": ["0.5", "65"],
    "rollout.temperature": ["-1", "0.0005", "11"],
    "rollout.top_k": ["-1", "265", "1.5"],
    "rollout.top_p": ["0", "-0.1", "1.01"],
    "rollout.max_tokens": ["0", "255", "100000"],
    "rewrite.samples": ["-1", "65"],
    "rewrite.temperature": ["0.0001", "1e9"],
    "rewrite.teacher_top_k": ["0", "265", "1048576"],
    "rewrite.feedback": ["\"some\""],
    "rewrite.memory": ["0"],
    "rewrite.memory_budget_tokens": ["-1"],
    "rewrite.use_sibling": ["\"true\""],
    "rewrite.critique": ["1"],
    "distill.sdpo": ["-1", "1001"],
    "distill.sft": ["-1"],
    "distill.grpo": ["-0.001"],
    "distill.rft": ["1e309"],
    "distill.route": ["-1"],
    "distill.credit": ["-0.5"],
    "distill.rewrite_advantage": ["-1"],
    "distill.gap_tasks": ["-1"],
    "distill.gap_gate": ["1"],
    "distill.gap_reference": ["0", "1.5"],
    "distill.persist_moments": ["\"no\""],
    "distill.divergence": ["\"kl\""],
    "distill.teacher": ["\"moving\""],
    "guard.reference": ["\"worst\"", "1"],
    "distill.positions": ["\"some\""],
    "distill.lr": ["0", "1.5"],
    "distill.steps": ["-1"],
    "distill.batch": ["0"],
    "distill.ema_rate": ["1.5"],
    "distill.ratio_clip": ["0.5"],
    "distill.grpo_clip": ["0", "-0.2", "11"],
    "eval.samples": ["-1", "257"],
    "eval.temperature": ["0.0009", "-1"],
    "eval.sampled_tasks": ["-1"],
    "policy.backend": ["\"vllm\"", "1"],
    "policy.base_url": ["\"ftp://x\"", "3"],
    "policy.model": ["3"],
    "policy.api_key_env": ["3"],
    "policy.concurrency": ["0", "1025"],
    "policy.timeout_seconds": ["0.01", "-1"],
    "policy.max_retries": ["-1", "101"],
    "policy.backoff_seconds": ["-1", "601"],
    "policy.context": ["\"jinja\"", "1"],
    "policy.system": ["3"],
    "policy.instruction": ["3"],
  ]

  /// Keys that only mean something together with another key: the lines written before them.
  static let context: [String: String] = [
    "tasks.exec_tasks": "family = \"exec\"\nexec_checker = [\"python3\", \"check.py\"]",
    "tasks.exec_checker": "family = \"exec\"\nexec_tasks = \"tasks.jsonl\"",
  ]

  /// The keys in the first column of docs/pipeline-spec.md's key table (its first table; later
  /// tables, such as the objectives', list names that are not keys).
  static func documentedKeys() throws -> [String] {
    let text = try String(contentsOfFile: "docs/pipeline-spec.md", encoding: .utf8)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    guard let start = lines.firstIndex(where: { $0.hasPrefix("| key") }) else { return [] }
    let table = lines[start...].prefix { $0.hasPrefix("|") }
    var keys: [String] = []
    for line in table where line.hasPrefix("| `") {
      let firstColumn = line.dropFirst(2).prefix { $0 != "|" }
      for part in firstColumn.split(separator: "`") where part.contains(where: \.isLetter) {
        keys.append(String(part))
      }
    }
    return keys
  }

  /// A spec with `key = value` in its table, after a comment and filler lines, and the line of
  /// the key.
  static func spec(key: String, value: String) -> (text: String, line: Int) {
    var lines = ["# out-of-range check", "# (a second line)"]
    let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
    if parts.count == 2 {
      lines.append("[\(parts[0])]")
      if let before = context[key] { lines += before.split(separator: "\n").map(String.init) }
      lines.append("\(parts[1]) = \(value)")
    } else {
      lines.insert("\(key) = \(value)", at: 1)
    }
    let line = (lines.firstIndex { $0.hasPrefix("\(parts.last ?? key) = \(value)") } ?? 0) + 1
    return (lines.joined(separator: "\n") + "\n", line)
  }

  @Test func everyDocumentedKeyHasBadValues() throws {
    let keys = try Self.documentedKeys()
    #expect(keys.count >= 50)
    let missing = keys.filter { Self.badValues[$0] == nil }
    #expect(missing.isEmpty, "documented keys without an out-of-range value in this test: \(missing)")
    let undocumented = Self.badValues.keys.filter { !keys.contains($0) }
    #expect(undocumented.isEmpty, "keys tested here but not documented: \(undocumented)")
  }

  @Test func everyOutOfRangeValueIsRejectedByTheReader() throws {
    for key in try Self.documentedKeys() {
      for value in Self.badValues[key] ?? [] {
        let (text, line) = Self.spec(key: key, value: value)
        do {
          _ = try PipelineSpec.parse(text: text, source: "pipelines/bad.toml")
          Issue.record("\(key) = \(value) was accepted")
        } catch let error as HindcastError {
          #expect(error.code == .invalidConfig, "\(key) = \(value): \(error.description)")
          #expect(error.location == "pipelines/bad.toml:\(line)", "\(key) = \(value): \(error.description)")
          #expect(error.message.contains("'\(key)'"), "\(key) = \(value): \(error.description)")
        }
      }
    }
  }

  @Test func boundaryValuesAreAccepted() throws {
    let spec = try PipelineSpec.parse(
      text: """
        [rollout]
        temperature = 0.001
        [rewrite]
        temperature = 0
        teacher_top_k = 264
        [distill]
        grpo_clip = 0.0001
        [eval]
        temperature = 10
        """, source: "spec.toml")
    #expect(spec.rewrite.teacherTopK == 264 && spec.rollout.temperature == 0.001)
  }

  @Test func onlyPlainArithHasDifficultyZero() throws {
    let plain = try PipelineSpec.parse(
      text: "[tasks]\nfamily = \"arith-plain\"\ndifficulty = 0\n", source: "spec.toml")
    #expect(plain.tasks.difficulty == 0)
    #expect(throws: HindcastError.self) {
      try PipelineSpec.parse(text: "[tasks]\nfamily = \"listdsl\"\ndifficulty = 0\n", source: "spec.toml")
    }
  }

  @Test func deeplyNestedArraysAreAnErrorNotACrash() throws {
    let depth = 100_000
    let text =
      "[tasks]\nexec_checker = " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    do {
      _ = try PipelineSpec.parse(text: text, source: "deep.toml")
      Issue.record("a value nested \(depth) deep was accepted")
    } catch let error as HindcastError {
      #expect(error.location == "deep.toml:2" && error.message.contains("nested more than"))
    }
    let shallow =
      "[tasks]\nexec_checker = " + String(repeating: "[", count: 3) + String(repeating: "]", count: 3)
    #expect(throws: HindcastError.self) { try PipelineSpec.parse(text: shallow, source: "s.toml") }
  }
}
