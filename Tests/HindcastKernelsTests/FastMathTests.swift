import HindcastKernels
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct FastMathTests {
  @Test func expMatchesTheLibraryWithinAFewUlps() {
    var worst: Double = 0
    var x: Float = -87
    while x <= 88 {
      let fast = FastMath.exp(x)
      let exact = exp(Double(x))
      worst = max(worst, abs(Double(fast) - exact) / exact)
      x += 0.0137
    }
    // 4 float ulps at 1 is 4.8e-7.
    #expect(worst < 4.8e-7, "largest relative error \(worst)")
    #expect(FastMath.exp(0) == 1)
  }

  @Test func expClampsInputsOutsideItsRange() {
    #expect(FastMath.exp(-1000) > 0)
    #expect(FastMath.exp(-1000) == FastMath.exp(-87))
    #expect(FastMath.exp(1000).isFinite)
    #expect(FastMath.exp(1000) == FastMath.exp(88))
  }
}
