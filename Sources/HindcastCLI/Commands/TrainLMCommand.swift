import ArgumentParser
import Foundation
import HindcastKernels
import HindcastModel
import HindcastSupport
import HindcastTraining

/// `hindcast train-lm`: trains the embedded transformer on a JSON-lines corpus and resumes from
/// the run directory's checkpoint when run again.
struct TrainLMCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train-lm",
    abstract: "Train the embedded transformer on a corpus of {\"text\": ...} JSON lines.",
    discussion: """
      Each line's text is tokenized byte by byte and followed by <end>; training windows are \
      drawn at random positions from the resulting stream. The checkpoint (weights, optimizer \
      moments, step, data-order RNG state, settings) lives in OUT/checkpoint and is written every \
      --checkpoint-every steps and at the end.

      Running the same command again resumes from that checkpoint; with the same --threads the \
      result is bit-for-bit the one of an uninterrupted run. On resume, options that are not \
      given keep their saved values; --steps may be raised to train further. Progress goes to \
      standard error, the final summary to standard output.
      """)

  @Option(help: ArgumentHelp("JSON-lines corpus, plain or zstd-compressed.", valueName: "file.jsonl[.zst]"))
  var corpus: String

  @Option(help: ArgumentHelp("Run directory; the checkpoint is written to OUT/checkpoint.", valueName: "dir"))
  var out: String

  @Option(
    help: ArgumentHelp("Model preset: tiny, small or bench (default small for a new run).", valueName: "name")
  )
  var model: String?

  @Option(
    name: .customLong("config"),
    help: ArgumentHelp("Model config JSON file (instead of --model).", valueName: "file"))
  var configPath: String?

  @Option(help: "Optimizer steps of the whole run (default 1000).")
  var steps: Int?

  @Option(help: "Sequences per batch (default 16).")
  var batch: Int?

  @Option(help: "Tokens predicted per sequence (default: the model's context length).")
  var seq: Int?

  @Option(help: "Peak learning rate (default 0.001).")
  var lr: Double?

  @Option(help: "Linear warm-up steps (default 10% of --steps, at most 100).")
  var warmup: Int?

  @Option(
    name: .customLong("final-lr-fraction"), help: "Cosine decay floor as a fraction of --lr (default 0.1).")
  var finalLearningRateFraction: Double?

  @Option(name: .customLong("weight-decay"), help: "AdamW weight decay of matrices (default 0.1).")
  var weightDecay: Float?

  @Option(help: "Maximum global gradient norm, 0 for none (default 1).")
  var clip: Float?

  @Option(help: "Run seed for initialization and data order (default 1).")
  var seed: UInt64?

  @Option(help: "OpenBLAS threads (default: all cores). Resume with the same count for bit-exact results.")
  var threads: Int?

  @Option(name: .customLong("checkpoint-every"), help: "Write a checkpoint every K steps; 0 only at the end.")
  var checkpointEvery: Int = 100

  @Option(
    name: .customLong("log-every"), help: "When stderr is not a terminal, print progress every N steps.")
  var logEvery: Int = 10

  func validate() throws {
    if model != nil && configPath != nil {
      throw ValidationError("give either --model or --config, not both")
    }
    if let model, ModelConfig.presets[model] == nil {
      throw ValidationError(
        "unknown --model '\(model)'; choose one of \(ModelConfig.presets.keys.sorted().joined(separator: ", "))"
      )
    }
    func positive(_ value: Int?, _ flag: String) throws {
      if let value, value < 1 { throw ValidationError("\(flag) must be at least 1; got \(value)") }
    }
    try positive(steps, "--steps")
    try positive(batch, "--batch")
    try positive(seq, "--seq")
    try positive(threads, "--threads")
    try positive(logEvery, "--log-every")
    if let warmup, warmup < 0 { throw ValidationError("--warmup must be at least 0; got \(warmup)") }
    if let lr, !(lr > 0 && lr <= 10) { throw ValidationError("--lr must be in (0, 10]; got \(lr)") }
    if let clip, !(clip >= 0) { throw ValidationError("--clip must be at least 0; got \(clip)") }
    if let weightDecay, !(weightDecay >= 0 && weightDecay <= 10) {
      throw ValidationError("--weight-decay must be in [0, 10]; got \(weightDecay)")
    }
    if let fraction = finalLearningRateFraction, !(fraction >= 0 && fraction <= 1) {
      throw ValidationError("--final-lr-fraction must be in [0, 1]; got \(fraction)")
    }
    if checkpointEvery < 0 {
      throw ValidationError("--checkpoint-every must be at least 0; got \(checkpointEvery)")
    }
  }

  func run() throws {
    var modelConfig: ModelConfig?
    if let model { modelConfig = ModelConfig.presets[model] }
    if let configPath { modelConfig = try CheckpointIO.readModelConfig(configPath) }
    let threadCount = threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount)
    BLASThreads.set(threadCount)
    let request = LanguageModelTrainingRequest(
      corpusPath: corpus, outputDirectory: out, model: modelConfig,
      overrides: TrainingOverrides(
        steps: steps, batchSize: batch, sequenceLength: seq, learningRate: lr, warmupSteps: warmup,
        finalLearningRateFraction: finalLearningRateFraction, weightDecay: weightDecay, clipNorm: clip,
        seed: seed),
      threads: threadCount, checkpointEvery: checkpointEvery)
    var printer = TrainingProgressPrinter(isTerminal: isatty(2) != 0, every: logEvery)
    let summary = try LanguageModelTraining.run(
      request, makeModel: LanguageModelTraining.transformerFactory, progress: { printer.handle($0) })
    printer.finish()
    var line = "train-lm: step \(summary.step)"
    if summary.stepsThisRun == 0 { line += " (already complete)" }
    if let first = summary.firstLoss, let last = summary.lastLoss {
      line += ", loss \(format(first, 4)) -> \(format(last, 4))"
    }
    print(line + ", checkpoint \(summary.checkpointPath)")
  }
}

