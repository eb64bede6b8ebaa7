import Foundation
import HindcastSupport

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One parsed HTTP/1.1 request.
public struct HTTPRequest: Sendable {
  public var method: String
  /// The request target without its query string, e.g. `/v1/completions`.
  public var path: String
  /// Header names lower-cased.
  public var headers: [String: String]
  public var body: [UInt8]
}

/// One HTTP response; always sent with `Connection: close`.
public struct HTTPResponse: Sendable {
  public var status: Int
  public var contentType: String
  public var body: [UInt8]

  public init(status: Int, contentType: String = "application/json", body: [UInt8]) {
    self.status = status
    self.contentType = contentType
    self.body = body
  }

  /// A JSON response of `value` (keys sorted).
  public static func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
    HTTPResponse(status: status, body: Array((value.jsonText ?? "{}").utf8))
  }

  /// An error in the OpenAI layout: `{"error": {"message", "type", "code"}}`.
  public static func error(_ status: Int, _ message: String, type: String = "invalid_request_error")
    -> HTTPResponse
  {
    json(
      ["error": ["message": .string(message), "type": .string(type), "code": .number(Double(status))]],
      status: status)
  }
}

/// A small blocking HTTP/1.1 server over POSIX sockets for loopback serving.
///
/// One thread accepts connections and hands them to `concurrency` worker threads through a queue
/// of at most `maxQueued` connections; when the queue is full the accept thread answers 503 at
/// once. Each connection carries one request (`Connection: close`). Bodies need `Content-Length`
/// (no chunked uploads) and at most `maxBodyBytes`; a client that stalls for `readTimeout`
/// seconds is dropped. The handler is called from several threads at once and must be thread-safe.
public final class HTTPServer: @unchecked Sendable {
  public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

  /// The port the server listens on (the kernel's choice when 0 was asked for).
  public let port: UInt16
  public let host: String
  let listener: Int32
  let handler: Handler
  let concurrency: Int
  let maxQueued: Int
  let maxBodyBytes: Int
  let readTimeout: Int
  let condition = NSCondition()
  var pending: [Int32] = []
  var stopped = false
  var threads: [Thread] = []

