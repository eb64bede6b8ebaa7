import Foundation
import HindcastModel
import HindcastSupport
import HindcastTraining
import Testing

@Suite struct TrainingOptimizerTests {
  @Test func adamWFirstStepMatchesHandComputation() throws {
    // Entries 0..<2 are decayed, 2..<4 are not. At step 1 the bias-corrected moments are g and
    // g^2, so each update is lr * (g / (|g| + eps) + wd * p).
    var optimizer = try AdamW(
      config: AdamWConfig(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1), parameterCount: 4,
      decayedRanges: [0..<2])
    var parameters: [Float] = [1, -2, 0.5, 3]
    try optimizer.update(parameters: &parameters, gradients: [0.1, -0.2, 0.3, 0], learningRate: 0.01)
    let expected: [Float] = [
      1 - 0.01 * (1 + 0.1 * 1),  // 0.989
      -2 - 0.01 * (-1 + 0.1 * -2),  // -1.988
      0.5 - 0.01 * 1,  // 0.49, no decay
      3,  // zero gradient, no decay
    ]
    for (value, want) in zip(parameters, expected) {
      #expect(abs(value - want) < 1e-6, "\(parameters) vs \(expected)")
    }
    #expect(optimizer.state.step == 1)
    #expect(abs(optimizer.state.m[1] - -0.02) < 1e-7)
    #expect(abs(optimizer.state.v[2] - 9e-5) < 1e-8)
  }

  @Test func adamWBiasCorrectionOverSeveralSteps() throws {
    // A double-precision reference of PyTorch's AdamW over three steps, one decayed entry.
    let beta1 = 0.8
    let beta2 = 0.9
    let eps = 1e-6
    let decay = 0.5
    let rates = [0.1, 0.05, 0.02]
    let gradientSteps: [[Double]] = [[1, -0.5], [0.25, 2], [-1, 0.125]]
    var p = [0.5, -1.5]
    var m = [0.0, 0.0]
    var v = [0.0, 0.0]
    for (t, (g, lr)) in zip(gradientSteps, rates).enumerated() {
      for i in 0..<2 {
        let wd = i == 0 ? decay : 0
        p[i] -= lr * wd * p[i]
        m[i] = beta1 * m[i] + (1 - beta1) * g[i]
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
        let mHat = m[i] / (1 - pow(beta1, Double(t + 1)))
        let vHat = v[i] / (1 - pow(beta2, Double(t + 1)))
        p[i] -= lr * mHat / (vHat.squareRoot() + eps)
      }
    }
    var optimizer = try AdamW(
      config: AdamWConfig(beta1: 0.8, beta2: 0.9, epsilon: 1e-6, weightDecay: 0.5), parameterCount: 2,
      decayedRanges: [0..<1])
    var parameters: [Float] = [0.5, -1.5]
    for (g, lr) in zip(gradientSteps, rates) {
      try optimizer.update(parameters: &parameters, gradients: g.map { Float($0) }, learningRate: Float(lr))
    }
    #expect(abs(Double(parameters[0]) - p[0]) < 1e-5)
    #expect(abs(Double(parameters[1]) - p[1]) < 1e-5)
    #expect(optimizer.state.step == 3)
  }

  @Test func adamWDecaysOnlyMatricesOfTheLayout() throws {
    let config = TrainingTestSupport.toyConfig
    let layout = ParameterLayout(config: config)
    var optimizer = try AdamW(config: AdamWConfig(weightDecay: 1), layout: layout)
    var parameters = [Float](repeating: 1, count: layout.totalCount)
    let zeros = [Float](repeating: 0, count: layout.totalCount)
    try optimizer.update(parameters: &parameters, gradients: zeros, learningRate: 0.5)
    for entry in layout.entries {
      let want: Float = entry.isDecayed ? 0.5 : 1
      #expect(parameters[entry.offset] == want, "\(entry.name)")
      #expect(parameters[entry.offset + entry.count - 1] == want, "\(entry.name)")
    }
    #expect(layout.entries.contains { $0.isDecayed } && layout.entries.contains { !$0.isDecayed })
  }

