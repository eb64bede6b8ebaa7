import Foundation
import HindcastModel
import HindcastSupport
import Testing

/// Validation and JSON form of `SamplingSettings`, text prompts and the text-level request.
@Suite struct SamplerSettingsTests {
  typealias F = SamplerFixtures

  static func rejection(_ settings: SamplingSettings) -> HindcastError? {
    do {
      try settings.validate(vocabSize: 264)
      return nil
    } catch let error as HindcastError {
      return error
    } catch {
      return nil
    }
  }

  @Test(arguments: [
    (SamplingSettings(temperature: -1), "temperature"),
    (SamplingSettings(temperature: .nan), "temperature"),
    (SamplingSettings(temperature: 1e-6), "temperature"),
    (SamplingSettings(topK: 0), "top_k"),
    (SamplingSettings(topP: 0), "top_p"),
    (SamplingSettings(topP: 1.5), "top_p"),
    (SamplingSettings(maxNewTokens: 0), "max_new_tokens"),
    (SamplingSettings(stopTokens: [264]), "stop_tokens"),
    (SamplingSettings(stopTokens: [-1]), "stop_tokens"),
    (SamplingSettings(returnTopK: 0), "return_top_k"),
    (SamplingSettings(returnTopK: 265), "return_top_k"),
  ])
  func invalidSettingsNameTheirField(settings: SamplingSettings, field: String) throws {
    let error = try #require(Self.rejection(settings))
    #expect(error.code == .invalidConfig)
    #expect(error.message.contains("'\(field)'"), "\(error.message)")
  }

  @Test func validSettingsPass() throws {
    for settings in [
      SamplingSettings(), SamplingSettings.greedy(), SamplingSettings(temperature: 0.001, topK: 1, topP: 1),
      SamplingSettings(maxNewTokens: 1, stopTokens: [], returnTopK: 264),
    ] {
      #expect(Self.rejection(settings) == nil)
    }
  }

  @Test func generateRejectsInvalidSettings() throws {
    let model = try F.model()
    #expect(throws: HindcastError.self) {
      try Sampler.generate(model: model, prompts: [[1]], settings: SamplingSettings(topP: 2), seeds: [0])
    }
    #expect(throws: HindcastError.self) {
      try Sampler.generate(model: model, prompts: [[1], [2]], settings: SamplingSettings(), seeds: [0])
    }
  }

  @Test func jsonRoundTripDefaultsAndUnknownKeys() throws {
    let settings = SamplingSettings(
      temperature: 0.8, topK: 5, topP: 0.9, maxNewTokens: 7, stopTokens: [10], returnTopK: 3)
    let data = try JSONEncoder().encode(settings)
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("\"max_new_tokens\":7"))
    #expect(try JSONDecoder().decode(SamplingSettings.self, from: data) == settings)
    let partial = try JSONDecoder().decode(SamplingSettings.self, from: Data(#"{"temperature": 0}"#.utf8))
    #expect(partial == SamplingSettings(temperature: 0))
    #expect(partial.stopTokens == [Tokenizer.Special.end.rawValue])
    #expect(throws: DecodingError.self) {
      try JSONDecoder().decode(SamplingSettings.self, from: Data(#"{"temprature": 0.5}"#.utf8))
    }
  }

  @Test func markedTextEncodesSegmentMarkers() {
    let text = "<task>12+7=<answer>19<end> <tas <bad>"
    let tokens = Tokenizer.encodeMarked(text)
    #expect(tokens.first == Tokenizer.Special.task.rawValue)
    #expect(tokens.filter { $0 >= 256 } == [256, 261, 262])
    #expect(Tokenizer.decode(tokens) == text)
  }

  @Test func textSamplesAreSeededPerPromptAndSample() throws {
    let model = try F.model()
    let settings = SamplingSettings(temperature: 1, maxNewTokens: 6, stopTokens: Array(0..<100))
    let request = SampleRequest(prompts: ["<task>hi", "x"], settings: settings, seed: 3, samplesPerPrompt: 3)
    let samples = try Sampler.sample(model: model, request: request)
    #expect(samples.map(\.promptIndex) == [0, 0, 0, 1, 1, 1])
    #expect(samples.map(\.sampleIndex) == [0, 1, 2, 0, 1, 2])
    // Other batching: same tokens and text (log-probabilities may differ in the last bits).
    let again = try Sampler.sample(model: model, request: request, maxBatch: 2)
    #expect(again.map(\.tokens) == samples.map(\.tokens))
    #expect(again.map(\.text) == samples.map(\.text))
    #expect(samples.contains { $0.finish == .stop })
    for sample in samples {
      #expect(sample.logprobs.count == sample.tokens.count)
      var shown = sample.tokens
      if sample.finish == .stop {
        #expect((sample.tokens.last ?? 999) < 100)
        shown.removeLast()
      }
      #expect(sample.text == Tokenizer.decode(shown))
    }
    let texts = try Sampler.sampleText(model: model, prompts: ["<task>hi", "x"], settings: settings, seed: 3)
    #expect(texts == [samples[0].text, samples[3].text])
    #expect(throws: HindcastError.self) {
      try Sampler.sample(
        model: model, request: SampleRequest(prompts: ["x"], settings: settings, seed: 0, samplesPerPrompt: 0)
      )
    }
  }

  @Test func decodeBenchmarkReportsBothPhases() throws {
    let model = try F.model()
    let result = try DecodeBenchmark.run(
      model: model, batch: 2, promptLength: 4, newTokens: 6, repetitions: 1)
    #expect(result.batch == 2 && result.newTokens == 6)
    #expect(result.decodeTokensPerSecond > 0 && result.decodeTokensPerSecond.isFinite)
    #expect(result.prefillTokensPerSecond > 0 && result.prefillTokensPerSecond.isFinite)
    #expect(throws: HindcastError.self) {
      try DecodeBenchmark.run(model: model, batch: 1, promptLength: 20, newTokens: 10)
    }
  }
}
