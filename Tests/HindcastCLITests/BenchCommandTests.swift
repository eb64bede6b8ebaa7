import Foundation
import HindcastKernels
import Testing

@Suite struct BenchCommandTests {
  static func makeDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "hindcast-bench-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// A positive, finite number at `key` of `object`.
  static func positive(_ object: [String: Any], _ key: String) -> Bool {
    guard let value = object[key] as? Double else { return false }
    return value.isFinite && value > 0
  }

  @Test func tinyRunWritesEveryPartToJSON() throws {
    let directory = try Self.makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let result = try runHindcast(
      [
        "bench", "--model", "tiny", "--threads", "1", "--batch", "2", "--seq", "16", "--steps", "2",
        "--repeats",
        "1", "--gemm-seconds", "0.001", "--prompt", "8", "--new-tokens", "4", "--decode-batches", "1,3",
        "--json", "out/bench.json",
      ], in: directory)
    #expect(result.status == 1, "the directory of --json does not exist yet")
    #expect(result.stderr.contains("the directory of --json does not exist"), "\(result.stderr)")
    #expect(!result.stderr.contains("gemm "), "it must fail before measuring")

    try FileManager.default.createDirectory(
      atPath: directory + "/out", withIntermediateDirectories: true)
    let run = try runHindcast(
      [
        "bench", "--model", "tiny", "--threads", "1", "--batch", "2", "--seq", "16", "--steps", "2",
        "--repeats",
        "1", "--gemm-seconds", "0.001", "--prompt", "8", "--new-tokens", "4", "--decode-batches", "1,3",
        "--json", "out/bench.json",
      ], in: directory)
    #expect(run.status == 0, "\(run.stderr)")
    for heading in ["hindcast GFLOP/s", "tokens/s", "GEMM share of step", "decode tok/s"] {
      #expect(run.stdout.contains(heading), "table lacks '\(heading)': \(run.stdout)")
    }
    let data = try #require(FileManager.default.contents(atPath: directory + "/out/bench.json"))
    let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect(report["parameters"] as? Int == 121_088)
    #expect((report["blas"] as? String)?.isEmpty == false)

    let gemm = try #require(report["gemm"] as? [[String: Any]])
    #expect(gemm.count == 21, "one entry per product of a training step")
    let names = gemm.compactMap { ($0["shape"] as? [String: Any])?["name"] as? String }
    for name in ["attn.qkv forward", "attn.proj dW", "mlp.fc dx", "mlp.proj forward", "logits dW"] {
      #expect(names.contains(name), "missing GEMM \(name)")
    }
    for entry in gemm {
      #expect(Self.positive(entry, "hindcast_gflops") && Self.positive(entry, "cblas_gflops"))
      #expect(Self.positive(entry, "ratio"))
    }

    let training = try #require(report["training"] as? [String: Any])
    for key in ["tokens_per_second", "step_seconds", "gemm_seconds", "gemm_fraction", "effective_gflops"] {
      #expect(Self.positive(training, key), "training.\(key) = \(String(describing: training[key]))")
    }
    #expect(training["batch"] as? Int == 2 && training["seq"] as? Int == 16)
    let loss = try #require(training["last_loss"] as? Double)
    #expect(abs(loss - log(256.0)) < 1, "a fresh model's loss on random bytes is near ln 256; got \(loss)")

    let decode = try #require(report["decode"] as? [[String: Any]])
    #expect(decode.compactMap { $0["batch"] as? Int } == [1, 3])
    for entry in decode {
      #expect(
        Self.positive(entry, "decode_tokens_per_second") && Self.positive(entry, "milliseconds_per_step"))
      #expect(entry["new_tokens"] as? Int == 4 && entry["prompt_length"] as? Int == 8)
    }
  }

  @Test func onlySelectsPartsAndBadOptionsAreUsageErrors() throws {
    let directory = try Self.makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let run = try runHindcast(
      [
        "bench", "--model", "tiny", "--threads", "1", "--batch", "1", "--seq", "8", "--steps", "1",
        "--repeats",
        "1", "--only", "train", "--json", "only.json",
      ], in: directory)
    #expect(run.status == 0, "\(run.stderr)")
    let data = try #require(FileManager.default.contents(atPath: directory + "/only.json"))
    let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect((report["gemm"] as? [Any])?.isEmpty == true)
    #expect((report["decode"] as? [Any])?.isEmpty == true)
    #expect(report["training"] is [String: Any])

    let badModel = try runHindcast(["bench", "--model", "huge"], in: directory)
    #expect(badModel.status == 64 || badModel.status == 2, "status \(badModel.status)")
    #expect(badModel.stderr.contains("unknown --model 'huge'"))
    let badSeq = try runHindcast(
      ["bench", "--model", "tiny", "--seq", "65", "--only", "train"], in: directory)
    #expect(badSeq.status == 1)
    #expect(badSeq.stderr.contains("--seq must be in 1...64"), "\(badSeq.stderr)")
    let badBatches = try runHindcast(["bench", "--decode-batches", "1,x"], in: directory)
    #expect(badBatches.status != 0 && badBatches.stderr.contains("--decode-batches"))
  }

  /// The executable restarts itself on OpenBLAS's pinned kernels (`BLASCore`) unless the user
  /// chose kernels, and reports which ones it ran on.
  @Test func theExecutableRunsOnThePinnedBLASKernels() throws {
    let directory = try Self.makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    func blas(environment: [String: String]) throws -> String {
      let run = try runHindcast(
        [
          "bench", "--model", "tiny", "--threads", "1", "--batch", "1", "--seq", "8", "--steps", "1",
          "--repeats", "1", "--only", "train", "--json", "blas.json",
        ], in: directory, environment: environment)
      #expect(run.status == 0, "\(run.stderr)")
      let data = try #require(FileManager.default.contents(atPath: directory + "/blas.json"))
      let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
      return try #require(report["blas"] as? String)
    }
    // The test process's environment has no OPENBLAS_CORETYPE (CI and `make test` never set it).
    let pinned = try blas(environment: [:])
    if BLASCore.processorRunsPinned {
      #expect(pinned.hasSuffix("(core \(BLASCore.pinned))"), "\(pinned)")
    } else {
      #expect(pinned.contains("processor lacks AVX2/FMA"), "\(pinned)")
    }
    // A user's choice is kept and named ("Sandybridge" runs on every AVX processor; OpenBLAS
    // falls back to its own choice where it cannot, and the report still names the request).
    let chosen = try blas(environment: [BLASCore.environmentVariable: "Sandybridge"])
    #expect(chosen.contains("\(BLASCore.environmentVariable)=Sandybridge)"), "\(chosen)")
  }
}
