import Foundation
import HindcastModel
import HindcastServe
import HindcastSupport
import Testing

/// A tiny random model served on a free loopback port for the length of one test.
final class ServedModel {
  let model: Transformer
  let server: HTTPServer
  let name = "tiny-test"
  var baseURL: String { "http://127.0.0.1:\(server.port)" }

  init(seed: UInt64 = 5) throws {
    model = try Transformer(
      config: ModelConfig(contextLength: 64, layers: 2, width: 32, heads: 4), seed: seed)
    let service = CompletionService(model: model, modelName: name)
    server = try HTTPServer(port: 0, concurrency: 2, handler: { service.handle($0) })
    server.start()
  }

  deinit { server.stop() }
}

/// The repository's root (for scripts/), from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().path

/// Runs `python3 script arguments...` and returns its standard output; fails the test with the
/// script's standard error when it exits non-zero (a missing `openai` package says so).
func runPython(_ script: String, _ arguments: [String]) throws -> String {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = ["python3", repositoryRoot + "/" + script] + arguments
  let errorPath = NSTemporaryDirectory() + "hindcast-py-\(UUID().uuidString)"
  _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
  defer { try? FileManager.default.removeItem(atPath: errorPath) }
  let output = Pipe()
  process.standardOutput = output
  process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
  try process.run()
  let data = output.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let errorText = String(decoding: FileManager.default.contents(atPath: errorPath) ?? Data(), as: UTF8.self)
  try #require(
    process.terminationStatus == 0,
    "python3 \(script) failed (status \(process.terminationStatus)); run scripts/bootstrap.sh --test:\n\(errorText)"
  )
  return String(decoding: data, as: UTF8.self)
}

