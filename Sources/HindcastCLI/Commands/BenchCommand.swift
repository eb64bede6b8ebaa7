import ArgumentParser
import Foundation
import HindcastKernels
import HindcastModel
import HindcastPipeline
import HindcastStorage
import HindcastSupport
import HindcastTraining

/// `hindcast bench`: GEMM throughput at the model's shapes, training tokens/s with the GEMM share
/// of a step, and KV-cache decode tokens/s, measured in one run on this machine.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure GEMM, training and decode throughput of the embedded transformer.",
    discussion: """
      Three parts, in order: (1) every matrix product of a training step at its real shape and \
      strides, through Hindcast's Gemm.multiply and through a direct cblas_sgemm call on the same \
      buffers (the ratio shows wrapper overhead); (2) whole optimizer steps (forward, backward, \
      clipping, AdamW) on random bytes, with the time spent in GEMM calls inside each step, and \
      for comparison the same products replayed back to back; (3) greedy KV-cache decoding at each --decode-batches size. All \
      figures are medians over repeats. Progress goes to standard error, the table to standard \
      output, the full results to --json.
      """)

  @Option(help: ArgumentHelp("Model preset: tiny, small or bench.", valueName: "name"))
  var model: String = "bench"

  @Option(help: "OpenBLAS threads (default: all cores).")
  var threads: Int?

  @Option(
    name: .customLong("train-threads"),
    help: "Threads of a training step, each on its own batch shard with 1-thread BLAS (default: --threads).")
  var trainThreads: Int?

  @Option(help: "Training sequences per step.")
  var batch: Int = 16

  @Option(help: "Tokens predicted per training sequence (default: min(256, the model's context)).")
  var seq: Int?

  @Option(help: "Timed training steps.")
  var steps: Int = 5

  @Option(help: "Untimed training steps first.")
  var warmup: Int = 1

  @Option(help: "Repetitions of each GEMM shape and decode measurement.")
  var repeats: Int = 5

  @Option(
    name: .customLong("gemm-seconds"), help: "Minimum seconds of one timed batch of calls per GEMM shape.")
  var gemmSeconds: Double = 0.05

  @Option(
    name: .customLong("decode-batches"), help: ArgumentHelp("Decode batch sizes.", valueName: "n,n,..."))
  var decodeBatches: String = "1,32"

  @Option(help: "Prompt tokens per decoded sequence (default: min(64, context / 4)).")
  var prompt: Int?

  @Option(
    name: .customLong("new-tokens"),
    help: "Generated tokens per decoded sequence (default: min(128, context / 2)).")
  var newTokens: Int?

  @Option(help: "Run only these parts.", completion: .list(["gemm", "train", "decode"]))
  var only: [String] = []

  @Flag(
    name: .customLong("no-gemm-replay"),
    help: "Skip replaying the training step's GEMMs back to back (the in-step GEMM timing remains).")
  var noGemmReplay = false

  @Option(help: ArgumentHelp("Write the results as JSON to this file.", valueName: "out.json"))
  var json: String?

  @Option(
    help: ArgumentHelp(
      "Instead of the parts above: one round of this spec's shapes, stage by stage, with FLOPs, GFLOP/s and the ratio to cblas_sgemm at the same shapes.",
      valueName: "spec.toml"))
  var pipeline: String?

  @Option(
    help: ArgumentHelp(
      "With --pipeline: the policy checkpoint to run (default: a fresh model of the spec's config).",
      valueName: "dir"))
  var checkpoint: String?

  @Option(help: "With --pipeline or --workload: the seed of every sample.")
  var seed: UInt64 = 1

  @Flag(
    help: ArgumentHelp(
      "Instead of the parts above: batched generation at the pipeline's shapes (--sequences prompts of --prompt-range tokens, --new-tokens each, temperature 1, log-probs), with GFLOP/s against cblas_sgemm at the decode shapes."
    ))
  var workload = false

  @Option(help: "With --workload: sequences generated per run.")
  var sequences: Int = 512

  @Option(
    name: .customLong("prompt-range"),
    help: ArgumentHelp("With --workload: prompt lengths, drawn uniformly.", valueName: "min-max"))
  var promptRange: String = "15-200"

  @Option(help: "With --workload: KV-cache slots (sequences decoded at once).")
  var slots: Int = Sampler.defaultMaxBatch

  @Option(help: ArgumentHelp("With --workload: position encoding, rope or learned.", valueName: "kind"))
  var position: String = "rope"

  func validate() throws {
    if ModelConfig.presets[model] == nil {
      throw ValidationError(
        "unknown --model '\(model)'; choose one of \(ModelConfig.presets.keys.sorted().joined(separator: ", "))"
      )
    }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1; got \(threads)") }
    if let trainThreads, trainThreads < 1 {
      throw ValidationError("--train-threads must be at least 1; got \(trainThreads)")
    }
    if parsedDecodeBatches == nil {
      throw ValidationError(
        "--decode-batches must be positive integers separated by commas; got '\(decodeBatches)'")
    }
    if let bad = only.first(where: { !["gemm", "train", "decode"].contains($0) }) {
      throw ValidationError("--only takes gemm, train or decode; got '\(bad)'")
    }
    if parsedPromptRange == nil {
      throw ValidationError("--prompt-range must be MIN-MAX with 1 <= MIN <= MAX; got '\(promptRange)'")
    }
    if PositionEncoding(rawValue: position) == nil {
      throw ValidationError("--position takes rope or learned; got '\(position)'")
    }
    if sequences < 1 || slots < 1 {
      throw ValidationError("--sequences and --slots must be at least 1; got \(sequences) and \(slots)")
    }
  }

  private var parsedDecodeBatches: [Int]? {
    let values = decodeBatches.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
    return values.compactMap { $0 }
  }

  func run() throws {
    if let pipeline {
      try runPipeline(specPath: pipeline)
      return
    }
    if workload {
      try runWorkload()
      return
    }
    guard let config = ModelConfig.presets[model], let batches = parsedDecodeBatches else { return }
    if let json {
      // Fail before minutes of measuring, not after.
      let parent = URL(fileURLWithPath: json).deletingLastPathComponent().path
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue
      else {
        throw HindcastError(
          .missingFile, "the directory of --json does not exist", location: parent,
          hint: "create it first or choose another path")
      }
    }
    let threadCount = threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount)
    BLASThreads.set(threadCount)
    let parts = Set(only.isEmpty ? ["gemm", "train", "decode"] : only)
    let settings = BenchSettings(
      modelName: model, model: config, threads: threadCount, batch: batch,
      length: seq ?? min(256, config.contextLength), steps: steps, warmupSteps: warmup, repeats: repeats,
      gemmSeconds: gemmSeconds, decodeBatches: batches,
      promptLength: prompt ?? min(64, config.contextLength / 4),
      newTokens: newTokens ?? min(128, config.contextLength / 2), runGemm: parts.contains("gemm"),
      runTraining: parts.contains("train"), runDecode: parts.contains("decode"),
      replayGemm: !noGemmReplay, trainingThreads: trainThreads ?? threadCount)
    let date = ISO8601DateFormatter().string(from: Date())
    StandardError.write(
      "bench: model \(model) (\(config.parameterCount) parameters), \(threadCount) BLAS threads, "
        + "\(BLASThreads.libraryDescription)\n")
    let report = try BenchReport.run(settings: settings, date: date) { StandardError.write($0 + "\n") }
    print(BenchTable.render(report), terminator: "")
    if let json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try AtomicFile.write(Array(try encoder.encode(report)) + [0x0A], to: json)
      StandardError.write("bench: wrote \(json)\n")
    }
  }
}

