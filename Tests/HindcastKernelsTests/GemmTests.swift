import HindcastKernels
import Testing

/// `Gemm.multiply` and `Gemm.multiplyVector` against the naive reference for every layout the
/// model uses, including head slices of a fused QKV buffer (leading dimensions wider than the
/// matrix) and alpha/beta variants. Entries outside the written block must stay untouched.
@Suite struct GemmTests {
  struct Case: CustomTestStringConvertible, Sendable {
    let name: String
    let opA: Gemm.Operand, opB: Gemm.Operand
    let m: Int, n: Int, k: Int
    let lda: Int, ldb: Int, ldc: Int
    var alpha: Float = 1
    var beta: Float = 0
    var testDescription: String { name }
  }

  // Shapes from the model with C = 24 (3 heads of D = 8), T = 13, N = 2 x 13 rows, hidden 96.
  static let cases: [Case] = [
    Case(
      name: "linear forward NT", opA: .normal, opB: .transposed, m: 26, n: 72, k: 24, lda: 24, ldb: 24,
      ldc: 72),
    Case(
      name: "linear forward NT with bias (beta 1)", opA: .normal, opB: .transposed, m: 26, n: 96, k: 24,
      lda: 24,
      ldb: 24, ldc: 96, beta: 1),
    Case(
      name: "linear backward dx NN", opA: .normal, opB: .normal, m: 26, n: 24, k: 96, lda: 96, ldb: 24,
      ldc: 24),
    Case(
      name: "linear backward dx NN accumulate", opA: .normal, opB: .normal, m: 26, n: 24, k: 72, lda: 72,
      ldb: 24,
      ldc: 24, beta: 1),
    Case(
      name: "linear backward dW TN accumulate", opA: .transposed, opB: .normal, m: 72, n: 24, k: 26, lda: 72,
      ldb: 24, ldc: 24, beta: 1),
    Case(
      name: "attention scores NT head slices", opA: .normal, opB: .transposed, m: 13, n: 13, k: 8, lda: 72,
      ldb: 72,
      ldc: 13, alpha: 0.353_553_39),
    Case(
      name: "attention P V NN into head slice", opA: .normal, opB: .normal, m: 13, n: 8, k: 13, lda: 13,
      ldb: 72,
      ldc: 24),
    Case(
      name: "attention dP NT", opA: .normal, opB: .transposed, m: 13, n: 13, k: 8, lda: 24, ldb: 72, ldc: 13),
    Case(
      name: "attention dV TN into head slice", opA: .transposed, opB: .normal, m: 13, n: 8, k: 13, lda: 13,
      ldb: 24,
      ldc: 72),
    Case(
      name: "attention dQ NN scaled", opA: .normal, opB: .normal, m: 13, n: 8, k: 13, lda: 13, ldb: 72,
      ldc: 72,
      alpha: 0.353_553_39),
    Case(
      name: "attention dK TN scaled", opA: .transposed, opB: .normal, m: 13, n: 8, k: 13, lda: 13, ldb: 72,
      ldc: 72,
      alpha: 0.353_553_39),
    Case(
      name: "general alpha and beta", opA: .normal, opB: .transposed, m: 7, n: 5, k: 3, lda: 4, ldb: 9,
      ldc: 6,
      alpha: -1.5, beta: 0.25),
    Case(
      name: "both transposed", opA: .transposed, opB: .transposed, m: 5, n: 11, k: 9, lda: 6, ldb: 10,
      ldc: 12,
      alpha: 2, beta: -1),
    Case(name: "single row", opA: .normal, opB: .transposed, m: 1, n: 264, k: 24, lda: 24, ldb: 24, ldc: 264),
  ]