@Suite struct ServeOpenAIClientTests {
  @Test func officialClientGetsTheEmbeddedSamplerAndScorerResults() throws {
    let served = try ServedModel()
    let text = try runPython("scripts/llm/openai_client_check.py", [served.baseURL + "/v1"])
    let out = try JSONValue(parsing: Array(text.utf8))
    #expect(out["models"] == ["tiny-test"])

    // Seeded sampling equals Sampler.sample with the same seed (choice i*n+j = prompt i, sample j).
    let prompts = ["<task>12+7<answer>", "<task>3+4<answer>"]
    let settings = SamplingSettings(temperature: 0.8, topP: 0.95, maxNewTokens: 12, returnTopK: 3)
    let expected = try Sampler.sample(
      model: served.model,
      request: SampleRequest(prompts: prompts, settings: settings, seed: 42, samplesPerPrompt: 2))
    let sampled = try #require(out["sampled"]?.arrayValue)
    #expect(sampled.count == 4)
    var generatedTokens = 0
    for (index, choice) in sampled.enumerated() {
      let reference = expected[index]
      #expect(reference.promptIndex == index / 2 && reference.sampleIndex == index % 2)
      let ids = try #require(choice["token_ids"]?.arrayValue).compactMap(\.intValue).map(Int32.init)
      // A stop string "9" cuts the text before it and keeps the tokens through the one that completed it.
      if let nine = reference.text.firstIndex(of: "9") {
        #expect(choice["finish_reason"] == "stop")
        #expect(choice["text"]?.stringValue == String(reference.text[..<nine]))
        #expect(Array(reference.tokens.prefix(ids.count)) == ids)
        #expect(ids.last == Int32(UInt8(ascii: "9")))
      } else {
        #expect(choice["text"]?.stringValue == reference.text)
        #expect(ids == reference.tokens)
        #expect(choice["finish_reason"]?.stringValue == (reference.finish == .stop ? "stop" : "length"))
      }
      let logprobs = try #require(choice["logprobs"]?["token_logprobs"]?.arrayValue).compactMap(\.doubleValue)
      #expect(logprobs.count == ids.count)
      for (got, want) in zip(logprobs, reference.logprobs) { #expect(abs(got - Double(want)) < 1e-6) }
      #expect(choice["logprobs"]?["top_logprobs"]?[0]?.objectValue?.count == 3)
      generatedTokens += ids.count
    }

    // Echo scoring equals Scorer on the same tokens; the first prompt token has no log-prob.
    let scoredTokens = Tokenizer.encodeMarked("<task>12+7<answer>19<end>")
    let reference = try Scorer.score(
      model: served.model, prompts: [[scoredTokens[0]]], continuations: [Array(scoredTokens.dropFirst())],
      topK: 2)[0]
    let scored = try #require(out["scored"])
    #expect(scored["text"] == "<task>12+7<answer>19<end>")
    let echoed = try #require(scored["logprobs"]?["token_logprobs"]?.arrayValue)
    #expect(echoed.count == scoredTokens.count)
    #expect(echoed[0] == .null)
    for (got, want) in zip(echoed.dropFirst(), reference.logprobs) {
      #expect(abs((got.doubleValue ?? .nan) - Double(want)) < 1e-6)
    }
    let promptLogprobs = try #require(scored["prompt_logprobs"]?.arrayValue)
    #expect(promptLogprobs.count == scoredTokens.count && promptLogprobs[0] == .null)
    for (i, entry) in promptLogprobs.dropFirst().enumerated() {
      let own = entry[String(scoredTokens[i + 1])]?["logprob"]?.doubleValue
      #expect(abs((own ?? .nan) - Double(reference.logprobs[i])) < 1e-6)
    }
    #expect(scored["prompt_token_ids"]?.arrayValue?.compactMap(\.intValue) == scoredTokens.map { Int($0) })

    // A prompt given as token ids: greedy, the same as the sampler's greedy continuation.
    let greedy = try Sampler.generate(
      model: served.model, prompts: [[256, 49, 43, 50, 261]], settings: .greedy(maxNewTokens: 4), seeds: [0])[
        0]
    #expect(out["ids"]?["token_ids"]?.arrayValue?.compactMap(\.intValue) == greedy.tokens.map { Int($0) })

    // Bad requests: 400 (404 for an unknown model) with an OpenAI error body naming the field.
    let bad = try #require(out["bad"]?.arrayValue)
    let statuses = bad.compactMap { $0["status"]?.intValue }
    #expect(statuses == [400, 400, 400, 400, 400, 400, 404])
    let params = bad.map { $0["body"]?["param"]?.stringValue }
    #expect(params == ["n", "temperature", "logprobs", "prompt", "stop", "wrong_field", "model"])
  }

  @Test func malformedHTTPGetsA4xxJSONError() throws {
    let served = try ServedModel()
    func raw(_ request: String) throws -> String {
      let handle = try connect(port: served.server.port)
      defer { close(handle) }
      _ = request.withCString { send(handle, $0, strlen($0), 0) }
      var reply: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 4096)
      while true {
        let count = buffer.withUnsafeMutableBytes { recv(handle, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        reply += buffer[0..<count]
      }
      return String(decoding: reply, as: UTF8.self)
    }
    let notJSON = try raw("POST /v1/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    #expect(notJSON.hasPrefix("HTTP/1.1 400"))
    #expect(notJSON.contains("not valid JSON"))
    let chunked = try raw("POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    #expect(chunked.hasPrefix("HTTP/1.1 411"))
    let missing = try raw("GET /nowhere HTTP/1.1\r\n\r\n")
    #expect(missing.hasPrefix("HTTP/1.1 404"))
    let health = try raw("GET /health HTTP/1.1\r\n\r\n")
    #expect(health.hasPrefix("HTTP/1.1 200") && health.contains("\"status\":\"ok\""))
  }
}

/// A blocking TCP connection to 127.0.0.1:port.
func connect(port: UInt16) throws -> Int32 {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = port.bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let result = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  try #require(result == 0, "cannot connect to 127.0.0.1:\(port)")
  return fd
}
