import Foundation
import HindcastKernels
import HindcastModel
import HindcastPipeline
import HindcastStorage
import HindcastSupport

/// What `hindcast bench --workload --json` writes (read by benchmarks/pytorch_workload.py).
struct WorkloadReport: Codable {
  var config: ModelConfig
  var threads: Int
  var simdPath: String
  var result: GenerationWorkload.Result
  /// Achieved GFLOP/s of the median run.
  var gflops: Double
  /// `cblas_sgemm` GFLOP/s at the decode shapes (`slots` rows through the four linear layers),
  /// best timed batch, measured in the same run.
  var sgemmGflops: Double
  var sgemmRows: Int
  var sgemmRatio: Double
  /// The same per second of process CPU time (all threads; spinning counts as busy): the rates to
  /// compare on a loaded machine, where wall time includes time spent descheduled.
  var cpuGflops: Double
  var sgemmCPUGflops: Double
  var sgemmCPURatio: Double

  enum CodingKeys: String, CodingKey {
    case config, threads, result, gflops
    case simdPath = "simd_path"
    case sgemmGflops = "sgemm_gflops"
    case sgemmRows = "sgemm_rows"
    case sgemmRatio = "sgemm_ratio"
    case cpuGflops = "cpu_gflops"
    case sgemmCPUGflops = "sgemm_cpu_gflops"
    case sgemmCPURatio = "sgemm_cpu_ratio"
  }
}

extension BenchCommand {
  var parsedPromptRange: ClosedRange<Int>? {
    let parts = promptRange.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, let low = parts[0], let high = parts[1], low >= 1, low <= high else { return nil }
    return low...high
  }

  /// The median of `values` (0 when empty).
  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  /// `--workload`: `GenerationWorkload` on a fresh model of `--model` with `--position`, then the
  /// sgemm reference at the decode shapes; table on standard output.
  func runWorkload() throws {
    guard var config = ModelConfig.presets[model], let range = parsedPromptRange,
      let encoding = PositionEncoding(rawValue: position)
    else { return }
    config.positionEncoding = encoding
    let threadCount = threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount)
    BLASThreads.set(threadCount)
    if SIMDPath.environmentRejected {
      StandardError.write(
        "bench: HINDCAST_SIMD names no path this processor runs; using \(SIMDPath.current)\n")
    }
    let settings = GenerationWorkload.Settings(
      sequences: sequences, promptLengths: range, newTokens: newTokens ?? 56, temperature: 1, slots: slots,
      repeats: repeats, seed: seed)
    StandardError.write(
      "bench --workload: model \(model) (\(config.positionEncoding.rawValue) positions), \(sequences) sequences, "
        + "prompts \(range.lowerBound)-\(range.upperBound), \(settings.newTokens) new tokens, \(slots) slots, "
        + "\(threadCount) threads, SIMD \(SIMDPath.current), \(BLASThreads.libraryDescription)\n")
    let transformer = try Transformer(config: config, seed: seed)
    let result = try GenerationWorkload.run(model: transformer, settings: settings)
    let rows = min(slots, sequences)
    let rates = PipelineBenchmark.sgemmRate(config: config, rows: rows)
    let sgemm = rates.wall
    let gflops = result.gflops
    let cpuMedian = Self.median(result.cpuSeconds)
    let cpuGflops = cpuMedian > 0 ? result.flops / cpuMedian / 1e9 : 0
    let report = WorkloadReport(
      config: config, threads: threadCount, simdPath: SIMDPath.current.rawValue, result: result,
      gflops: gflops, sgemmGflops: sgemm, sgemmRows: rows, sgemmRatio: sgemm > 0 ? gflops / sgemm : 0,
      cpuGflops: cpuGflops, sgemmCPUGflops: rates.cpu,
      sgemmCPURatio: rates.cpu > 0 ? cpuGflops / rates.cpu : 0)
    func f(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
    let table = [
      ["generation workload", "value"],
      ["sequences x new tokens", "\(sequences) x \(settings.newTokens)"],
      ["prompt tokens", "\(result.promptTokens)"],
      ["runs (s)", result.seconds.map { f($0, 3) }.joined(separator: ", ")],
      ["generated tok/s (median)", f(result.tokensPerSecond, 0)],
      ["GFLOP per run", f(result.flops / 1e9, 2)],
      ["GFLOP/s", f(gflops, 1)],
      ["cblas_sgemm GFLOP/s at \(rows) rows", f(sgemm, 1)],
      ["ratio to sgemm", f(report.sgemmRatio, 2)],
      ["CPU seconds per run (median)", f(cpuMedian, 3)],
      ["GFLOP per CPU-s", f(cpuGflops, 1)],
      ["sgemm GFLOP per CPU-s at \(rows) rows", f(rates.cpu, 1)],
      ["ratio to sgemm per CPU-s", f(report.sgemmCPURatio, 2)],
      ["mean sampled log-prob", f(result.meanLogprob, 3)],
    ]
    print(BenchTable.alignRows(table, rightFrom: 1), terminator: "")
    if let json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try AtomicFile.write(Array(try encoder.encode(report)) + [0x0A], to: json)
    }
  }
}
