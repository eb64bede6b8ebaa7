import Foundation
import HindcastKernels
import HindcastSupport
import Testing

@testable import HindcastModel

/// The vectorizable elementwise kernels of the decoder against libm and the training kernels.
@Suite struct SamplerKernelTests {
  @Test func expMatchesLibmToAFewUlps() {
    var worst = 0.0
    var x: Float = -87
    while x <= 88 {
      let exact = Foundation.exp(Double(x))
      worst = max(worst, abs(Double(InferenceKernels.exp(x)) - exact) / exact)
      x += 0.013
    }
    #expect(worst < 3e-7, "worst relative error \(worst)")
    #expect(InferenceKernels.exp(0) == 1)
    #expect(InferenceKernels.exp(-1000) < 1e-37)
    #expect(InferenceKernels.exp(-.infinity) < 1e-37)
  }

  @Test func geluMatchesTheTrainingKernel() {
    let count = 4001
    let input = (0..<count).map { Float($0 - count / 2) * 0.01 }  // -20 ... 20
    var fast = input
    fast.withUnsafeMutableBufferPointer { InferenceKernels.gelu($0.baseAddress!, count: count) }
    var reference = [Float](repeating: 0, count: count)
    reference.withUnsafeMutableBufferPointer { out in
      input.withUnsafeBufferPointer { GELU.forward(out: out.baseAddress!, x: $0.baseAddress!, count: count) }
    }
    let worst = zip(fast, reference).map { abs($0 - $1) }.max() ?? 1
    #expect(worst < 2e-6, "worst absolute difference \(worst)")
  }

  @Test func softmaxAndLayerNormMatchTheTrainingKernels() {
    var rng = SeededRandom(seed: 4)
    for width in [1, 7, 8, 33, 256] {
      let row = (0..<width).map { _ in 3 * rng.nextGaussian() }
      var fast = row
      fast.withUnsafeMutableBufferPointer { InferenceKernels.softmax($0.baseAddress!, valid: width) }
      var reference = row
      reference.withUnsafeMutableBufferPointer {
        _ = Softmax.inPlace($0.baseAddress!, valid: width, count: width)
      }
      #expect(zip(fast, reference).allSatisfy { abs($0 - $1) < 1e-6 }, "softmax width \(width)")

      let weight = (0..<width).map { _ in 1 + rng.nextGaussian() }
      let bias = (0..<width).map { _ in rng.nextGaussian() }
      var out = [Float](repeating: 0, count: width)
      var expected = [Float](repeating: 0, count: width)
      var mean: Float = 0
      var rstd: Float = 0
      InferenceKernels.layerNorm(out: &out, x: row, weight: weight, bias: bias, width: width, epsilon: 1e-5)
      LayerNorm.forward(
        out: &expected, mean: &mean, rstd: &rstd, x: row, weight: weight, bias: bias, rows: 1, width: width)
      #expect(zip(out, expected).allSatisfy { abs($0 - $1) < 1e-4 }, "layer norm width \(width)")
    }
  }
}
