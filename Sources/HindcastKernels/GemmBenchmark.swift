import COpenBLAS

#if canImport(Glibc)
  import Glibc
#endif

/// Throughput of single-precision matrix products at given shapes, measured through
/// `Gemm.multiply` and, on the same buffers, through a direct `cblas_sgemm` call, so the ratio of
/// the two shows the wrapper's overhead (it should be about 1).
public enum GemmBenchmark {
  /// One matrix product as the model issues it: `C (m, n) = op(A) op(B) (+ beta C)`, row-major,
  /// with the model's row strides, issued `callsPerStep` times per training step.
  public struct Shape: Codable, Sendable, Equatable {
    /// What the product computes, e.g. `mlp.fc forward`.
    public var name: String
    public var transposeA: Bool
    public var transposeB: Bool
    public var m: Int
    public var n: Int
    public var k: Int
    public var lda: Int
    public var ldb: Int
    public var ldc: Int
    /// 0 overwrites C, 1 accumulates into it.
    public var beta: Float
    /// How many times one training step issues this product.
    public var callsPerStep: Int

    enum CodingKeys: String, CodingKey {
      case name
      case transposeA = "transpose_a"
      case transposeB = "transpose_b"
      case m, n, k, lda, ldb, ldc, beta
      case callsPerStep = "calls_per_step"
    }

    /// A product with packed operands (`lda`, `ldb`, `ldc` the stored row widths).
    public init(
      name: String, _ opA: Gemm.Operand, _ opB: Gemm.Operand, m: Int, n: Int, k: Int, lda: Int? = nil,
      ldb: Int? = nil, ldc: Int? = nil, beta: Float = 0, callsPerStep: Int = 1
    ) {
      self.name = name
      transposeA = opA == .transposed
      transposeB = opB == .transposed
      self.m = m
      self.n = n
      self.k = k
      self.lda = lda ?? (opA == .normal ? k : m)
      self.ldb = ldb ?? (opB == .normal ? n : k)
      self.ldc = ldc ?? n
      self.beta = beta
      self.callsPerStep = callsPerStep
    }

    /// Floating-point operations of one call (a multiply-add counts as two).
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    /// Floats the stored A, B and C span (with their strides).
    var aCount: Int { (transposeA ? k : m) * lda }
    var bCount: Int { (transposeB ? n : k) * ldb }
    var cCount: Int { m * ldc }
    var opA: Gemm.Operand { transposeA ? .transposed : .normal }
    var opB: Gemm.Operand { transposeB ? .transposed : .normal }
    /// `M x N x K` with `T` marks on transposed operands, e.g. `4096x768x256 NT`.
    public var label: String { "\(m)x\(n)x\(k) \(transposeA ? "T" : "N")\(transposeB ? "T" : "N")" }
  }

  /// Medians of one shape.
  public struct Result: Codable, Sendable, Equatable {
    public var shape: Shape
    /// Through `Gemm.multiply`.
    public var hindcastGflops: Double
    /// Through a direct `cblas_sgemm` call on the same buffers.
    public var cblasGflops: Double
    /// `hindcastGflops / cblasGflops`.
    public var ratio: Double
    /// Median seconds of one call through `Gemm.multiply`.
    public var secondsPerCall: Double

    enum CodingKeys: String, CodingKey {
      case shape
      case hindcastGflops = "hindcast_gflops"
      case cblasGflops = "cblas_gflops"
      case ratio
      case secondsPerCall = "seconds_per_call"
    }
  }

  /// Measures `shape` in `repetitions` alternating pairs of batches (wrapper, then direct call),
  /// each batch lasting at least `minimumSeconds`; reports medians. Operands are filled with
  /// small deterministic values. Uses however many BLAS threads are set.
  public static func measure(_ shape: Shape, repetitions: Int, minimumSeconds: Double) -> Result {
    let a = filled(shape.aCount, salt: 1)
    let b = filled(shape.bCount, salt: 2)
    let c = FloatBuffer(count: shape.cCount)
    let order: (Gemm.Operand) -> CBLAS_TRANSPOSE = { $0 == .normal ? CblasNoTrans : CblasTrans }
    let wrapped = {
      Gemm.multiply(
        shape.opA, shape.opB, m: shape.m, n: shape.n, k: shape.k, a: a.pointer, lda: shape.lda, b: b.pointer,
        ldb: shape.ldb, beta: shape.beta, c: c.pointer, ldc: shape.ldc)
    }
    let direct = {
      cblas_sgemm(
        CblasRowMajor, order(shape.opA), order(shape.opB), Int32(shape.m), Int32(shape.n), Int32(shape.k), 1,
        a.pointer, Int32(shape.lda), b.pointer, Int32(shape.ldb), shape.beta, c.pointer, Int32(shape.ldc))
    }
    // Calls per timed batch, chosen from a warm-up so that one batch lasts minimumSeconds.
    wrapped()
    direct()
    let single = max(seconds(calls: 1, wrapped), 1e-7)
    let calls = max(1, Int((minimumSeconds / single).rounded(.up)))
    var wrappedTimes: [Double] = []
    var directTimes: [Double] = []
    for _ in 0..<max(1, repetitions) {
      wrappedTimes.append(seconds(calls: calls, wrapped) / Double(calls))
      directTimes.append(seconds(calls: calls, direct) / Double(calls))
    }
    let wrappedSeconds = median(wrappedTimes)
    let directSeconds = median(directTimes)
    let hindcast = shape.flops / wrappedSeconds / 1e9
    let cblas = shape.flops / directSeconds / 1e9
    return Result(
      shape: shape, hindcastGflops: hindcast, cblasGflops: cblas, ratio: hindcast / cblas,
      secondsPerCall: wrappedSeconds)
  }

