import Dispatch
import Foundation

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

extension ParallelWork {
  /// State shared between the producer threads and the consumer of `pipeline`. Each slot is
  /// written by exactly one producer before its semaphore is signalled and read by the consumer
  /// only after waiting on it, which orders the accesses.
  private final class Pipeline<Value>: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<Swift.Result<Value, Error>?>
    let ready: [DispatchSemaphore]
    let finished = DispatchGroup()
    /// Cleared once every producer has finished, so that nothing refers to the closure after
    /// `pipeline` returns (it is only borrowed, through `withoutActuallyEscaping`).
    var produce: ((Int) throws -> Value)?

    init(count: Int, produce: @escaping (Int) throws -> Value) {
      slots = .allocate(capacity: count)
      slots.initialize(repeating: nil)
      ready = (0..<count).map { _ in DispatchSemaphore(value: 0) }
      self.produce = produce
    }

    deinit {
      slots.deinitialize()
      slots.deallocate()
    }

    func run(producer: Int, of producers: Int) {
      var index = producer
      while index < slots.count {
        if let produce {
          slots[index] = Swift.Result { try produce(index) }
        }
        ready[index].signal()
        index += producers
      }
      finished.leave()
    }
  }

  /// Produces results for `0..<count` on `threads - 1` background threads and hands each to
  /// `consume` on the calling thread in index order as soon as it is ready, so producing (for
  /// example decoding) overlaps consuming (folding). With `threads` ≤ 1 everything runs inline.
  /// Returns only after every background thread has finished; rethrows the first error in
  /// index order (later results are then discarded).
  static func pipeline<Value>(
    count: Int, threads: Int, produce: (Int) throws -> Value, consume: (Int, Value) throws -> Void
  ) throws {
    guard threads > 1 && count > 1 else {
      for index in 0..<count { try consume(index, try produce(index)) }
      return
    }
    let producers = min(threads - 1, count)
    try withoutActuallyEscaping(produce) { produce in
      let shared = Pipeline(count: count, produce: produce)
      defer {
        shared.finished.wait()
        shared.produce = nil
      }
      for producer in 0..<producers {
        shared.finished.enter()
        Thread { shared.run(producer: producer, of: producers) }.start()
      }
      for index in 0..<count {
        shared.ready[index].wait()
        guard let slot = shared.slots[index] else { continue }
        shared.slots[index] = nil
        try consume(index, try slot.get())
      }
    }
  }
}
