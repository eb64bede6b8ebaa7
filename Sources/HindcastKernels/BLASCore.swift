import CHindcastSIMD
import COpenBLAS
import Foundation

/// Which OpenBLAS kernels compute Hindcast's matrix products.
///
/// Debian's OpenBLAS is built for many processors and picks its kernels when the library loads,
/// from the processor it finds: AMD Zen 3 gets the AVX2 kernels ("Zen", the same code and
/// blocking as "Haswell"), Zen 4 the AVX-512 ones ("Cooperlake"). The two sum a dot product in
/// different orders, so the same training run gave different bits, and a different quickstart
/// base (47.6% against 52.9% greedy pass@1), on the two kinds of machine.
///
/// Contract: on every x86-64 processor with AVX2 and FMA, the `hindcast` executable runs with the
/// `Haswell` kernels (`pinned`), so its matrix products, and every result built on them, are the
/// same on every such machine for a given thread count. The library reads its choice from the
/// environment variable `OPENBLAS_CORETYPE` before `main` starts, so the executable pins by
/// restarting itself once with the variable set (`pinBLASKernels` in `HindcastCLI`). A user who sets the
/// variable keeps their choice; older processors keep the library's own; either way the kernels
/// in use are recorded (`current`, in the run manifest) so a mismatch is visible.
public enum BLASCore {
  /// The kernel family Hindcast pins where the processor can run it.
  public static let pinned = "Haswell"
  /// The environment variable OpenBLAS reads when it loads.
  public static let environmentVariable = "OPENBLAS_CORETYPE"

  /// The kernel family OpenBLAS uses in this process (`openblas_get_corename`).
  public static var current: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }

  /// Whether this processor runs the pinned kernels (AVX2 and FMA).
  public static var processorRunsPinned: Bool { hc_cpu_supports_avx2_fma() != 0 }

  /// Why the kernels in use are what they are, for manifests and benchmark reports:
  /// `Haswell` (pinned), `Zen (OPENBLAS_CORETYPE=Zen)` or `Sandybridge (processor lacks AVX2/FMA)`.
  public static var description: String {
    let name = current
    if let requested = ProcessInfo.processInfo.environment[environmentVariable], !requested.isEmpty,
      requested != pinned || name != pinned
    {
      return "\(name) (\(environmentVariable)=\(requested))"
    }
    if name == pinned { return name }
    return processorRunsPinned ? "\(name) (not pinned)" : "\(name) (processor lacks AVX2/FMA)"
  }

  /// True when the executable should restart itself to run on the pinned kernels: the processor
  /// runs them, the library chose others, and the user did not choose (`environment` has no
  /// `OPENBLAS_CORETYPE`, which also stops a second restart).
  public static func shouldRestart(environment: [String: String]) -> Bool {
    environment[environmentVariable] == nil && processorRunsPinned && current != pinned
  }
}