  /// `cblas_sgemm` (called directly) on `shape`: `repetitions` batches of at least
  /// `minimumSeconds` each. Returns the best batch's GFLOP/s by wall clock (the batch least
  /// disturbed by other processes on a shared machine) and GFLOP/s per second of process CPU time
  /// over all batches (all BLAS threads counted; insensitive to time spent descheduled).
  public static func cblasRates(_ shape: Shape, repetitions: Int, minimumSeconds: Double) -> (
    bestWall: Double, perCPUSecond: Double
  ) {
    let a = filled(shape.aCount, salt: 1)
    let b = filled(shape.bCount, salt: 2)
    let c = FloatBuffer(count: shape.cCount)
    let order: (Gemm.Operand) -> CBLAS_TRANSPOSE = { $0 == .normal ? CblasNoTrans : CblasTrans }
    let direct = {
      cblas_sgemm(
        CblasRowMajor, order(shape.opA), order(shape.opB), Int32(shape.m), Int32(shape.n), Int32(shape.k), 1,
        a.pointer, Int32(shape.lda), b.pointer, Int32(shape.ldb), shape.beta, c.pointer, Int32(shape.ldc))
    }
    direct()
    let single = max(seconds(calls: 1, direct), 1e-7)
    let calls = max(1, Int((minimumSeconds / single).rounded(.up)))
    var best = 0.0
    let cpuStart = processCPUSeconds()
    for _ in 0..<max(1, repetitions) {
      best = max(best, shape.flops * Double(calls) / seconds(calls: calls, direct) / 1e9)
    }
    let cpu = processCPUSeconds() - cpuStart
    let total = shape.flops * Double(calls * max(1, repetitions))
    return (best, cpu > 0 ? total / cpu / 1e9 : 0)
  }

  /// CPU time of the whole process (every thread), in seconds.
  public static func processCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
  }

  /// Runs every product of a plan as often as one step issues it (through `Gemm.multiply`, on
  /// scratch operands of the plan's shapes and strides, allocated and warmed once): the GEMM time
  /// of one step when its products run back to back.
  public final class Replay {
    private let operands: [(Shape, FloatBuffer, FloatBuffer, FloatBuffer)]

    public init(_ plan: [Shape]) {
      operands = plan.map { shape in
        (
          shape, GemmBenchmark.filled(shape.aCount, salt: 1), GemmBenchmark.filled(shape.bCount, salt: 2),
          FloatBuffer(count: shape.cCount)
        )
      }
      _ = seconds()
    }

    /// Seconds of one pass over the plan.
    public func seconds() -> Double {
      GemmBenchmark.seconds(calls: 1) {
        for (shape, a, b, c) in operands {
          for _ in 0..<shape.callsPerStep {
            Gemm.multiply(
              shape.opA, shape.opB, m: shape.m, n: shape.n, k: shape.k, a: a.pointer, lda: shape.lda,
              b: b.pointer, ldb: shape.ldb, beta: shape.beta, c: c.pointer, ldc: shape.ldc)
          }
        }
      }
    }
  }

  /// Wall-clock seconds of `calls` runs of `body`.
  public static func seconds(calls: Int, _ body: () -> Void) -> Double {
    let duration = ContinuousClock().measure {
      for _ in 0..<calls { body() }
    }
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
  }

  /// The median of `values` (the mean of the middle two for an even count; 0 when empty).
  public static func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  static func filled(_ count: Int, salt: Int) -> FloatBuffer {
    let buffer = FloatBuffer(count: count)
    for i in 0..<count { buffer.pointer[i] = Float((i * 7 + salt * 13) % 17 - 8) / 64 }
    return buffer
  }
}

extension BLASThreads {
  /// OpenBLAS's build description and detected core, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH ... (Zen)`.
  public static var libraryDescription: String {
    let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
    let words = config.split(separator: " ").joined(separator: " ")
    return "\(words) (core \(BLASCore.description))"
  }
}
