import Foundation
import HindcastStorage
import HindcastSupport
import Testing

/// A thread-safe list of events, to check the order in which threads did things.
private final class EventList: @unchecked Sendable {
  private let lock = NSLock()
  private var events: [String] = []
  func add(_ event: String) {
    lock.lock()
    events.append(event)
    lock.unlock()
  }
  var all: [String] {
    lock.lock()
    defer { lock.unlock() }
    return events
  }
}

@Suite(.temporaryFiles) struct DirectoryLockTests {
  @Test func secondDescriptorInTheSameProcessIsExcluded() throws {
    let path = try makeTemporaryDirectory() + "/run/r0000/.lock"
    let first = try #require(try DirectoryLock.acquire(path: path, wait: false))
    #expect(first.isHeld)
    #expect(try DirectoryLock.acquire(path: path, wait: false) == nil)
    #expect(DirectoryLock.holderDescription(path: path)?.hasPrefix("pid \(getpid()) host ") == true)
    first.release()
    #expect(!first.isHeld)
    first.release()  // releasing twice is harmless
    let second = try #require(try DirectoryLock.acquire(path: path, wait: false))
    #expect(second.isHeld)
  }

  @Test func droppingTheLockObjectReleasesIt() throws {
    let path = try makeTemporaryDirectory() + "/.lock"
    do {
      let held = try DirectoryLock.acquire(path: path, wait: false)
      #expect(held != nil)
      #expect(try DirectoryLock.acquire(path: path, wait: false) == nil)
      withExtendedLifetime(held) {}
    }
    #expect(try DirectoryLock.acquire(path: path, wait: false) != nil)
  }

  @Test func waitingAcquireBlocksUntilRelease() throws {
    let path = try makeTemporaryDirectory() + "/.lock"
    let held = try #require(try DirectoryLock.acquire(path: path, wait: false))
    let events = EventList()
    let done = DispatchSemaphore(value: 0)
    let waiter = Thread {
      if let lock = try? DirectoryLock.acquire(path: path, wait: true) {
        events.add("waiter acquired")
        lock.release()
      }
      done.signal()
    }
    waiter.start()
    // Whenever the waiter runs, it cannot get the lock before this release.
    events.add("holder releasing")
    held.release()
    done.wait()
    #expect(events.all == ["holder releasing", "waiter acquired"])
  }

  @Test(.enabled(if: findExecutable("flock") != nil, "needs util-linux flock"))
  func anotherProcessSeesTheLock() throws {
    let path = try makeTemporaryDirectory() + "/.lock"
    let flock = try #require(findExecutable("flock"))
    let held = try #require(try DirectoryLock.acquire(path: path, wait: false))
    #expect(try runProgram(flock, ["-n", "-E", "75", path, "true"]).status == 75)
    held.release()
    #expect(try runProgram(flock, ["-n", "-E", "75", path, "true"]).status == 0)
  }
}

@Suite(.temporaryFiles) struct ClaimFileTests {
  @Test func firstClaimWinsUntilReleased() throws {
    let path = try makeTemporaryDirectory() + "/r0000/rollouts/shard-00001.claim"
    #expect(!ClaimFile.isClaimed(path: path))
    #expect(ClaimFile.owner(of: path) == nil)
    #expect(try ClaimFile.claim(path: path, owner: "worker 0/2 pid 1"))
    #expect(try !ClaimFile.claim(path: path, owner: "worker 1/2 pid 2"))
    #expect(ClaimFile.isClaimed(path: path))
    #expect(ClaimFile.owner(of: path) == "worker 0/2 pid 1")
    try ClaimFile.release(path: path)
    try ClaimFile.release(path: path)  // releasing an absent claim is fine
    #expect(try ClaimFile.claim(path: path, owner: "worker 1/2 pid 2"))
    #expect(ClaimFile.owner(of: path) == "worker 1/2 pid 2")
  }

  @Test func concurrentClaimersGetExactlyOneWin() async throws {
    let directory = try makeTemporaryDirectory()
    for item in 0..<5 {
      let path = directory + "/item-\(item).claim"
      let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
        for worker in 0..<8 {
          group.addTask { try ClaimFile.claim(path: path, owner: "worker \(worker)") }
        }
        return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
      }
      #expect(wins == 1, "item \(item)")
    }
  }

  @Test func unusableDirectoryIsAnIOFailure() throws {
    let directory = try makeTemporaryDirectory()
    let blocker = directory + "/file"
    try AtomicFile.write(text: "x", to: blocker)
    expectHindcastError(.ioFailure, mentioning: [blocker]) {
      _ = try ClaimFile.claim(path: blocker + "/sub/item.claim", owner: "w")
    }
  }
}
