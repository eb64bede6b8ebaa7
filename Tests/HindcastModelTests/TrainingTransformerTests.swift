import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTraining
import Testing

/// Wraps a gradient source and throws after a number of steps, like a process killed mid-run.
private final class Interrupting: GradientSource {
  struct Killed: Error {}
  let inner: GradientSource
  let stepsBeforeKill: Int
  private var calls = 0

  init(_ inner: GradientSource, stepsBeforeKill: Int) {
    self.inner = inner
    self.stepsBeforeKill = stepsBeforeKill
  }

  var config: ModelConfig { inner.config }
  var parameters: [Float] {
    get { inner.parameters }
    set { inner.parameters = newValue }
  }
  var gradients: [Float] {
    get { inner.gradients }
    set { inner.gradients = newValue }
  }

  func lossAndGradients(batch: [[Int32]]) throws -> Float {
    if calls >= stepsBeforeKill { throw Killed() }
    calls += 1
    return try inner.lossAndGradients(batch: batch)
  }
}

@Suite struct TrainingTransformerTests {
  /// A transformer small enough for debug-build tests.
  static let config = ModelConfig(contextLength: 16, layers: 2, width: 16, heads: 2)

  static let documents = (0..<30).map { i in
    "the cat sat on the mat. the dog sat on the log. \(i % 3 == 0 ? "a bird sat on the wire." : "")"
  }

  @Test func transformerGradientSourceAveragesNextTokenLoss() throws {
    let model = try Transformer(config: Self.config, seed: 3)
    let windows: [[Int32]] = [[10, 20, 30, 40, 50], [50, 40, 30, 20, 10]]
    model.gradients = [Float](repeating: 7, count: model.gradients.count)
    let loss = try model.lossAndGradients(batch: windows)
    // Near-uniform predictions at initialization: the loss is close to log(vocab).
    #expect(abs(loss - Float(log(Double(Self.config.vocabSize)))) < 0.1)
    // Gradients are overwritten, not accumulated onto the 7s.
    let first = model.gradients
    _ = try model.lossAndGradients(batch: windows)
    #expect(model.gradients == first)
    #expect(!first.contains(7))
    #expect(throws: HindcastError.self) { _ = try model.lossAndGradients(batch: [[1, 2], [1, 2, 3]]) }
  }

  /// With 2 threads the factory's models shard each step (`Transformer.trainingThreads`); resuming
  /// with the same thread count must still be bit-exact.
  @Test(arguments: [1, 2])
  func trainLMOnTheTransformerLowersTheLossAndResumesBitExactly(threads: Int) throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let corpus = root + "/corpus.jsonl"
    try TrainingTestSupport.writeCorpus(Self.documents, to: corpus)
    func request(_ out: String) -> LanguageModelTrainingRequest {
      LanguageModelTrainingRequest(
        corpusPath: corpus, outputDirectory: root + "/" + out, model: Self.config,
        overrides: TrainingOverrides(
          steps: 30, batchSize: 4, sequenceLength: 16, learningRate: 1e-2, warmupSteps: 3, seed: 7),
        threads: threads, checkpointEvery: 10)
    }
    let whole = try LanguageModelTraining.run(
      request("whole"), makeModel: LanguageModelTraining.transformerFactory)
    let first = try #require(whole.firstLoss)
    let last = try #require(whole.lastLoss)
    #expect(last < first * 0.6, "loss \(first) -> \(last)")

    let killedFactory: LanguageModelTraining.ModelFactory = { config, seed, threads in
      Interrupting(try LanguageModelTraining.transformerFactory(config, seed, threads), stepsBeforeKill: 15)
    }
    #expect(throws: Interrupting.Killed.self) {
      _ = try LanguageModelTraining.run(request("split"), makeModel: killedFactory)
    }
    let resumed = try LanguageModelTraining.run(
      request("split"), makeModel: LanguageModelTraining.transformerFactory)
    #expect(resumed.stepsThisRun == 20)

    let wholeDirectory = LanguageModelTraining.checkpointPath(in: root + "/whole")
    let splitDirectory = LanguageModelTraining.checkpointPath(in: root + "/split")
    for name in try FileManager.default.contentsOfDirectory(atPath: wholeDirectory) {
      let same =
        try AtomicFile.read(wholeDirectory + "/" + name) == AtomicFile.read(splitDirectory + "/" + name)
      #expect(same, "\(name) differs between the resumed and the uninterrupted run")
    }

    // The saved weights are the trained ones: they predict the corpus better than a fresh model.
    let weights = try CheckpointIO.readWeights(wholeDirectory)
    let loaded = try Transformer(config: weights.config, parameters: weights.parameters)
    let fresh = try Transformer(config: Self.config, seed: LanguageModelTraining.initializationSeed(7))
    let window = [Tokenizer.encode("the dog sat on th")]
    #expect(try loaded.lossAndGradients(batch: window) < fresh.lossAndGradients(batch: window) * 0.6)
  }
}
