import COpenBLAS

/// Row-major single-precision matrix products. All matrices in Hindcast are row-major; this is the
/// one place where that is turned into BLAS arguments.
public enum Gemm {
  /// Whether an operand is used as stored or transposed.
  public enum Operand: Sendable { case normal, transposed }

  /// `C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C`, row-major, through
  /// `cblas_sgemm`. `lda`, `ldb`, `ldc` are the row strides (in floats) of the stored matrices, so
  /// column blocks of wider matrices (one attention head of a fused QKV buffer) can be addressed.
  @inline(__always)
  public static func multiply(
    _ opA: Operand, _ opB: Operand, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    cblas_sgemm(
      CblasRowMajor, opA == .normal ? CblasNoTrans : CblasTrans,
      opB == .normal ? CblasNoTrans : CblasTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b,
      Int32(ldb), beta, c, Int32(ldc))
  }

  /// `y (m) = alpha * op(A) x + beta * y` for a stored row-major `A (rows, cols)`, through
  /// `cblas_sgemv`. For batch-1 decoding this is several times faster than `sgemm` with m = 1.
  @inline(__always)
  public static func multiplyVector(
    _ opA: Operand, rows: Int, cols: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
  ) {
    cblas_sgemv(
      CblasRowMajor, opA == .normal ? CblasNoTrans : CblasTrans, Int32(rows), Int32(cols), alpha, a,
      Int32(lda), x, 1, beta, y, 1)
  }

  /// The naive triple loop with the same contract as `multiply`, accumulating in double. Used only
  /// by tests to check every layout the model uses.
  public static func reference(
    _ opA: Operand, _ opB: Operand, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    for i in 0..<m {
      for j in 0..<n {
        var sum = 0.0
        for p in 0..<k {
          let av = opA == .normal ? a[i * lda + p] : a[p * lda + i]
          let bv = opB == .normal ? b[p * ldb + j] : b[j * ldb + p]
          sum += Double(av) * Double(bv)
        }
        let old = beta == 0 ? 0 : beta * c[i * ldc + j]
        c[i * ldc + j] = alpha * Float(sum) + old
      }
    }
  }
}

/// The number of threads OpenBLAS uses. Set once per process by the command line layer.
public enum BLASThreads {
  public static func set(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }
  public static var current: Int { Int(openblas_get_num_threads()) }
}