  @Test func vectorAndScalarPathsGiveIdenticalBits() throws {
    // One decayed range of 21 values (two 8-lane blocks and a tail of 5) against the same values
    // split into ranges of 3, 7 and 11 (tails everywhere).
    let count = 21
    let gradientSteps = (0..<3).map { TrainingTestSupport.randomValues(count, seed: 20 + UInt64($0)) }
    func run(_ ranges: [Range<Int>]) throws -> [UInt32] {
      var optimizer = try AdamW(
        config: AdamWConfig(weightDecay: 0.3), parameterCount: count, decayedRanges: ranges)
      var parameters = TrainingTestSupport.randomValues(count, seed: 3)
      for gradients in gradientSteps {
        try optimizer.update(parameters: &parameters, gradients: gradients, learningRate: 0.01)
      }
      return parameters.map(\.bitPattern) + optimizer.state.m.map(\.bitPattern)
        + optimizer.state.v.map(\.bitPattern)
    }
    #expect(try run([0..<21]) == run([0..<3, 3..<10, 10..<21]))
  }

  @Test func adamWRejectsMismatchedBuffers() throws {
    #expect(throws: HindcastError.self) {
      try AdamW(config: AdamWConfig(), parameterCount: 4, decayedRanges: [2..<6])
    }
    #expect(throws: HindcastError.self) {
      try AdamW(
        config: AdamWConfig(), parameterCount: 4, decayedRanges: [], state: AdamWState(parameterCount: 3))
    }
    var optimizer = try AdamW(config: AdamWConfig(), parameterCount: 2, decayedRanges: [])
    var parameters: [Float] = [1, 2]
    #expect(throws: HindcastError.self) {
      try optimizer.update(parameters: &parameters, gradients: [1], learningRate: 0.1)
    }
  }

  @Test func clippingScalesToTheMaximumNormAndReturnsTheOriginal() {
    var gradients: [Float] = [3, 4]
    #expect(GradientClipping.clip(&gradients, maxNorm: 1) == 5)
    #expect(abs(gradients[0] - 0.6) < 1e-6 && abs(gradients[1] - 0.8) < 1e-6)
    var small: [Float] = [3, 4]
    #expect(GradientClipping.clip(&small, maxNorm: 10) == 5)
    #expect(small == [3, 4])
    var off: [Float] = [30, 40]
    #expect(GradientClipping.clip(&off, maxNorm: 0) == 50)
    #expect(off == [30, 40])
    let odd: [Float] = [1, 2, 3, 4, 5, 6, 7]
    #expect(abs(GradientClipping.globalNorm(odd) - Float(140.0.squareRoot())) < 1e-5)
    var broken: [Float] = [.nan, 1]
    #expect(GradientClipping.clip(&broken, maxNorm: 1).isNaN)
  }

  @Test func scheduleWarmsUpLinearlyThenDecaysByCosineToTheFloor() throws {
    let schedule = LearningRateSchedule(
      peakLearningRate: 1e-3, warmupSteps: 10, totalSteps: 111, finalFraction: 0.1)
    try schedule.validate()
    func close(_ step: Int, _ want: Double) {
      #expect(abs(Double(schedule.learningRate(atStep: step)) - want) < 1e-9, "step \(step)")
    }
    close(0, 1e-4)
    close(4, 5e-4)
    close(9, 1e-3)
    close(10, 1e-3)
    close(60, 1e-4 + 9e-4 * 0.5)
    close(35, 1e-4 + 9e-4 * 0.5 * (1 + cos(Double.pi * 0.25)))
    close(110, 1e-4)
    close(500, 1e-4)
    let noWarmup = LearningRateSchedule(
      peakLearningRate: 0.5, warmupSteps: 0, totalSteps: 1, finalFraction: 0)
    #expect(noWarmup.learningRate(atStep: 0) == 0.5)
    // Monotone after warm-up.
    let rates = (10...110).map { schedule.learningRate(atStep: $0) }
    #expect(zip(rates, rates.dropFirst()).allSatisfy { $0 >= $1 })
  }

  @Test func invalidSettingsNameTheField() {
    func expectInvalid(_ field: String, _ body: () throws -> Void) {
      #expect {
        try body()
      } throws: { error in
        let error = error as? HindcastError
        return error?.code == .invalidConfig && error?.message.contains("'\(field)'") == true
      }
    }
    expectInvalid("learning_rate") {
      try LearningRateSchedule(peakLearningRate: 0, warmupSteps: 1, totalSteps: 10, finalFraction: 0)
        .validate()
    }
    expectInvalid("final_lr_fraction") {
      try LearningRateSchedule(peakLearningRate: 1, warmupSteps: 1, totalSteps: 10, finalFraction: 2)
        .validate()
    }
    expectInvalid("warmup_steps") {
      try LearningRateSchedule(peakLearningRate: 1, warmupSteps: -1, totalSteps: 10, finalFraction: 0)
        .validate()
    }
    expectInvalid("beta2") { try AdamWConfig(beta2: 1).validate() }
    expectInvalid("weight_decay") { try AdamWConfig(weightDecay: -0.1).validate() }
    expectInvalid("sequence_length") { try TrainingConfig(sequenceLength: 65).validate(contextLength: 64) }
    expectInvalid("batch_size") { try TrainingConfig(batchSize: 0).validate(contextLength: 64) }
    expectInvalid("clip_norm") { try TrainingConfig(clipNorm: -1).validate(contextLength: 64) }
    expectInvalid("steps") { try TrainingConfig(steps: 0).validate(contextLength: 64) }
  }

  @Test func trainerStepsReduceTheToyLoss() throws {
    let model = QuadraticToyModel(config: TrainingTestSupport.toyConfig, seed: 5)
    let trainer = try Trainer(
      model: model, optimizer: AdamWConfig(weightDecay: 0),
      schedule: LearningRateSchedule(
        peakLearningRate: 0.05, warmupSteps: 2, totalSteps: 60, finalFraction: 0.1),
      clipNorm: 1)
    let batch: [[Int32]] = [[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]
    let first = try trainer.step(batch: batch)
    var last = first
    for _ in 0..<59 { last = try trainer.step(batch: batch) }
    #expect(trainer.completedSteps == 60)
    #expect(first.learningRate == 0.025)
    #expect(last.loss < first.loss * 0.2, "loss \(first.loss) -> \(last.loss)")
  }

  @Test func customObjectiveStepsMatchBatchSteps() throws {
    func makeTrainer() throws -> (QuadraticToyModel, Trainer) {
      let model = QuadraticToyModel(config: TrainingTestSupport.toyConfig, seed: 5)
      let trainer = try Trainer(
        model: model, optimizer: AdamWConfig(),
        schedule: LearningRateSchedule(
          peakLearningRate: 0.05, warmupSteps: 2, totalSteps: 10, finalFraction: 0),
        clipNorm: 0.5)
      return (model, trainer)
    }
    let batch: [[Int32]] = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]]
    let (a, trainerA) = try makeTrainer()
    let (b, trainerB) = try makeTrainer()
    for _ in 0..<4 {
      let viaBatch = try trainerA.step(batch: batch)
      let viaClosure = try trainerB.step { try b.lossAndGradients(batch: batch) }
      #expect(viaBatch == viaClosure)
    }
    #expect(a.parameters.map(\.bitPattern) == b.parameters.map(\.bitPattern))
    #expect(trainerA.completedSteps == 4)
  }

  @Test func trainerStopsOnNonFiniteLossWithoutUpdating() throws {
    let model = QuadraticToyModel(config: TrainingTestSupport.toyConfig, seed: 5)
    model.parameters[0] = .nan
    let before = model.parameters
    let trainer = try Trainer(
      model: model, optimizer: AdamWConfig(),
      schedule: LearningRateSchedule(
        peakLearningRate: 0.05, warmupSteps: 0, totalSteps: 10, finalFraction: 0),
      clipNorm: 1)
    #expect {
      _ = try trainer.step(batch: [[0, 1, 2]])
    } throws: { error in
      (error as? HindcastError)?.message.contains("diverged at step 1") == true
    }
    #expect(model.parameters.map(\.bitPattern) == before.map(\.bitPattern))
    #expect(trainer.completedSteps == 0)
  }
}
