import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A persistent pool of worker threads that spin between jobs, for fork-join work of a few
/// microseconds (one decode step issues ~25 such jobs; a wake-up through the kernel costs ~10 us).
///
/// `run(parts:_:)` calls `body(part)` for every part in `0..<parts` and returns when all are done.
/// Part `p` runs on participant `p % width` (participant 0 is the calling thread), so which parts
/// share a thread is fixed; results never depend on timing as long as parts write disjoint memory.
/// When the pool is in use by another thread, the caller runs every part itself, in order: same
/// results, no parallelism.
///
/// Idle workers spin for about `spinSeconds`, then yield, then sleep on a condition variable until
/// the next job. Callers that issue BLAS calls from parts must keep OpenBLAS single-threaded
/// meanwhile (`BLASThreads.withSingleThreaded`): concurrent multi-threaded OpenBLAS calls can
/// deadlock.
public final class SpinPool: @unchecked Sendable {
  /// The process-wide pool: the calling thread plus one worker (this machine class has 2 cores).
  public static let shared = SpinPool(width: 2)

  /// Participants of a job, the calling thread included.
  public let width: Int

  private let generation = Atomic<Int>(0)
  private let finished = Atomic<Int>(0)
  private let sleepers = Atomic<Int>(0)
  private let inUse = Atomic<Bool>(false)
  @exclusivity(unchecked) private var job: ((Int) -> Void)?
  @exclusivity(unchecked) private var jobParts = 0
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let condition: UnsafeMutablePointer<pthread_cond_t>

  /// Spin iterations before an idle worker starts yielding, and before it sleeps.
  private static let spinsBeforeYield = 1 << 16
  private static let spinsBeforeSleep = spinsBeforeYield + 4096

  private init(width: Int) {
    self.width = max(1, width)
    mutex = .allocate(capacity: 1)
    condition = .allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(condition, nil)
    for index in 1..<self.width {
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
      } else {
        Unmanaged<WorkerContext>.fromOpaque(context).release()
      }
    }
  }

  private final class WorkerContext {
    let pool: SpinPool
    let index: Int
    init(pool: SpinPool, index: Int) {
      self.pool = pool
      self.index = index
    }
  }

  /// Runs `body(part)` for every part in `0..<parts` (part `p` on participant `p % width`) and
  /// returns when all parts are done. Parts must write disjoint memory. Not reentrant: a part
  /// must not call `run` on the same pool (it would run its parts inline, which is correct but
  /// serial).
  public func run(parts: Int, _ body: (Int) -> Void) {
    guard parts > 1, width > 1,
      inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      for part in 0..<max(parts, 0) { body(part) }
      return
    }
    withoutActuallyEscaping(body) { body in
      job = body
      jobParts = parts
      finished.store(0, ordering: .relaxed)
      generation.add(1, ordering: .sequentiallyConsistent)
      if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
      }
      var part = 0
      while part < parts {
        body(part)
        part += width
      }
      var spins = 0
      while finished.load(ordering: .acquiring) < width - 1 {
        spins += 1
        if spins > 4096 { sched_yield() }
      }
      job = nil
    }
    inUse.store(false, ordering: .releasing)
  }

  private func workerLoop(index: Int) {
    var seen = generation.load(ordering: .acquiring)
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
      if let job {
        var part = index
        while part < jobParts {
          job(part)
          part += width
        }
      }
      finished.add(1, ordering: .releasing)
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
