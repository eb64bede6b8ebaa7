import Synchronization
import Testing

@testable import HindcastKernels

/// The spin pool runs every part of every job exactly once, whatever the interleaving: jobs of
/// different sizes follow each other back to back, so a worker that still holds an old job's
/// generation meets a newer job's part count (the case that once ran a part past a job's end).
@Suite struct SpinPoolTests {
  @Test func everyPartOfEveryJobRunsExactlyOnce() {
    let pool = SpinPool.shared
    let sizes = [2, 97, 3, 64, 5, 128, 2, 31]
    let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: 128)
    defer { counts.deallocate() }
    var failures = 0
    for job in 0..<20_000 {
      let parts = sizes[job % sizes.count]
      counts.initialize(repeating: 0)
      pool.run(parts: parts) { part, _ in
        // Each part writes only its own slot (the pool's contract), so no lock is needed.
        counts[part] += 1
        // A little work, so the worker takes part in the job.
        var x = UInt64(part)
        for _ in 0..<(part % 3 == 0 ? 400 : 20) { x = x &* 6_364_136_223_846_793_005 &+ 1 }
        if x == 42 { counts[part] += 1 }
      }
      for part in 0..<128 where counts[part] != (part < parts ? 1 : 0) { failures += 1 }
    }
    #expect(failures == 0)
    #expect(pool.width == 2)
  }

  @Test func ticketFieldsRoundTrip() {
    let value = SpinPool.Ticket.make(generation: (1 << 28) + 5, parts: 1000, next: 17)
    #expect(SpinPool.Ticket.generation(value) == 5)
    #expect(SpinPool.Ticket.parts(value) == 1000)
    #expect(SpinPool.Ticket.next(value) == 17)
  }
}
