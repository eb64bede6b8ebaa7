import Testing

@testable import HindcastMemory

@Suite struct ParallelWorkTests {
  struct Failure: Error, Equatable { let index: Int }

  @Test(arguments: [1, 2, 3, 8])
  func pipelineConsumesInOrder(threads: Int) throws {
    var consumed: [Int] = []
    try ParallelWork.pipeline(
      count: 100, threads: threads, produce: { $0 * $0 },
      consume: { index, value in consumed.append(value + index) })
    #expect(consumed == (0..<100).map { $0 * $0 + $0 })
    #expect(try ParallelWork.map(count: 50, threads: threads) { $0 + 1 } == Array(1...50))
  }

  @Test(arguments: [1, 3])
  func pipelineRethrowsTheFirstFailure(threads: Int) {
    var consumed = 0
    #expect(throws: Failure(index: 7)) {
      try ParallelWork.pipeline(
        count: 40, threads: threads,
        produce: { index -> Int in
          if index == 7 || index == 20 { throw Failure(index: index) }
          return index
        },
        consume: { _, _ in consumed += 1 })
    }
    #expect(consumed == 7)
  }

  @Test func keySetAndPositionIndexBehaveLikeTheStandardCollections() {
    var keys = KeySet()
    var reference = Set<UInt64>()
    var index = PositionIndex()
    var positions: [UInt64: Int] = [:]
    var value: UInt64 = 0
    for step in 0..<5000 {
      value = value &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let key = step % 7 == 0 ? value % 50 : value  // includes 0 and repeats
      #expect(keys.insert(key) == reference.insert(key).inserted)
      index[NoteId(value: key)] = step
      positions[key] = step
    }
    #expect(keys.count == reference.count)
    #expect(reference.allSatisfy { keys.contains($0) })
    #expect(!keys.contains(123_456_789))
    #expect(positions.allSatisfy { index[NoteId(value: $0.key)] == $0.value })
    #expect(index.count == positions.count)
  }
}
