import HindcastModel
import HindcastSupport
import Testing

/// Bad terms are rejected with an `invalidInput` error naming the problem, before any work is
/// done: a batch with one bad term leaves the gradients untouched.
@Suite struct LossValidationTests {
  static let vocab = Tokenizer.vocabSize

  static func expectRejected(
    _ kind: TokenTerm.Kind, weight: Float = 1, mentioning words: [String],
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let logits = [Float](repeating: 0, count: vocab)
    do {
      _ = try TokenTerm(position: 0, weight: weight, kind: kind).lossAndGradient(logits: logits)
      Issue.record("expected \(kind) to be rejected", sourceLocation: sourceLocation)
    } catch let error as HindcastError {
      #expect(error.code == .invalidInput, sourceLocation: sourceLocation)
      for word in words {
        #expect(
          error.message.contains(word), "'\(error.message)' should mention '\(word)'",
          sourceLocation: sourceLocation)
      }
    } catch {
      Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
  }

  static var uniformLogprob: Float { -logf(Float(vocab)) }

  @Test func targetsOutsideTheVocabulary() {
    Self.expectRejected(
      .crossEntropy(target: Int32(Self.vocab)), mentioning: ["cross-entropy", "264", "vocabulary"])
    Self.expectRejected(.crossEntropy(target: -1), mentioning: ["-1"])
    Self.expectRejected(
      .policyGradient(target: 300, advantage: 1, oldLogprob: -1, clip: 0.2),
      mentioning: ["policy-gradient", "300"])
    let importance = ImportanceWeight(oldLogprob: -1, target: 999, clip: 2)
    Self.expectRejected(
      .divergence(teacher: .topK(ids: [1], logprobs: [-1]), kind: .jsd, importance: importance),
      mentioning: ["importance", "999"])
  }

  @Test func nonFiniteOrOutOfRangeNumbers() {
    Self.expectRejected(.crossEntropy(target: 1), weight: .nan, mentioning: ["weight"])
    Self.expectRejected(
      .policyGradient(target: 1, advantage: .nan, oldLogprob: -1, clip: 0.2), mentioning: ["advantage"])
    Self.expectRejected(
      .policyGradient(target: 1, advantage: 1, oldLogprob: -.infinity, clip: 0.2),
      mentioning: ["old log-probability"])
    Self.expectRejected(
      .policyGradient(target: 1, advantage: 1, oldLogprob: -1, clip: 0), mentioning: ["clip"])
    Self.expectRejected(
      .policyGradient(target: 1, advantage: 1, oldLogprob: -1, clip: .nan), mentioning: ["clip"])
    Self.expectRejected(
      .divergence(
        teacher: .topK(ids: [1], logprobs: [-1]), kind: .forwardKL,
        importance: ImportanceWeight(oldLogprob: .nan, target: 1)),
      mentioning: ["importance", "not finite"])
    Self.expectRejected(
      .divergence(
        teacher: .topK(ids: [1], logprobs: [-1]), kind: .forwardKL,
        importance: ImportanceWeight(oldLogprob: -1, target: 1, clip: -2)),
      mentioning: ["importance", "clip"])
  }

  @Test func malformedTeachers() {
    func divergence(_ teacher: TeacherDistribution) -> TokenTerm.Kind {
      .divergence(teacher: teacher, kind: .forwardKL, importance: nil)
    }
    Self.expectRejected(divergence(.full(logprobs: [-1, -2])), mentioning: ["full", "2", "264"])
    Self.expectRejected(
      divergence(.topK(ids: [1, 2], logprobs: [-1])), mentioning: ["2 ids", "1 log-probabilities"])
    Self.expectRejected(divergence(.topK(ids: [], logprobs: [])), mentioning: ["at least 1"])
    Self.expectRejected(
      divergence(.topK(ids: [1, 264], logprobs: [-1, -2])), mentioning: ["264", "vocabulary"])
    Self.expectRejected(
      divergence(.topK(ids: [5, 7, 5], logprobs: [-1, -2, -3])), mentioning: ["id 5", "more than once"])
    Self.expectRejected(
      divergence(.topK(ids: [5, 7], logprobs: [-1, .nan])), mentioning: ["index 1", "not finite"])
    var full = [Float](repeating: Self.uniformLogprob, count: Self.vocab)
    full[3] = .infinity
    Self.expectRejected(divergence(.full(logprobs: full)), mentioning: ["index 3", "not finite"])
  }

  /// Logits passed where log-probabilities belong are caught by their total mass.
  @Test func teachersThatAreNotDistributions() {
    Self.expectRejected(
      .divergence(teacher: .topK(ids: [1, 2], logprobs: [-0.1, -0.2]), kind: .reverseKL, importance: nil),
      mentioning: ["sum to probability", "more than 1"])
    let logits = [Float](repeating: 0.5, count: Self.vocab)
    Self.expectRejected(
      .divergence(teacher: .full(logprobs: logits), kind: .jsd, importance: nil),
      mentioning: ["total probability", "expected 1"])
    // Float rounding of real log-probabilities is accepted.
    let slightlyOff = [Float](repeating: Self.uniformLogprob + 1e-5, count: Self.vocab)
    #expect(
      throws: Never.self,
      performing: {
        _ = try TokenTerm(
          position: 0, weight: 1,
          kind: .divergence(teacher: .full(logprobs: slightlyOff), kind: .jsd, importance: nil)
        ).lossAndGradient(logits: [Float](repeating: 0, count: Self.vocab))
      })
  }

  @Test func aBadTermLeavesGradientsUntouched() throws {
    let config = ModelConfig(contextLength: 8, layers: 1, width: 8, heads: 2)
    let model = try Transformer(config: config, seed: 1)
    model.zeroGradients()
    let good = TrainingSequence.supervised(prompt: [1, 2], completion: [3, 4, 5])
    var bad = good
    bad.terms.append(
      TokenTerm(
        position: 1, weight: 1,
        kind: .divergence(
          teacher: .topK(ids: [1, 2], logprobs: [-0.1, -0.2]), kind: .forwardKL, importance: nil)))
    #expect(throws: HindcastError.self) { try model.lossAndGradients([good, bad]) }
    #expect(model.gradients.allSatisfy { $0 == 0 })
    var outside = good
    outside.terms.append(TokenTerm(position: 5, weight: 1, kind: .crossEntropy(target: 1)))
    do {
      _ = try model.lossAndGradients([good, outside])
      Issue.record("a term outside its sequence was accepted")
    } catch let error as HindcastError {
      #expect(error.message.contains("position 5") && error.message.contains("sequence 1"))
    }
    #expect(model.gradients.allSatisfy { $0 == 0 })
  }
}

#if canImport(Glibc)
  import Glibc
#endif
