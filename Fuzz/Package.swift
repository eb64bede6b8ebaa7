// swift-tools-version:6.0
//
// libFuzzer harnesses for Hindcast's parsers: a separate package so that the main build is not
// affected. Build and run with Fuzz/run.sh (see Fuzz/README.md); each harness is an executable
// whose entry point is libFuzzer's, so it is built with `-sanitize=fuzzer,address` and
// `-parse-as-library`.
import PackageDescription

let hindcast = "Hindcast"

func harness(_ name: String, _ modules: [String]) -> Target {
  .executableTarget(
    name: name, dependencies: ["FuzzSupport"] + modules.map { .product(name: $0, package: hindcast) })
}

let package = Package(
  name: "HindcastFuzz",
  dependencies: [.package(name: hindcast, path: "..")],
  targets: [
    .target(name: "FuzzSupport"),
    harness("FuzzSpec", ["HindcastPipeline"]),
    harness("FuzzShard", ["HindcastStorage", "HindcastSupport"]),
    harness("FuzzJSON", ["HindcastSupport", "HindcastStorage", "HindcastMemory"]),
    harness("FuzzSafeTensors", ["HindcastStorage", "HindcastTraining"]),
    harness("FuzzCheckerOutput", ["HindcastTasks"]),
    harness("FuzzMemoryLog", ["HindcastMemory", "HindcastStorage", "HindcastSupport"]),
  ],
  swiftLanguageModes: [.v5]
)