/// Renders training events on standard error: on a terminal one progress line rewritten in
/// place, otherwise a line every `every` steps (and at the last step).
struct TrainingProgressPrinter {
  let isTerminal: Bool
  let every: Int
  private var lineOpen = false

  init(isTerminal: Bool, every: Int) {
    self.isTerminal = isTerminal
    self.every = every
  }

  mutating func handle(_ event: TrainingEvent) {
    switch event {
    case .started(let resumedFrom, let totalSteps, let parameterCount, let corpusTokens, let documents):
      let origin =
        resumedFrom.map { "resuming at step \($0) of \(totalSteps)" } ?? "new run of \(totalSteps) steps"
      emit(
        "train-lm: \(origin); \(parameterCount) parameters; "
          + "corpus \(documents) documents, \(corpusTokens) tokens")
    case .step(let progress):
      let text =
        "step \(progress.step)/\(progress.totalSteps)  loss \(format(progress.result.loss, 4))  "
        + "lr \(String(format: "%.2e", Double(progress.result.learningRate)))  "
        + "\(Int(progress.tokensPerSecond.rounded())) tok/s  ETA \(duration(progress.etaSeconds))"
      if isTerminal {
        StandardError.write("\r" + text + "\u{1B}[K")
        lineOpen = true
      } else if progress.step % every == 0 || progress.step == progress.totalSteps {
        StandardError.write(text + "\n")
      }
    case .checkpointWritten(let step, let path):
      emit("checkpoint at step \(step): \(path)")
    case .note(let text):
      emit("note: " + text)
    }
  }

  /// Ends an open progress line.
  mutating func finish() {
    if lineOpen { StandardError.write("\n") }
    lineOpen = false
  }

  private mutating func emit(_ text: String) {
    finish()
    StandardError.write(text + "\n")
  }

  private func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let total = Int(seconds.rounded())
    if total >= 3600 { return "\(total / 3600)h\(String(format: "%02d", total % 3600 / 60))m" }
    if total >= 60 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
    return "\(total)s"
  }
}

/// `value` with `digits` decimals.
private func format(_ value: Float, _ digits: Int) -> String {
  String(format: "%.\(digits)f", Double(value))
}
