import Dispatch

/// Runs independent pieces of work on a fixed number of threads and returns their results in
/// order. The thread count is the caller's (no global pool size is assumed).
enum ParallelWork {
  /// Calls `body(index)` for every index in `0..<count`, on up to `threads` threads at once.
  /// Rethrows the error of the lowest failing index.
  static func map<Result>(count: Int, threads: Int, _ body: (Int) throws -> Result) throws -> [Result] {
    if threads <= 1 || count <= 1 {
      return try (0..<count).map(body)
    }
    let slots = UnsafeMutableBufferPointer<Swift.Result<Result, Error>?>.allocate(capacity: count)
    slots.initialize(repeating: nil)
    defer {
      slots.deinitialize()
      slots.deallocate()
    }
    let workers = min(threads, count)
    withoutActuallyEscaping(body) { body in
      DispatchQueue.concurrentPerform(iterations: workers) { worker in
        var index = worker
        while index < count {
          slots[index] = Swift.Result { try body(index) }
          index += workers
        }
      }
    }
    var results: [Result] = []
    results.reserveCapacity(count)
    for slot in slots {
      guard let slot else { continue }
      results.append(try slot.get())
    }
    return results
  }
}