extension BenchCommand {
  /// `--pipeline`: `PipelineBenchmark` on the spec, its table on standard output.
  func runPipeline(specPath: String) throws {
    let spec = try PipelineSpec.load(path: specPath)
    let threadCount = threads ?? spec.model.threads
    BLASThreads.set(threadCount)
    let model: Transformer
    if let checkpoint {
      let weights = try CheckpointIO.readWeights(checkpoint)
      model = try Transformer(config: weights.config, parameters: weights.parameters)
    } else {
      model = try Transformer(config: spec.model.config, seed: seed)
    }
    StandardError.write(
      "bench --pipeline: \(specPath), \(model.config.positionEncoding.rawValue) positions, "
        + "\(threadCount) threads, \(BLASThreads.libraryDescription)\n")
    let bench = try PipelineBenchmark(spec: spec, model: model)
    let stages = try bench.run(seed: seed) { StandardError.write("bench: " + $0 + "\n") }
    var rows = [
      [
        "stage", "wall s", "cpu s", "tokens", "GFLOP", "GFLOP/s", "sgemm rows", "sgemm GFLOP/s", "ratio",
        "GFLOP/cpu-s", "sgemm GFLOP/cpu-s", "cpu ratio",
      ]
    ]
    func f(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
    for s in stages {
      let m = s.flops > 0
      rows.append([
        s.name, f(s.seconds, 3), f(s.cpuSeconds, 3), m ? "\(s.tokens)" : "-", m ? f(s.flops / 1e9, 2) : "-",
        m ? f(s.gflops, 1) : "-", m ? "\(s.gemmRows)" : "-", m ? f(s.sgemmGflops, 1) : "-",
        m ? f(s.sgemmRatio, 2) : "-", m ? f(s.cpuGflops, 1) : "-", m ? f(s.sgemmCPUGflops, 1) : "-",
        m ? f(s.sgemmCPURatio, 2) : "-",
      ])
    }
    let total = stages.reduce(0) { $0 + $1.seconds }
    let cpuTotal = stages.reduce(0) { $0 + $1.cpuSeconds }
    rows.append(["round", f(total, 3), f(cpuTotal, 3), "", "", "", "", "", "", "", "", ""])
    print(BenchTable.alignRows(rows, rightFrom: 1), terminator: "")
    if let json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try AtomicFile.write(Array(try encoder.encode(stages)) + [0x0A], to: json)
    }
  }
}

