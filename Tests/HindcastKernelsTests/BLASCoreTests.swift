import HindcastKernels
import Testing

@Suite struct BLASCoreTests {
  /// A user's OPENBLAS_CORETYPE always wins, and a process already on the pinned kernels never
  /// restarts: together they stop the executable from restarting more than once.
  @Test func restartsOnlyWhenNobodyChoseAndTheLibraryDidNotPin() {
    #expect(!BLASCore.shouldRestart(environment: [BLASCore.environmentVariable: "Zen"]))
    #expect(!BLASCore.shouldRestart(environment: [BLASCore.environmentVariable: BLASCore.pinned]))
    let expected = BLASCore.processorRunsPinned && BLASCore.current != BLASCore.pinned
    #expect(BLASCore.shouldRestart(environment: [:]) == expected)
  }

  @Test func theDescriptionNamesTheKernelsInUse() {
    let description = BLASCore.description
    #expect(description.hasPrefix(BLASCore.current), "\(description)")
    #expect(BLASCore.current != "unknown")
  }
}