  /// Binds and listens on `host:port` (an IPv4 address; port 0 picks a free port). Throws
  /// `.ioFailure` naming the address when it cannot.
  public init(
    host: String = "127.0.0.1", port: UInt16, concurrency: Int = 4, maxQueued: Int = 64,
    maxBodyBytes: Int = 16 << 20, readTimeout: Int = 30, handler: @escaping Handler
  ) throws {
    guard concurrency >= 1 else {
      throw HindcastError(.invalidConfig, "concurrency must be at least 1; got \(concurrency)")
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
      throw HindcastError(
        .invalidInput, "'\(host)' is not an IPv4 address", hint: "use 127.0.0.1 (loopback) or 0.0.0.0")
    }
    #if canImport(Glibc)
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
      let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw HindcastError(.ioFailure, "socket() failed: errno \(errno)") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard bound == 0, listen(fd, 128) == 0 else {
      let code = errno
      close(fd)
      throw HindcastError(
        .ioFailure, "cannot listen on \(host):\(port): \(String(cString: strerror(code)))",
        hint: "pick another --port (0 chooses a free one)")
    }
    var actual = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &actual) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    self.port = UInt16(bigEndian: actual.sin_port)
    self.host = host
    self.listener = fd
    self.handler = handler
    self.concurrency = concurrency
    self.maxQueued = maxQueued
    self.maxBodyBytes = maxBodyBytes
    self.readTimeout = readTimeout
  }

  /// Starts the accept thread and the workers; returns at once.
  public func start() {
    for _ in 0..<concurrency {
      let worker = Thread { [self] in workLoop() }
      worker.start()
      threads.append(worker)
    }
    let acceptor = Thread { [self] in acceptLoop() }
    acceptor.start()
    threads.append(acceptor)
  }

  /// Stops accepting; workers finish the request they are serving and exit.
  public func stop() {
    condition.lock()
    stopped = true
    let queued = pending
    pending = []
    condition.broadcast()
    condition.unlock()
    for fd in queued { close(fd) }
    shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
  }

  func acceptLoop() {
    while true {
      let client = accept(listener, nil, nil)
      if client < 0 {
        condition.lock()
        let done = stopped
        condition.unlock()
        if done { return }
        if errno == EINTR || errno == ECONNABORTED { continue }
        return
      }
      var timeout = timeval(tv_sec: readTimeout, tv_usec: 0)
      setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      condition.lock()
      if stopped {
        condition.unlock()
        close(client)
        return
      }
      if pending.count >= maxQueued {
        condition.unlock()
        Self.send(
          .error(503, "server busy: \(maxQueued) requests are waiting; retry later", type: "overloaded"),
          to: client)
        close(client)
        continue
      }
      pending.append(client)
      condition.signal()
      condition.unlock()
    }
  }

  func workLoop() {
    while true {
      condition.lock()
      while pending.isEmpty && !stopped { condition.wait() }
      if stopped && pending.isEmpty {
        condition.unlock()
        return
      }
      let client = pending.removeFirst()
      condition.unlock()
      serve(client)
      close(client)
    }
  }

  func serve(_ client: Int32) {
    switch readRequest(client) {
    case .failure(let failure): Self.send(failure.response, to: client)
    case .success(let request): Self.send(handler(request), to: client)
    }
  }

  /// Reads one request; a malformed one becomes the 4xx response to send.
  func readRequest(_ client: Int32) -> Result<HTTPRequest, HTTPFailure> {
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    var headerEnd: Int?
    while headerEnd == nil {
      let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
      if count <= 0 {
        return .failure(HTTPFailure(.error(400, "connection closed before the request ended")))
      }
      buffer.append(contentsOf: chunk[0..<count])
      headerEnd = Self.find([13, 10, 13, 10], in: buffer)
      if headerEnd == nil && buffer.count > 65536 {
        return .failure(HTTPFailure(.error(431, "request headers exceed 64 KiB")))
      }
    }
    guard let headerEnd else { return .failure(HTTPFailure(.error(400, "no request headers"))) }
    let head = String(decoding: buffer[0..<headerEnd], as: UTF8.self)
    var lines = head.components(separatedBy: "\r\n")
    let requestLine = lines.removeFirst().split(separator: " ")
    guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
      return .failure(HTTPFailure(.error(400, "malformed request line")))
    }
    var headers: [String: String] = [:]
    for line in lines where !line.isEmpty {
      guard let colon = line.firstIndex(of: ":") else {
        return .failure(HTTPFailure(.error(400, "malformed header line '\(line.prefix(80))'")))
      }
      headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
        in: .whitespaces)
    }
    if let encoding = headers["transfer-encoding"], encoding.lowercased() != "identity" {
      return .failure(
        HTTPFailure(.error(411, "chunked request bodies are not supported; send Content-Length")))
    }
    let length: Int
    if let text = headers["content-length"] {
      guard let value = Int(text), value >= 0 else {
        return .failure(HTTPFailure(.error(400, "Content-Length '\(text)' is not a byte count")))
      }
      length = value
    } else {
      length = 0
    }
    guard length <= maxBodyBytes else {
      return .failure(HTTPFailure(.error(413, "request body of \(length) bytes exceeds \(maxBodyBytes)")))
    }
    var body = Array(buffer[(headerEnd + 4)...])
    while body.count < length {
      let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
      if count <= 0 {
        return .failure(HTTPFailure(.error(400, "request body ended after \(body.count) of \(length) bytes")))
      }
      body.append(contentsOf: chunk[0..<count])
    }
    if body.count > length { body.removeLast(body.count - length) }
    var target = String(requestLine[1])
    if let query = target.firstIndex(of: "?") { target = String(target[..<query]) }
    return .success(HTTPRequest(method: String(requestLine[0]), path: target, headers: headers, body: body))
  }

  static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
      if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
    }
    return nil
  }

  static func send(_ response: HTTPResponse, to client: Int32) {
    let reason = reasons[response.status] ?? "Status"
    let head =
      "HTTP/1.1 \(response.status) \(reason)\r\nContent-Type: \(response.contentType)\r\n"
      + "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
    var bytes = Array(head.utf8)
    bytes.append(contentsOf: response.body)
    var offset = 0
    while offset < bytes.count {
      let sent = bytes[offset...].withUnsafeBytes {
        Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      if sent <= 0 { return }
      offset += sent
    }
  }

  static let reasons: [Int: String] = [
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
    413: "Payload Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable",
  ]
}

/// A request that could not be read, with the response that says why.
struct HTTPFailure: Error {
  var response: HTTPResponse
  init(_ response: HTTPResponse) { self.response = response }
}
