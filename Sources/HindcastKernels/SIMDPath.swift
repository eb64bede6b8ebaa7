import CHindcastSIMD

/// The instruction-set path of Hindcast's own element-wise kernels (GELU, LayerNorm, softmax,
/// rotary embeddings and the decode path's kernels; the C target CHindcastSIMD).
///
/// Each kernel is compiled twice from one C source, for baseline x86-64 (SSE2, any x86-64
/// processor; the only path on other architectures) and for AVX2, and the path is chosen once per
/// process at first use: the environment variable `HINDCAST_SIMD` (`baseline` or `avx2`) when it
/// names a path this processor supports, else the best one it supports. Contract: every path
/// performs the same IEEE operations in the same order (no fused multiply-add, reductions with
/// eight partial sums whatever the vector width), so results are bit-identical on every path and
/// every machine, and equal to the Swift reference kernels (`KernelReference`).
public enum SIMDPath: String, CaseIterable, Sendable {
  case baseline
  case avx2

  init(level: Int32) { self = level == Int32(HC_SIMD_AVX2) ? .avx2 : .baseline }

  var level: Int32 {
    switch self {
    case .baseline: Int32(HC_SIMD_BASELINE)
    case .avx2: Int32(HC_SIMD_AVX2)
    }
  }

  /// The path the kernels use now.
  public static var current: SIMDPath { SIMDPath(level: hc_simd_level()) }

  /// The best path this processor supports.
  public static var best: SIMDPath { SIMDPath(level: hc_simd_best_level()) }

  /// Every path this processor can run, baseline first.
  public static var available: [SIMDPath] { allCases.filter { $0.level <= best.level } }

  /// True when `HINDCAST_SIMD` is set to a value that is not a path this processor supports (it
  /// is then ignored and `best` is used).
  public static var environmentRejected: Bool { hc_simd_environment_rejected() != 0 }

  /// Runs `body` with the kernels on `path` and restores the previous path afterwards. For tests
  /// and benchmarks: not safe while kernels run on other threads. Returns nil (without running
  /// `body`) when this processor cannot run `path`.
  public static func with<R>(_ path: SIMDPath, _ body: () throws -> R) rethrows -> R? {
    let previous = current
    guard hc_simd_set_level(path.level) != 0 else { return nil }
    defer { _ = hc_simd_set_level(previous.level) }
    return try body()
  }
}
