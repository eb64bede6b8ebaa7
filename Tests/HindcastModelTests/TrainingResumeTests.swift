import Foundation
import HindcastModel
import HindcastStorage
import HindcastSupport
import HindcastTraining
import Testing

/// A small corpus with enough variety that different windows give different gradients.
private let documents = (0..<40).map {
  "document \($0): \(String(repeating: "ab\($0 % 7)c", count: 1 + $0 % 5))"
}

/// Settings small enough for a debug build: 12 steps of batch 3 x 8 tokens.
private let overrides = TrainingOverrides(
  steps: 12, batchSize: 3, sequenceLength: 8, learningRate: 0.05, warmupSteps: 3, seed: 42)

/// A factory that builds toy models, optionally failing on the `failAfterCalls`-th step.
private func toyFactory(failAfterCalls: Int? = nil) -> LanguageModelTraining.ModelFactory {
  { config, seed, _ in
    let model = QuadraticToyModel(config: config, seed: seed)
    model.failAfterCalls = failAfterCalls
    return model
  }
}

private func checkpointFiles(_ outputDirectory: String) throws -> [String: [UInt8]] {
  let path = LanguageModelTraining.checkpointPath(in: outputDirectory)
  var result: [String: [UInt8]] = [:]
  for name in try FileManager.default.contentsOfDirectory(atPath: path) {
    result[name] = try AtomicFile.read(path + "/" + name)
  }
  return result
}

@Suite struct TrainingResumeTests {
  @Test func interruptedRunResumesBitExactly() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let corpus = root + "/corpus.jsonl"
    try TrainingTestSupport.writeCorpus(documents, to: corpus)
    func request(_ out: String) -> LanguageModelTrainingRequest {
      LanguageModelTrainingRequest(
        corpusPath: corpus, outputDirectory: root + "/" + out, model: TrainingTestSupport.toyConfig,
        overrides: overrides, threads: 1, checkpointEvery: 4)
    }

    var checkpoints: [Int] = []
    let whole = try LanguageModelTraining.run(request("whole"), makeModel: toyFactory()) { event in
      if case .checkpointWritten(let step, _) = event { checkpoints.append(step) }
    }
    #expect(whole.step == 12 && whole.stepsThisRun == 12)
    #expect(checkpoints == [4, 8, 12])

