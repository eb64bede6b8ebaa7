import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A persistent pool of worker threads that spin between jobs, for fork-join work of a few
/// microseconds (one decode step issues ~25 such jobs; a wake-up through the kernel costs ~10 us).
///
/// `run(parts:_:)` calls `body(part, participant)` for every part in `0..<parts` and returns when
/// all are done; the participants (the calling thread and the workers) claim parts one at a time.
/// Results never depend on timing as long as each part's output depends only on the part (see
/// `run`). When the pool is in use by another thread, the caller runs every part itself.
///
/// Idle workers spin (about 50 us), then yield for a while, then sleep on a condition variable until
/// the next job. Callers that issue BLAS calls from parts must keep OpenBLAS single-threaded
/// meanwhile (`BLASThreads.withSingleThreaded`): concurrent multi-threaded OpenBLAS calls can
/// deadlock.
public final class SpinPool: @unchecked Sendable {
  /// The process-wide pool: the calling thread plus one worker (this machine class has 2 cores).
  public static let shared = SpinPool(width: 2)

  /// Participants of a job, the calling thread included (1 plus the workers actually started).
  public private(set) var width: Int

  private let generation = Atomic<Int>(0)
  /// One word, so a claim sees a consistent job: generation (low `generationBits` bits), the
  /// job's part count and the next unclaimed part (`Ticket`).
  private let ticket = Atomic<Int>(0)
  private let completed = Atomic<Int>(0)
  private let sleepers = Atomic<Int>(0)
  private let inUse = Atomic<Bool>(false)
  @exclusivity(unchecked) private var job: ((Int, Int) -> Void)?
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let condition: UnsafeMutablePointer<pthread_cond_t>

  /// Spin iterations before an idle worker starts yielding, and before it sleeps.
  private static let spinsBeforeYield = 1 << 16
  private static let spinsBeforeSleep = spinsBeforeYield + 4096

  private init(width requested: Int) {
    width = 1
    mutex = .allocate(capacity: 1)
    condition = .allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(condition, nil)
    var started = 1
    for index in 1..<max(1, requested) {
      let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
      var thread = pthread_t()
      let status = pthread_create(
        &thread, nil,
        { raw in
          guard let raw else { return nil }
          let context = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
          context.pool.workerLoop(index: context.index)
          return nil
        }, context)
      if status == 0 {
        pthread_detach(thread)
        started += 1
      } else {
        Unmanaged<WorkerContext>.fromOpaque(context).release()
        break
      }
    }
    width = started
  }

  private final class WorkerContext {
    let pool: SpinPool
    let index: Int
    init(pool: SpinPool, index: Int) {
      self.pool = pool
      self.index = index
    }
  }

  /// Runs `body(part, participant)` for every part in `0..<parts` and returns when all are done.
  /// Participants (the caller is 0, workers 1..<width) claim parts one at a time, so which thread
  /// runs a part depends on timing: a part's result must depend only on `part` (write disjoint
  /// memory per part; use `participant` only to pick scratch space that the part overwrites
  /// before reading). A descheduled worker then costs nothing: the caller claims the parts it
  /// would have run. Not reentrant: a part must not call `run` on the same pool (it would run
  /// inline, correct but serial).
  public func run(parts: Int, _ body: (_ part: Int, _ participant: Int) -> Void) {
    guard parts > 1, parts <= Ticket.maxParts, width > 1,
      inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      for part in 0..<max(parts, 0) { body(part, 0) }
      return
    }
    withoutActuallyEscaping(body) { body in
      let next = generation.load(ordering: .relaxed) + 1
      job = body
      completed.store(0, ordering: .relaxed)
      ticket.store(Ticket.make(generation: next, parts: parts, next: 0), ordering: .releasing)
      generation.store(next, ordering: .sequentiallyConsistent)
      if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
      }
      while let part = claim(generation: next) {
        body(part, 0)
        completed.add(1, ordering: .releasing)
      }
      var spins = 0
      while completed.load(ordering: .acquiring) < parts {
        spins += 1
        if spins > 4096 { sched_yield() }
      }
      job = nil
    }
    inUse.store(false, ordering: .releasing)
  }

  /// The layout of `ticket`: generation (mod 2^28), part count and next part (18 bits each).
  /// Keeping the count in the same word matters: a worker that saw an old generation must never
  /// pair it with a newer job's count (it would claim a part past the old job's end).
  enum Ticket {
    static let partBits = 18
    static let generationBits = 28
    static let maxParts = (1 << partBits) - 1

    static func make(generation: Int, parts: Int, next: Int) -> Int {
      ((generation & ((1 << generationBits) - 1)) << (2 * partBits)) | (parts << partBits) | next
    }

    static func generation(_ value: Int) -> Int { value >> (2 * partBits) }
    static func parts(_ value: Int) -> Int { (value >> partBits) & maxParts }
    static func next(_ value: Int) -> Int { value & maxParts }
  }

  /// Claims the next unclaimed part of job `generation`, or nil when none is left (or a newer job
  /// has started).
  @inline(__always)
  private func claim(generation: Int) -> Int? {
    let expected = generation & ((1 << Ticket.generationBits) - 1)
    var value = ticket.load(ordering: .acquiring)
    while true {
      let part = Ticket.next(value)
      guard Ticket.generation(value) == expected, part < Ticket.parts(value) else { return nil }
      let (exchanged, original) = ticket.compareExchange(
        expected: value, desired: value + 1, ordering: .acquiringAndReleasing)
      if exchanged { return part }
      value = original
    }
  }

  /// Runs one claimed part on a worker. Not inlined, so the worker's copy of the job closure is
  /// released before the part is reported complete (the caller then lets the closure go).
  @inline(never)
  private func perform(part: Int, participant: Int) {
    if let job { job(part, participant) }
  }

  private func workerLoop(index: Int) {
    // Generation 0 is the state before any job; a worker that starts late still joins job 1.
    var seen = 0
    while true {
      var spins = 0
      var current = generation.load(ordering: .acquiring)
      while current == seen {
        spins += 1
        if spins >= Self.spinsBeforeSleep {
          pthread_mutex_lock(mutex)
          sleepers.add(1, ordering: .sequentiallyConsistent)
          while generation.load(ordering: .sequentiallyConsistent) == seen {
            pthread_cond_wait(condition, mutex)
          }
          sleepers.subtract(1, ordering: .sequentiallyConsistent)
          pthread_mutex_unlock(mutex)
          spins = 0
        } else if spins >= Self.spinsBeforeYield {
          sched_yield()
        }
        current = generation.load(ordering: .acquiring)
      }
      seen = current
      while let part = claim(generation: current) {
        perform(part: part, participant: index)
        completed.add(1, ordering: .releasing)
      }
    }
  }
}

extension BLASThreads {
  /// Runs `body` with OpenBLAS limited to one thread (restoring the previous count after), so
  /// parts of a `SpinPool` job may call BLAS concurrently. Changes a process-wide setting: like
  /// every BLAS use in Hindcast, it assumes one BLAS-calling thread per process.
  /// Does nothing special when `condition` is false.
  public static func withSingleThreaded<T>(when condition: Bool = true, _ body: () throws -> T) rethrows -> T
  {
    let previous = condition ? current : 1
    if previous > 1 { set(1) }
    defer { if previous > 1 { set(previous) } }
    return try body()
  }
}
