import Foundation
import HindcastModel
import HindcastRemote
import HindcastServe
import HindcastSupport
import Testing

/// Counts requests and answers the first `failures` with `status` (or stalls), then passes on.
final class FaultInjector: @unchecked Sendable {
  let lock = NSLock()
  var seen = 0
  let failures: Int
  let status: Int
  let stallSeconds: Double

  init(failures: Int, status: Int, stallSeconds: Double = 0) {
    self.failures = failures
    self.status = status
    self.stallSeconds = stallSeconds
  }

  func handle(_ request: HTTPRequest, passTo service: CompletionService) -> HTTPResponse {
    let index: Int = lock.withLock {
      seen += 1
      return seen
    }
    if index <= failures {
      if stallSeconds > 0 { Thread.sleep(forTimeInterval: stallSeconds) }
      return .error(status, "injected fault \(index)", type: "server_error")
    }
    return service.handle(request)
  }
}

@Suite struct RemotePolicyTests {
  func endpoint(_ port: UInt16, retries: Int = 3, timeout: Double = 30) -> RemoteEndpoint {
    RemoteEndpoint(
      baseURL: "http://127.0.0.1:\(port)/v1", concurrency: 3, timeoutSeconds: timeout, maxRetries: retries,
      backoffSeconds: 0.01)
  }

  @Test func samplesAndScoresLikeTheEmbeddedModel() throws {
    let served = try ServedModel()
    let remote = try RemoteModel(endpoint: endpoint(served.server.port), context: "stage test")
    #expect(remote.capabilities.server == "hindcast")
    #expect(remote.capabilities.model == served.name)
    #expect(remote.capabilities.contextLength == 64)
    #expect(remote.capabilities.scoring == .promptLogprobs)
    #expect(remote.capabilities.tokenize)
    #expect(try remote.tokenize("<task>1+2<answer>") == Tokenizer.encodeMarked("<task>1+2<answer>"))

    let prompts = ["<task>12+7<answer>", "<task>40+2<answer>", "<task>9+9<answer>"].map(
      Tokenizer.encodeMarked)
    // Sampled: sequence i sends seed seeds[i] & 0x7fffffff; the server draws choice 0 of prompt 0
    // with derive(seed, [0, 0]).
    let settings = SamplingSettings(temperature: 0.9, topP: 0.9, maxNewTokens: 10, returnTopK: 2)
    let seeds: [UInt64] = [11, 0xFFFF_FFFF_0000_0007, 99]
    let got = try remote.generate(prompts: prompts, settings: settings, seeds: seeds)
    let want = try Sampler.generate(
      model: served.model, prompts: prompts, settings: settings,
      seeds: seeds.map { SeedDerivation.derive($0 & 0x7fff_ffff, [0, 0]) })
    #expect(got.map(\.tokens) == want.map(\.tokens))
    #expect(got.map(\.finish) == want.map(\.finish))
    for (g, w) in zip(got, want) {
      for (a, b) in zip(g.logprobs, w.logprobs) { #expect(abs(a - b) < 1e-6) }
      #expect(g.topK?.map { $0.map(\.token) } == w.topK?.map { $0.map(\.token) })
    }
    let again = try remote.generate(prompts: prompts, settings: settings, seeds: seeds)
    #expect(again == got)

    // Scoring through echo + prompt_logprobs equals the embedded scorer, top-k ids included.
    let continuations = ["19<end>", "42<end>", "18<end>"].map(Tokenizer.encode)
    let scored = try remote.score(prompts: prompts, continuations: continuations, topK: 3)
    let reference = try Scorer.score(
      model: served.model, prompts: prompts, continuations: continuations, topK: 3)
    for (s, r) in zip(scored, reference) {
      #expect(s.logprobs.count == r.logprobs.count)
      for (a, b) in zip(s.logprobs, r.logprobs) { #expect(abs(a - b) < 1e-5) }
      #expect(s.topK?.map { $0.map(\.token) } == r.topK?.map { $0.map(\.token) })
    }
    #expect(remote.client.retries == 0)
  }

  @Test func retriesRateLimitsAndServerErrorsThenSucceeds() throws {
    let served = try ServedModel()
    let service = CompletionService(model: served.model, modelName: served.name)
    for status in [429, 500, 503] {
      let faults = FaultInjector(failures: 2, status: status)
      let flaky = try HTTPServer(port: 0, concurrency: 2, handler: { faults.handle($0, passTo: service) })
      flaky.start()
      defer { flaky.stop() }
      let remote = try RemoteModel(endpoint: endpoint(flaky.port), context: "stage rollout")
      #expect(remote.client.retries == 2)
      #expect(remote.capabilities.model == served.name)
    }
  }

  @Test func failsNamingURLAndStageAfterTheRetryLimit() throws {
    let served = try ServedModel()
    let service = CompletionService(model: served.model, modelName: served.name)
    let broken = FaultInjector(failures: 1000, status: 500)
    let server = try HTTPServer(port: 0, concurrency: 2, handler: { broken.handle($0, passTo: service) })
    server.start()
    defer { server.stop() }
    let error = try #require(throws: HindcastError.self) {
      _ = try RemoteModel(endpoint: endpoint(server.port, retries: 2), context: "stage rewrite")
    }
    #expect(error.code == .ioFailure)
    #expect(error.message.contains("stage rewrite"))
    #expect(error.message.contains("http://127.0.0.1:\(server.port)/v1/models"))
    #expect(error.message.contains("after 3 attempts"))
    #expect(broken.seen == 3)

    // A 4xx other than 429 is not retried.
    let refusing = FaultInjector(failures: 1000, status: 400)
    let strict = try HTTPServer(port: 0, concurrency: 2, handler: { refusing.handle($0, passTo: service) })
    strict.start()
    defer { strict.stop() }
    #expect(throws: HindcastError.self) {
      _ = try RemoteModel(endpoint: endpoint(strict.port), context: "stage eval")
    }
    #expect(refusing.seen == 1)
  }

  @Test func timeoutsAndRefusedConnectionsAreRetriedThenFail() throws {
    let served = try ServedModel()
    let service = CompletionService(model: served.model, modelName: served.name)
    // The first request stalls far past the client's timeout; a retry is answered at once. The
    // timeout leaves room for a loaded machine (with 0.5 s, CI once saw every retry time out
    // while the full suite ran in parallel).
    let stalling = FaultInjector(failures: 1, status: 500, stallSeconds: 8)
    let slow = try HTTPServer(port: 0, concurrency: 2, handler: { stalling.handle($0, passTo: service) })
    slow.start()
    defer { slow.stop() }
    let remote = try RemoteModel(
      endpoint: endpoint(slow.port, retries: 4, timeout: 2.5), context: "stage rollout")
    #expect(remote.client.retries >= 1)

    // Nothing listens on a stopped server's port: connection refused, retried, then an error.
    let gone = try HTTPServer(port: 0, handler: { _ in .error(500, "unused") })
    let port = gone.port
    gone.stop()
    let error = try #require(throws: HindcastError.self) {
      _ = try RemoteModel(endpoint: endpoint(port, retries: 1), context: "stage rollout")
    }
    #expect(error.message.contains("stage rollout") && error.message.contains("127.0.0.1:\(port)"))
  }
}