    // Killed during step 7: the checkpoint of step 4 survives and the run continues from it.
    #expect(throws: QuadraticToyModel.Interrupted.self) {
      _ = try LanguageModelTraining.run(request("split"), makeModel: toyFactory(failAfterCalls: 6))
    }
    let saved = try CheckpointIO.read(LanguageModelTraining.checkpointPath(in: root + "/split"))
    #expect(saved.training?.state.step == 4)
    var resumedFrom: Int?
    let resumed = try LanguageModelTraining.run(request("split"), makeModel: toyFactory()) { event in
      if case .started(let from, _, _, _, _) = event { resumedFrom = from }
    }
    #expect(resumedFrom == 4)
    #expect(resumed.step == 12 && resumed.stepsThisRun == 8)
    #expect(resumed.lastLoss == whole.lastLoss)

    let wholeFiles = try checkpointFiles(root + "/whole")
    let splitFiles = try checkpointFiles(root + "/split")
    #expect(wholeFiles.keys.sorted() == splitFiles.keys.sorted())
    for (name, bytes) in wholeFiles {
      let same = splitFiles[name] == bytes
      #expect(same, "\(name) differs between the resumed and the uninterrupted run")
    }

    // Training really changed the weights and lowered the loss.
    let state = try #require(
      try CheckpointIO.read(LanguageModelTraining.checkpointPath(in: root + "/whole")).training)
    #expect(state.state.losses.count == 12)
    #expect(state.state.tokensSeen == 12 * 3 * 8)
    #expect(try #require(whole.lastLoss) < #require(whole.firstLoss))
  }

  @Test func runningAgainAfterCompletionDoesNothing() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let corpus = root + "/corpus.jsonl"
    try TrainingTestSupport.writeCorpus(documents, to: corpus)
    let request = LanguageModelTrainingRequest(
      corpusPath: corpus, outputDirectory: root + "/out", model: TrainingTestSupport.toyConfig,
      overrides: overrides, threads: 1, checkpointEvery: 0)
    _ = try LanguageModelTraining.run(request, makeModel: toyFactory())
    let before = try checkpointFiles(root + "/out")
    // Settings that were not given come from the checkpoint.
    let again = LanguageModelTrainingRequest(
      corpusPath: corpus, outputDirectory: root + "/out", threads: 1, checkpointEvery: 0)
    let summary = try LanguageModelTraining.run(again, makeModel: toyFactory(failAfterCalls: 0))
    #expect(summary.stepsThisRun == 0 && summary.step == 12)
    let unchanged = try checkpointFiles(root + "/out") == before
    #expect(unchanged, "the checkpoint changed")

    // Asking for more steps continues the run.
    var more = again
    more.overrides.steps = 14
    let extended = try LanguageModelTraining.run(more, makeModel: toyFactory())
    #expect(extended.step == 14 && extended.stepsThisRun == 2)
  }

  @Test func resumingWithOtherSettingsIsRejected() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let corpus = root + "/corpus.jsonl"
    try TrainingTestSupport.writeCorpus(documents, to: corpus)
    var request = LanguageModelTrainingRequest(
      corpusPath: corpus, outputDirectory: root + "/out", model: TrainingTestSupport.toyConfig,
      overrides: overrides, threads: 1, checkpointEvery: 0)
    _ = try LanguageModelTraining.run(request, makeModel: toyFactory())
    let before = try checkpointFiles(root + "/out")

    var otherRate = request
    otherRate.overrides.learningRate = 0.01
    #expect {
      _ = try LanguageModelTraining.run(otherRate, makeModel: toyFactory())
    } throws: { error in
      let error = error as? HindcastError
      return error?.code == .invalidConfig && error?.message.contains("learning_rate: 0.05 -> 0.01") == true
    }
    var otherModel = request
    otherModel.model?.width = 8
    otherModel.model?.heads = 2
    #expect(throws: HindcastError.self) {
      _ = try LanguageModelTraining.run(otherModel, makeModel: toyFactory())
    }

    try TrainingTestSupport.writeCorpus(documents + ["one more"], to: corpus)
    request.overrides.steps = 20
    #expect {
      _ = try LanguageModelTraining.run(request, makeModel: toyFactory())
    } throws: { error in
      let error = error as? HindcastError
      return error?.code == .invalidInput && error?.location == corpus
        && error?.message.contains("corpus differs") == true
    }
    let unchanged = try checkpointFiles(root + "/out") == before
    #expect(unchanged, "the checkpoint changed")
  }

  @Test func badCorporaFailBeforeAnythingIsWritten() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    func attempt(_ corpus: String, _ code: HindcastError.Code, _ location: String, _ fragment: String) {
      let out = root + "/out"
      let request = LanguageModelTrainingRequest(
        corpusPath: corpus, outputDirectory: out, model: TrainingTestSupport.toyConfig, overrides: overrides)
      #expect {
        _ = try LanguageModelTraining.run(request, makeModel: toyFactory())
      } throws: { error in
        let error = error as? HindcastError
        return error?.code == code && error?.location == location && error?.message.contains(fragment) == true
      }
      #expect(!FileManager.default.fileExists(atPath: out), "no output for \(corpus)")
    }
    let empty = root + "/empty.jsonl"
    try "\n  \n".write(toFile: empty, atomically: true, encoding: .utf8)
    attempt(empty, .invalidInput, empty, "no documents")

    let malformed = root + "/malformed.jsonl"
    try "{\"text\": \"fine\"}\n{\"text\": 3}\n".write(toFile: malformed, atomically: true, encoding: .utf8)
    attempt(malformed, .invalidInput, malformed + ":2", "malformed JSON line")

    let short = root + "/short.jsonl"
    try "{\"text\": \"abc\"}\n".write(toFile: short, atomically: true, encoding: .utf8)
    attempt(short, .invalidInput, short, "fewer than the 9")

    attempt(root + "/missing.jsonl", .missingFile, root + "/missing.jsonl", "not found")
  }

  @Test func compressedCorpusTrainsLikeThePlainOne() throws {
    let root = try TrainingTestSupport.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let plain = root + "/corpus.jsonl"
    try TrainingTestSupport.writeCorpus(documents, to: plain)
    let compressed = root + "/corpus.jsonl.zst"
    try AtomicFile.write(Zstd.compress(AtomicFile.read(plain)), to: compressed)
    var short = overrides
    short.steps = 3
    for (corpus, out) in [(plain, "a"), (compressed, "b")] {
      _ = try LanguageModelTraining.run(
        LanguageModelTrainingRequest(
          corpusPath: corpus, outputDirectory: root + "/" + out, model: TrainingTestSupport.toyConfig,
          overrides: short),
        makeModel: toyFactory())
    }
    let same = try checkpointFiles(root + "/a") == checkpointFiles(root + "/b")
    #expect(same, "the compressed corpus trained differently")
  }

  @Test func corpusStreamSeparatesDocumentsWithEnd() throws {
    let corpus = TokenCorpus(documents: ["ab", "", "c"], source: "test")
    let end = Tokenizer.Special.end.rawValue
    #expect(corpus.tokens == [97, 98, end, end, 99, end])
    #expect(corpus.documentCount == 3)
    var random = SeededRandom(seed: 1)
    let batch = try corpus.sampleBatch(batchSize: 50, sequenceLength: 5, random: &random)
    #expect(batch.allSatisfy { $0 == corpus.tokens })
    #expect(TokenCorpus(documents: ["ab", "c"], source: "x").fingerprint != corpus.fingerprint)
  }
}
