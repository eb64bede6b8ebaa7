import HindcastKernels
import HindcastModel
import Testing

/// `Transformer.trainingGemmPlan` (what `hindcast bench` replays and reports) must list exactly
/// the products a forward and backward pass issue: same count, same FLOPs.
@Suite struct GemmPlanTests {
  @Test(arguments: [(1, 300), (2, 17)])
  func planMatchesTheProductsOfAStep(batch: Int, length: Int) throws {
    // Context 300 gives a short last query block (300 = 2 x 128 + 44 = 9 x 32 + 12).
    let config = ModelConfig(contextLength: 300, layers: 2, width: 8, heads: 2)
    let model = try Transformer(config: config, seed: 5)
    let tokens = (0..<(batch * length)).map { Int32($0 % 250) }
    let timer = GemmTimer()
    try GemmTimer.$current.withValue(timer) {
      try model.forward(tokens: tokens, batch: batch, length: length) { _ in }
      try model.backward { dlogits in
        for i in 0..<dlogits.count { dlogits[i] = Float(i % 7) * 0.01 }
      }
    }
    let plan = Transformer.trainingGemmPlan(config: config, batch: batch, length: length)
    let planCalls = plan.reduce(0) { $0 + $1.callsPerStep }
    let planFlops = plan.reduce(0.0) { $0 + $1.flops * Double($1.callsPerStep) }
    #expect(timer.calls == planCalls)
    #expect(timer.flops == planFlops)
    #expect(timer.seconds > 0)
    // Outside the scope nothing is recorded.
    let counted = timer.calls
    try model.forward(tokens: tokens, batch: batch, length: length) { _ in }
    #expect(timer.calls == counted)
  }
}
