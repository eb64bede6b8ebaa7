import ArgumentParser
import Foundation
import HindcastKernels
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTraining

/// `hindcast sample`: continuations of prompts from a checkpoint.
struct SampleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sample",
    abstract: "Sample continuations of prompts from a policy checkpoint.",
    discussion: """
      Prompts are text in which segment markers are written literally, for example \
      '<task>47+85<answer>'. A checkpoint is a directory with config.json and model.safetensors \
      (any policy/round-NNNN of a run, or OUT/checkpoint of train-lm). Each sample's randomness \
      depends only on --seed and its position, so results are reproducible.
      """)

  @Option(help: ArgumentHelp("Checkpoint directory.", valueName: "dir"))
  var checkpoint: String

  @Option(help: ArgumentHelp("A prompt (repeatable).", valueName: "text"))
  var prompt: [String] = []

  @Option(
    name: .customLong("prompts-file"),
    help: ArgumentHelp("A file with one prompt per line.", valueName: "file"))
  var promptsFile: String?

  @Option(help: "Sampling temperature; 0 is greedy.")
  var temperature: Float = 1

  @Option(name: .customLong("top-k"), help: "Keep only the k most likely tokens.")
  var topK: Int?

  @Option(name: .customLong("top-p"), help: "Keep the smallest set of tokens with this much probability.")
  var topP: Float?

  @Option(name: .customLong("max-tokens"), help: "Longest continuation.")
  var maxTokens: Int = 128

  @Option(help: "Continuations per prompt.")
  var samples: Int = 1

  @Option(help: "Seed of the sampling randomness.")
  var seed: UInt64 = 1

  @Option(help: "OpenBLAS threads.")
  var threads: Int = 1

  @Flag(help: "Print one JSON object per sample (with tokens and log-probabilities).")
  var json = false

  func validate() throws {
    guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
    guard !prompt.isEmpty || promptsFile != nil else {
      throw ValidationError("give at least one --prompt or a --prompts-file")
    }
  }

  func run() throws {
    BLASThreads.set(threads)
    var prompts = prompt
    if let promptsFile {
      let text = String(decoding: try AtomicFile.read(promptsFile), as: UTF8.self)
      prompts += text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }
    let weights = try CheckpointIO.readWeights(checkpoint)
    let model = try Transformer(config: weights.config, parameters: weights.parameters)
    let settings = SamplingSettings(
      temperature: temperature, topK: topK, topP: topP, maxNewTokens: maxTokens)
    let request = SampleRequest(prompts: prompts, settings: settings, seed: seed, samplesPerPrompt: samples)
    let results = try Sampler.sample(model: model, request: request)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    for result in results {
      if json {
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
      } else {
        print("[\(result.promptIndex).\(result.sampleIndex)] \(result.prompt)\(result.text)")
      }
    }
  }
}