/// Plain-text tables of a `BenchReport`, columns aligned.
enum BenchTable {
  static func render(_ report: BenchReport) -> String {
    let s = report.settings
    var out =
      "hindcast bench: model \(s.modelName) (\(report.parameters) parameters), \(s.threads) threads, "
      + "\(s.trainingThreads) training threads\n"
    if !report.gemm.isEmpty {
      var rows = [["gemm", "shape", "calls/step", "hindcast GFLOP/s", "cblas GFLOP/s", "ratio"]]
      for r in report.gemm {
        rows.append([
          r.shape.name, r.shape.label, "\(r.shape.callsPerStep)", fixed(r.hindcastGflops, 1),
          fixed(r.cblasGflops, 1), fixed(r.ratio, 3),
        ])
      }
      out += "\n" + align(rows, rightFrom: 2)
    }
    if let t = report.training {
      var rows = [["training", "value"]]
      rows.append(["batch x seq", "\(t.batch) x \(t.length)"])
      rows.append(["tokens/s", fixed(t.tokensPerSecond, 0)])
      rows.append(["step ms", fixed(t.stepSeconds * 1000, 1)])
      rows.append(["forward+backward ms", fixed(t.forwardBackwardSeconds * 1000, 1)])
      rows.append(["clip+AdamW ms", fixed(t.optimizerSeconds * 1000, 1)])
      rows.append(["GEMM ms in step (\(t.gemmCalls) calls)", fixed(t.gemmSeconds * 1000, 1)])
      rows.append(["GEMM share of step", fixed(t.gemmFraction * 100, 1) + "%"])
      if t.replayGemmSeconds > 0 {
        rows.append(["GEMM ms replayed back to back", fixed(t.replayGemmSeconds * 1000, 1)])
        rows.append(["replayed GEMM / step", fixed(t.replayGemmFraction * 100, 1) + "%"])
      }
      rows.append(["GEMM GFLOP/s over step", fixed(t.effectiveGflops, 1)])
      rows.append(["model GFLOP/s (6N + attn)", fixed(t.modelGflops, 1)])
      out += "\n" + align(rows, rightFrom: 1)
    }
    if !report.decode.isEmpty {
      var rows = [["decode batch", "prompt+new", "decode tok/s", "ms/step", "prefill tok/s"]]
      for d in report.decode {
        rows.append([
          "\(d.batch)", "\(d.promptLength)+\(d.newTokens)", fixed(d.decodeTokensPerSecond, 0),
          fixed(d.millisecondsPerStep, 3), fixed(d.prefillTokensPerSecond, 0),
        ])
      }
      out += "\n" + align(rows, rightFrom: 0)
    }
    return out
  }

  private static func fixed(_ value: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", value)
  }

  static func alignRows(_ rows: [[String]], rightFrom: Int) -> String { align(rows, rightFrom: rightFrom) }

  /// Columns padded to their widest cell; columns from `rightFrom` on are right-aligned.
  private static func align(_ rows: [[String]], rightFrom: Int) -> String {
    let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
      row.enumerated().map { column, cell in
        let pad = String(repeating: " ", count: widths[column] - cell.count)
        return column >= rightFrom ? pad + cell : cell + pad
      }.joined(separator: "  ").replacingOccurrences(of: " +$", with: "", options: .regularExpression)
    }.joined(separator: "\n") + "\n"
  }
}
