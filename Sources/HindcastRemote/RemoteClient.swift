import Foundation
import HindcastSupport

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// Where a remote OpenAI-compatible server is and how to talk to it.
public struct RemoteEndpoint: Codable, Sendable, Equatable {
  /// The OpenAI base URL, ending in `/v1` (for example `http://127.0.0.1:8080/v1`). Routes outside
  /// the OpenAI API (`/tokenize`, `/completion`, `/health`) are taken relative to the server root,
  /// the base URL without its trailing `/v1`.
  public var baseURL: String
  /// The model to ask for; nil takes the first one `/v1/models` lists.
  public var model: String?
  /// The API key sent as `Authorization: Bearer`, if any (read from an environment variable by the caller).
  public var apiKey: String?
  /// Requests in flight at once.
  public var concurrency: Int
  /// Seconds one request may take before it counts as timed out (and is retried).
  public var timeoutSeconds: Double
  /// Retries of one request after a connection failure, timeout, 429 or 5xx; then the call fails.
  public var maxRetries: Int
  /// The first retry waits this long; each further one twice as long (capped at 30 s).
  public var backoffSeconds: Double

  public init(
    baseURL: String, model: String? = nil, apiKey: String? = nil, concurrency: Int = 4,
    timeoutSeconds: Double = 120, maxRetries: Int = 5, backoffSeconds: Double = 0.5
  ) {
    self.baseURL = baseURL
    self.model = model
    self.apiKey = apiKey
    self.concurrency = concurrency
    self.timeoutSeconds = timeoutSeconds
    self.maxRetries = maxRetries
    self.backoffSeconds = backoffSeconds
  }

  /// The server root: the base URL without a trailing `/` or `/v1`.
  public var rootURL: String {
    var root = baseURL
    while root.hasSuffix("/") { root.removeLast() }
    if root.hasSuffix("/v1") { root.removeLast(3) }
    return root
  }

  var openAIURL: String {
    var base = baseURL
    while base.hasSuffix("/") { base.removeLast() }
    return base.hasSuffix("/v1") ? base : base + "/v1"
  }
}

/// A blocking JSON-over-HTTP client with retries, safe to call from several threads.
///
/// Connection failures (refused, reset, timed out), HTTP 429 and 5xx are retried up to
/// `maxRetries` times with exponential backoff; other 4xx answers fail at once with the server's
/// message. Every failure is a `HindcastError(.ioFailure)` naming the method, the URL and the
/// stage (`context`), so a failed unit can be rerun to resume.
public final class RemoteClient: @unchecked Sendable {
  public let endpoint: RemoteEndpoint
  /// What the errors name as the caller, e.g. "stage rollout".
  public let context: String
  let session: URLSession
  let lock = NSLock()
  var retryCount = 0

  public init(endpoint: RemoteEndpoint, context: String) {
    self.endpoint = endpoint
    self.context = context
    let configuration = URLSessionConfiguration.ephemeral
    configuration.timeoutIntervalForRequest = endpoint.timeoutSeconds
    configuration.timeoutIntervalForResource = endpoint.timeoutSeconds
    configuration.httpMaximumConnectionsPerHost = max(1, endpoint.concurrency)
    session = URLSession(configuration: configuration)
  }

  /// Retries made so far by all calls of this client.
  public var retries: Int { lock.withLock { retryCount } }

  /// `POST` of JSON to an OpenAI route (`/completions` → `BASE/v1/completions`).
  public func postOpenAI(_ route: String, _ body: JSONValue) throws -> JSONValue {
    try send("POST", endpoint.openAIURL + route, body)
  }

  /// `GET` of an OpenAI route.
  public func getOpenAI(_ route: String) throws -> JSONValue {
    try send("GET", endpoint.openAIURL + route, nil)
  }

  /// `POST` to a route at the server root (`/tokenize`, `/completion`).
  public func postRoot(_ route: String, _ body: JSONValue) throws -> JSONValue {
    try send("POST", endpoint.rootURL + route, body)
  }

  /// Like `postRoot` but returns nil for 4xx answers and 5xx after retries are disabled: for
  /// capability probes, where "not supported" is an answer.
  func probe(_ method: String, _ url: String, _ body: JSONValue?) -> JSONValue? {
    guard case .success(let value) = attempt(method, url, body) else { return nil }
    return value
  }

  func send(_ method: String, _ url: String, _ body: JSONValue?) throws -> JSONValue {
    var delay = endpoint.backoffSeconds
    var lastProblem = ""
    for attemptIndex in 0...endpoint.maxRetries {
      if attemptIndex > 0 {
        lock.withLock { retryCount += 1 }
        Thread.sleep(forTimeInterval: delay)
        delay = min(delay * 2, 30)
      }
      switch attempt(method, url, body) {
      case .success(let value): return value
      case .failure(let failure):
        switch failure {
        case .transient(let problem): lastProblem = problem
        case .permanent(let problem):
          throw HindcastError(
            .ioFailure, "\(context): \(method) \(url) failed: \(problem)",
            hint: "the server refused the request; check [policy] (model, base_url) and the server's log")
        }
      }
    }
    throw HindcastError(
      .ioFailure,
      "\(context): \(method) \(url) failed after \(endpoint.maxRetries + 1) attempts: \(lastProblem)",
      hint: "check that the server is up (curl \(endpoint.rootURL)/health); nothing of this unit was "
        + "written, so running the stage again resumes it")
  }

  enum Failure: Error {
    case transient(String)
    case permanent(String)
  }

  func attempt(_ method: String, _ url: String, _ body: JSONValue?) -> Result<JSONValue, Failure> {
    guard let target = URL(string: url) else { return .failure(.permanent("'\(url)' is not a URL")) }
    var request = URLRequest(url: target, timeoutInterval: endpoint.timeoutSeconds)
    request.httpMethod = method
    if let body {
      guard let text = body.jsonText else { return .failure(.permanent("request body is not JSON")) }
      request.httpBody = Data(text.utf8)
      request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    }
    if let key = endpoint.apiKey { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var outcome: (Data?, URLResponse?, Error?) = (nil, nil, nil)
    let task = session.dataTask(with: request) { data, response, error in
      outcome = (data, response, error)
      done.signal()
    }
    task.resume()
    done.wait()
    let (data, response, error) = outcome
    if let error { return .failure(.transient("\(error.localizedDescription)")) }
    guard let http = response as? HTTPURLResponse else { return .failure(.transient("no HTTP response")) }
    let bytes = Array(data ?? Data())
    let status = http.statusCode
    if status == 429 || status >= 500 {
      return .failure(.transient("HTTP \(status) \(Self.message(bytes))"))
    }
    guard (200..<300).contains(status) else {
      return .failure(.permanent("HTTP \(status) \(Self.message(bytes))"))
    }
    guard let value = try? JSONValue(parsing: bytes) else {
      return .failure(
        .permanent(
          "the answer (HTTP \(status)) is not JSON: \(String(decoding: bytes.prefix(200), as: UTF8.self))"))
    }
    return .success(value)
  }

  /// The error message of an OpenAI- or llama.cpp-style error body, else its first bytes.
  static func message(_ bytes: [UInt8]) -> String {
    if let value = try? JSONValue(parsing: bytes), let message = value["error"]?["message"]?.stringValue {
      return message
    }
    return String(decoding: bytes.prefix(200), as: UTF8.self)
  }
}
