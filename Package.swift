// swift-tools-version:6.0
//
// Layers, lowest first. A target may only depend on targets above it in this list; the compiler
// enforces it because every dependency is declared here, and scripts/check-imports.sh (run by
// `make test`) fails when a target imports a module it does not declare.
//
//   C shims            COpenBLAS, CZstd, CSandbox, CHindcastSIMD (element-wise kernels with
//                      run-time AVX2 dispatch)
//   HindcastSupport    errors, seeded RNG, hashing, JSON helpers (no dependencies)
//   HindcastKernels    GEMM wrappers over OpenBLAS with naive references, vector kernels
//   HindcastStorage    atomic files, zstd, JSONL shards, safetensors, manifests
//   HindcastModel      tokenizer, transformer forward/backward, losses, KV-cache sampler
//   HindcastTraining   AdamW, schedules, trainer state, checkpoints, corpus loading
//   HindcastTasks      task families, executors, critics, checker sandbox
//   HindcastMemory     experiential memory store
//   HindcastRemote     client of OpenAI-compatible servers: sampling, scoring, retries
//   HindcastServe      loopback HTTP server: the embedded model behind an OpenAI API subset
//   HindcastPipeline   stages, specs, runner, objectives, experiments, reports
//   HindcastCLI        argument parsing only; calls the libraries
//   hindcast           the executable
import PackageDescription

let package = Package(
  name: "Hindcast",
  products: [
    .executable(name: "hindcast", targets: ["hindcast"]),
    // The libraries, for the libFuzzer harnesses in Fuzz/ (a separate package depending on this one).
    .library(name: "HindcastSupport", targets: ["HindcastSupport"]),
    .library(name: "HindcastStorage", targets: ["HindcastStorage"]),
    .library(name: "HindcastTraining", targets: ["HindcastTraining"]),
    .library(name: "HindcastTasks", targets: ["HindcastTasks"]),
    .library(name: "HindcastMemory", targets: ["HindcastMemory"]),
    .library(name: "HindcastPipeline", targets: ["HindcastPipeline"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
  ],
  targets: [
    .systemLibrary(
      name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
      providers: [.apt(["libzstd-dev"])]),
    .target(name: "CSandbox", path: "Sources/CSandbox"),
    .target(name: "CHindcastSIMD", path: "Sources/CHindcastSIMD"),
    .target(name: "HindcastSupport"),
    .target(name: "HindcastKernels", dependencies: ["COpenBLAS", "CHindcastSIMD"]),
    .target(name: "HindcastStorage", dependencies: ["CZstd", "HindcastSupport"]),
    .target(
      name: "HindcastModel",
      dependencies: ["HindcastKernels", "HindcastStorage", "HindcastSupport"]),
    .target(
      name: "HindcastTraining",
      dependencies: ["HindcastModel", "HindcastKernels", "HindcastStorage", "HindcastSupport"]),
    .target(name: "HindcastTasks", dependencies: ["CSandbox", "HindcastSupport"]),
    .target(name: "HindcastMemory", dependencies: ["HindcastStorage", "HindcastSupport"]),
    .target(name: "HindcastRemote", dependencies: ["HindcastModel", "HindcastSupport"]),
    .target(
      name: "HindcastServe",
      dependencies: ["HindcastModel", "HindcastSupport"]),
    .target(
      name: "HindcastPipeline",
      dependencies: [
        "HindcastModel", "HindcastTraining", "HindcastTasks", "HindcastMemory",
        "HindcastStorage", "HindcastKernels", "HindcastSupport", "HindcastRemote",
        .product(name: "Logging", package: "swift-log"),
      ]),
    .target(
      name: "HindcastCLI",
      dependencies: [
        "HindcastPipeline", "HindcastModel", "HindcastTraining", "HindcastTasks",
        "HindcastMemory", "HindcastStorage", "HindcastKernels", "HindcastSupport", "HindcastServe",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .executableTarget(name: "hindcast", dependencies: ["HindcastCLI"]),
    .testTarget(name: "HindcastSupportTests", dependencies: ["HindcastSupport"]),
    .testTarget(name: "HindcastKernelsTests", dependencies: ["HindcastKernels"]),
    .testTarget(name: "HindcastStorageTests", dependencies: ["HindcastStorage", "HindcastSupport"]),
    .testTarget(
      name: "HindcastModelTests",
      dependencies: [
        "HindcastModel", "HindcastTraining", "HindcastKernels", "HindcastStorage", "HindcastSupport",
      ]),
    .testTarget(name: "HindcastTasksTests", dependencies: ["HindcastTasks", "HindcastSupport"]),
    .testTarget(
      name: "HindcastMemoryTests", dependencies: ["HindcastMemory", "HindcastStorage", "HindcastSupport"]),
    .testTarget(
      name: "HindcastPipelineTests",
      dependencies: [
        "HindcastPipeline", "HindcastModel", "HindcastTraining", "HindcastTasks", "HindcastStorage",
        "HindcastSupport", "HindcastMemory", "HindcastRemote", "HindcastServe",
        .product(name: "Logging", package: "swift-log"),
      ]),
    .testTarget(
      name: "HindcastCLITests", dependencies: ["HindcastCLI", "HindcastKernels", "HindcastPipeline"]),
    .testTarget(
      name: "HindcastServeTests",
      dependencies: [
        "HindcastServe", "HindcastRemote", "HindcastModel", "HindcastTraining",
        "HindcastSupport",
      ]),
  ],
  swiftLanguageModes: [.v5]
)