  @Test(arguments: cases)
  func multiplyMatchesReference(_ c: Case) {
    var rng = TestRandom(seed: UInt64(c.m * 1000 + c.n * 10 + c.k))
    let aRows = c.opA == .normal ? c.m : c.k
    let bRows = c.opB == .normal ? c.k : c.n
    let a = rng.floats(aRows * c.lda)
    let b = rng.floats(bRows * c.ldb)
    let initial = rng.floats(c.m * c.ldc)
    var fast = initial
    var slow = initial
    Gemm.multiply(
      c.opA, c.opB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a: a, lda: c.lda, b: b, ldb: c.ldb, beta: c.beta,
      c: &fast, ldc: c.ldc)
    Gemm.reference(
      c.opA, c.opB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a: a, lda: c.lda, b: b, ldb: c.ldb, beta: c.beta,
      c: &slow, ldc: c.ldc)
    var changed = 0
    for i in 0..<c.m {
      for j in 0..<c.ldc {
        let index = i * c.ldc + j
        if j >= c.n {
          #expect(fast[index] == initial[index], "\(c.name): wrote outside the block at (\(i), \(j))")
          continue
        }
        // float32 accumulation error bound, scaled by the size of the summed products.
        let magnitude = abs(c.alpha) * Float(c.k).squareRoot() * 4 + abs(c.beta * initial[index])
        #expect(
          abs(fast[index] - slow[index]) <= 2e-6 * magnitude,
          "\(c.name) (\(i), \(j)): \(fast[index]) vs \(slow[index])")
        if fast[index] != initial[index] { changed += 1 }
      }
    }
    #expect(changed == c.m * c.n)
  }

  /// The reference itself, on a product small enough to do by hand.
  @Test func referenceMatchesHandComputedProducts() {
    let a: [Float] = [1, 2, 3, 4, 5, 6]  // (2, 3)
    let b: [Float] = [7, 8, 9, 10, 11, 12]  // (3, 2)
    var c = [Float](repeating: 1, count: 4)
    Gemm.reference(.normal, .normal, m: 2, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, c: &c, ldc: 2)
    #expect(c == [58, 64, 139, 154])
    // A^T (3, 2) of a stored (2, 3) times B^T of a stored (3, 2) viewed as (2, 3): 3 x 3.
    var d = [Float](repeating: 1, count: 9)
    Gemm.reference(
      .transposed, .transposed, m: 3, n: 3, k: 2, alpha: 2, a: a, lda: 3, b: b, ldb: 2, beta: 1, c: &d, ldc: 3
    )
    // (A^T B^T)[i][j] = sum_p A[p][i] B[j][p]
    let expected: [Float] = [
      1 * 7 + 4 * 8, 1 * 9 + 4 * 10, 1 * 11 + 4 * 12, 2 * 7 + 5 * 8, 2 * 9 + 5 * 10, 2 * 11 + 5 * 12,
      3 * 7 + 6 * 8, 3 * 9 + 6 * 10, 3 * 11 + 6 * 12,
    ].map { 2 * $0 + 1 }
    #expect(d == expected)
  }

  @Test(arguments: [Gemm.Operand.normal, .transposed], [(Float(1), Float(0)), (0.5, 1), (-2, 0.75)])
  func multiplyVectorMatchesReference(_ op: Gemm.Operand, _ scalars: (Float, Float)) {
    let (alpha, beta) = scalars
    var rng = TestRandom(seed: 41)
    let (rows, cols, lda) = (37, 24, 72)  // a head-sized block of a wider matrix
    let a = rng.floats(rows * lda)
    let outputs = op == .normal ? rows : cols
    let inputs = op == .normal ? cols : rows
    let x = rng.floats(inputs)
    let initial = rng.floats(outputs)
    var fast = initial
    var slow = initial
    Gemm.multiplyVector(
      op, rows: rows, cols: cols, alpha: alpha, a: a, lda: lda, x: x, beta: beta, y: &fast)
    Gemm.reference(
      op, .normal, m: outputs, n: 1, k: inputs, alpha: alpha, a: a, lda: lda, b: x, ldb: 1,
      beta: beta, c: &slow, ldc: 1)
    for i in 0..<outputs {
      let magnitude = abs(alpha) * Float(inputs).squareRoot() * 4 + abs(beta * initial[i])
      #expect(abs(fast[i] - slow[i]) <= 2e-6 * magnitude, "\(op) [\(i)]: \(fast[i]) vs \(slow[i])")
    }
  }

  /// The comparison above is able to fail: the wrong layout gives a different product.
  @Test func aWrongLayoutIsDetected() {
    var rng = TestRandom(seed: 43)
    let a = rng.floats(9 * 9)
    let b = rng.floats(9 * 9)
    var right = [Float](repeating: 0, count: 81)
    var wrong = [Float](repeating: 0, count: 81)
    Gemm.reference(.normal, .transposed, m: 9, n: 9, k: 9, a: a, lda: 9, b: b, ldb: 9, c: &right, ldc: 9)
    Gemm.multiply(.normal, .normal, m: 9, n: 9, k: 9, a: a, lda: 9, b: b, ldb: 9, c: &wrong, ldc: 9)
    let worst = zip(right, wrong).map { abs($0 - $1) }.max() ?? 0
    #expect(worst > 0.1)
  }
}
