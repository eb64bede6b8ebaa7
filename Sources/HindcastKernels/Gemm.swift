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
    guard let timer = GemmTimer.current else {
      cblas_sgemm(
        CblasRowMajor, opA == .normal ? CblasNoTrans : CblasTrans,
        opB == .normal ? CblasNoTrans : CblasTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b,
        Int32(ldb), beta, c, Int32(ldc))
      return
    }
    let start = ContinuousClock.now
    cblas_sgemm(
      CblasRowMajor, opA == .normal ? CblasNoTrans : CblasTrans,
      opB == .normal ? CblasNoTrans : CblasTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b,
      Int32(ldb), beta, c, Int32(ldc))
    timer.record(since: start, flops: 2 * Double(m) * Double(n) * Double(k))
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

/// Accumulates the wall time of every `Gemm.multiply` call made inside a
/// `GemmTimer.$current.withValue(timer) { ... }` scope: the in-situ GEMM time of, for example, one
/// training step. Off (nil) by default, which costs one task-local read per product.
///
/// Not thread-safe: a timer must only be bound, and its totals read, on one thread. Products that
/// run on other threads inside the scope are not counted (task-locals do not cross threads).
public final class GemmTimer: @unchecked Sendable {
  /// The timer of the current scope, if any.
  @TaskLocal public static var current: GemmTimer?

  /// Wall seconds spent inside `cblas_sgemm` calls.
  public private(set) var seconds: Double = 0
  /// Number of products.
  public private(set) var calls: Int = 0
  /// Floating-point operations of those products (2 m n k each).
  public private(set) var flops: Double = 0

  public init() {}

  func record(since start: ContinuousClock.Instant, flops callFlops: Double) {
    let parts = (ContinuousClock.now - start).components
    seconds += Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    calls += 1
    flops += callFlops
  }

  /// Sets every total to zero.
  public func reset() {
    seconds = 0
    calls = 0
    flops = 0
  }
}

/// The number of threads OpenBLAS uses. Set once per process by the command line layer.
///
/// Thread safety: Debian's OpenBLAS (pthreads, built without USE_LOCKING) may deadlock when two
/// threads call a multi-threaded routine at the same time. Hindcast calls BLAS from one thread per
/// process; code that calls it from several threads must set the count to 1 first (the test
/// suite runs with `OPENBLAS_NUM_THREADS=1` for this reason).
public enum BLASThreads {
  public static func set(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }
  public static var current: Int { Int(openblas_get_num_threads()) }
}
