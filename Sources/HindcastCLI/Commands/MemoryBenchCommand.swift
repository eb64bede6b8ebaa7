import ArgumentParser
import HindcastMemory

/// Hidden: `hindcast memory bench` measures append throughput, open time, compaction and
/// compression on synthetic events (docs/memory.md records the numbers).
struct MemoryBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure memory append throughput, open time and compression (a benchmark, not a test).",
    shouldDisplay: false)

  @Option(name: .long, help: ArgumentHelp("A scratch directory the benchmark fills.", valueName: "dir"))
  var dir: String

  @Option(name: .long, help: "Events appended and replayed.")
  var events: Int = 1_000_000

  @Option(name: .long, help: "Events per append call.")
  var batch: Int = 1000

  @Option(name: .long, help: "Decode threads when opening.")
  var threads: Int = 2

  @Option(name: .long, help: "Single-event appends measured separately.")
  var singleAppends: Int = 2000

  @Flag(name: .long, help: "Do not fsync after each append (process-crash durability only).")
  var noFsync = false

  @Flag(name: .long, help: "Stop after measuring appends and opening (keeps DIR/log uncompacted).")
  var stopAfterOpen = false

  @Option(name: .long, help: "Seed of the synthetic events.")
  var seed: UInt64 = 1

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Measure only compression, on events rebuilt from this store's notes and observations (for example RUN/memory).",
      valueName: "store"))
  var compressionOf: String?

  func validate() throws {
    guard events >= 1, batch >= 1, threads >= 1, singleAppends >= 0 else {
      throw ValidationError("--events, --batch and --threads must be at least 1, --single-appends at least 0")
    }
  }

  func run() throws {
    if let compressionOf {
      let store = try MemoryStore.open(at: compressionOf, options: .readOnly(decodeThreads: threads))
      let results = try MemoryBenchmark.compression(rebuilding: store.state, in: dir)
      emit(render(results))
      return
    }
    var configuration = MemoryBenchmark.Configuration(
      events: events, batchSize: batch, threads: threads,
      durability: noFsync ? .processCrashOnly : .fsyncEachAppend,
      singleAppends: singleAppends, compressionEvents: min(events, 20000), seed: seed)
    configuration.stopAfterOpen = stopAfterOpen
    let results = try MemoryBenchmark.run(in: dir, configuration: configuration) { line in
      StandardError.write("bench: \(line)\n")
    }
    emit(render(results))
  }

  private func render(_ results: [MemoryBenchmark.Measurement]) -> [String] {
    var table = TextTable([.init("MEASUREMENT"), .init("VALUE", .right), .init("UNIT")])
    for result in results {
      let value = result.value >= 100 ? String(Int(result.value.rounded())) : String(format2(result.value))
      table.add([result.name, value, result.unit])
    }
    return table.render()
  }

  private func format2(_ value: Double) -> String {
    let scaled = Int((value * 100).rounded())
    let fraction = String(scaled % 100)
    return "\(scaled / 100)." + (fraction.count == 1 ? "0" : "") + fraction
  }
}
