import Foundation
import HindcastKernels

#if canImport(Glibc)
  import Glibc
#endif

/// Makes the `hindcast` executable run on OpenBLAS's pinned kernels (`BLASCore`): when the
/// library chose other kernels and the user did not choose, sets `OPENBLAS_CORETYPE` and replaces
/// the process with a fresh copy of itself, same arguments. Returns (and the process goes on with
/// the library's own choice, which the run manifest then records) when no restart is needed or
/// the restart fails.
///
/// Call it first thing in `main`, before any work, and only from the executable: it replaces the
/// calling process, so a test runner must never call it.
public func pinBLASKernels() {
  guard BLASCore.shouldRestart(environment: ProcessInfo.processInfo.environment) else { return }
  setenv(BLASCore.environmentVariable, BLASCore.pinned, 1)
  execv("/proc/self/exe", CommandLine.unsafeArgv)
  // Still here: the exec failed. Carry on with the library's own kernels.
  StandardError.write(
    "note: could not restart on OpenBLAS's \(BLASCore.pinned) kernels (\(String(cString: strerror(errno)))); "
      + "results may differ from other machines' (set \(BLASCore.environmentVariable)=\(BLASCore.pinned) to pin)\n"
  )
}
