import Foundation
import HindcastStorage
import HindcastSupport

/// Measures the store's throughput and compression on synthetic events shaped like a long run
/// (see `SyntheticMemory.events`). Used by `hindcast memory bench`; not a test (no timing is
/// asserted anywhere).
public enum MemoryBenchmark {
  public struct Configuration: Sendable {
    /// Events appended and then replayed.
    public var events: Int
    /// Events per `append` call (one write and, with fsync, one fsync each).
    public var batchSize: Int
    /// Threads used to decode while opening.
    public var threads: Int
    public var durability: MemoryDurability
    /// Single-event appends measured separately (each its own write and fsync).
    public var singleAppends: Int
    /// Events of the compression comparison (with and without a dictionary).
    public var compressionEvents: Int
    public var seed: UInt64
    /// Skip compaction and everything after it (leaves the log in place for profiling).
    public var stopAfterOpen: Bool = false

    public init(
      events: Int = 1_000_000, batchSize: Int = 1000, threads: Int = 2,
      durability: MemoryDurability = .fsyncEachAppend,
      singleAppends: Int = 2000, compressionEvents: Int = 20000, seed: UInt64 = 1
    ) {
      self.events = events
      self.batchSize = batchSize
      self.threads = threads
      self.durability = durability
      self.singleAppends = singleAppends
      self.compressionEvents = compressionEvents
      self.seed = seed
    }
  }

  public struct Measurement: Sendable {
    public var name: String
    public var value: Double
    public var unit: String
  }

  /// Runs every measurement in `directory` (which it fills and leaves for inspection).
  /// `progress` receives a line before each phase.
  public static func run(
    in directory: String, configuration: Configuration, progress: (String) -> Void = { _ in }
  ) throws -> [Measurement] {
    var results: [Measurement] = []
    let clock = ContinuousClock()
    func seconds(_ duration: Duration) -> Double {
      Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
    progress("generating \(configuration.events) events")
    var random = SeededRandom(seed: configuration.seed)
    let events = SyntheticMemory.events(count: configuration.events, random: &random)

    // Batched appends.
    let logDirectory = directory + "/log"
    try? FileManager.default.removeItem(atPath: logDirectory)
    progress("appending in batches of \(configuration.batchSize) (\(configuration.durability.rawValue))")
    let store = try MemoryStore.open(
      at: logDirectory,
      options: MemoryOpenOptions(durability: configuration.durability, decodeThreads: configuration.threads))
    let appendTime = try clock.measure {
      var start = 0
      while start < events.count {
        let end = min(events.count, start + configuration.batchSize)
        try store.append(Array(events[start..<end]))
        start = end
      }
    }
    results.append(
      Measurement(
        name: "append, batches of \(configuration.batchSize)",
        value: Double(events.count) / seconds(appendTime), unit: "records/s"))
    let statistics = store.storageStatistics()
    if let ratio = statistics.logCompressionRatio {
      results.append(
        Measurement(name: "log compression (JSON bytes / bytes on disk)", value: ratio, unit: "x"))
    }
    results.append(
      Measurement(
        name: "log size", value: Double(statistics.segments.reduce(0) { $0 + $1.bytes }), unit: "bytes"))
    store.close()

    // Opening: full replay of the log. The opened store is released after the clock stops.
    progress("opening \(events.count) events from the log")
    var replayed = 0
    for threads in Set([configuration.threads, 1]).sorted(by: >) {
      let (wall, cpu, reader) = try timed {
        try MemoryStore.open(at: logDirectory, options: .readOnly(decodeThreads: threads))
      }
      replayed = reader.state.eventCount
      let label = "open \(replayed) events from the log (\(threads) thread\(threads == 1 ? "" : "s"))"
      results.append(Measurement(name: label, value: wall, unit: "s"))
      results.append(Measurement(name: label + ", CPU time", value: cpu, unit: "s"))
    }

    if configuration.stopAfterOpen { return results }

    // Compaction and opening from the snapshot.
    progress("compacting")
    let writer = try MemoryStore.open(at: logDirectory)
    let (compactWall, _, _) = try timed { try writer.compact(label: "benchmark") }
    results.append(Measurement(name: "compact \(replayed) events", value: compactWall, unit: "s"))
    writer.close()
    let (snapshotWall, snapshotCPU, _) = try timed {
      try MemoryStore.open(at: logDirectory, options: .readOnly(decodeThreads: configuration.threads))
    }
    let snapshotLabel = "open from the snapshot (\(configuration.threads) threads)"
    results.append(Measurement(name: snapshotLabel, value: snapshotWall, unit: "s"))
    results.append(Measurement(name: snapshotLabel + ", CPU time", value: snapshotCPU, unit: "s"))

    // Single-event durable appends.
    if configuration.singleAppends > 0 {
      progress("appending \(configuration.singleAppends) events one by one")
      let singleDirectory = directory + "/single"
      try? FileManager.default.removeItem(atPath: singleDirectory)
      let single = try MemoryStore.open(
        at: singleDirectory, options: MemoryOpenOptions(durability: configuration.durability))
      let count = min(configuration.singleAppends, events.count)
      let singleTime = try clock.measure {
        for event in events.prefix(count) { try single.append([event]) }
      }
      results.append(
        Measurement(
          name: "append, one event per call", value: Double(count) / seconds(singleTime), unit: "records/s"))
      single.close()
    }

    results.append(
      contentsOf: try compression(
        in: directory, events: Array(events.prefix(configuration.compressionEvents))))
    return results
  }

  /// Wall-clock and CPU seconds (user + system, all threads of the process) of `body`, and its
  /// result (released by the caller, outside the measurement).
  static func timed<Result>(_ body: () throws -> Result) throws -> (wall: Double, cpu: Double, result: Result)
  {
    func cpuSeconds() -> Double {
      var usage = rusage()
      getrusage(RUSAGE_SELF.rawValue, &usage)
      return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) * 1e-6
    }
    let clock = ContinuousClock()
    let cpuStart = cpuSeconds()
    let start = clock.now
    let result = try body()
    let elapsed = start.duration(to: clock.now)
    let cpu = cpuSeconds() - cpuStart
    let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    return (wall, cpu, result)
  }

  /// Compression of the same events with and without a trained dictionary, for all records and
  /// for `noteAdded` records alone (the notes' text).
  static func compression(in directory: String, events: [MemoryEvent]) throws -> [Measurement] {
    guard !events.isEmpty else { return [] }
    var results: [Measurement] = []
    var dictionary: [UInt8]?
    for withDictionary in [false, true] {
      let path = directory + (withDictionary ? "/ratio-dictionary" : "/ratio-plain")
      try? FileManager.default.removeItem(atPath: path)
      let settings = MemorySettings(dictionaryTrainingThreshold: withDictionary ? 1000 : 0)
      let store = try MemoryStore.open(
        at: path, options: MemoryOpenOptions(settings: settings, durability: .processCrashOnly))
      for start in stride(from: 0, to: events.count, by: 1000) {
        try store.append(Array(events[start..<min(events.count, start + 1000)]))
      }
      if withDictionary {
        dictionary =
          store.manifest.currentDictionary == 0 ? nil : store.dictionaries[store.manifest.currentDictionary]
      }
      let ratio = store.storageStatistics().logCompressionRatio ?? 0
      results.append(
        Measurement(
          name: "all records, \(withDictionary ? "with a dictionary trained after 1000" : "no dictionary")",
          value: ratio,
          unit: "x"))
      store.close()
    }
    let notes = events.compactMap { event -> [UInt8]? in
      if case .noteAdded = event { return EventCoding.encode(event) }
      return nil
    }
    let observations = events.compactMap { event -> [UInt8]? in
      if case .observation = event { return EventCoding.encode(event) }
      return nil
    }
    for (label, records) in [("note records", notes), ("observation records", observations)]
    where !records.isEmpty {
      for useDictionary in [false, true] {
        guard !useDictionary || dictionary != nil else { continue }
        let compressor = try ZstdFrameCompressor(level: 3, dictionary: useDictionary ? dictionary : nil)
        var json = 0
        var framed = 0
        for record in records {
          var buffer: [UInt8] = []
          try LogFrame.append(
            json: record, dictionaryId: useDictionary ? 1 : 0, commits: true, compressor: compressor,
            to: &buffer)
          json += record.count
          framed += buffer.count
        }
        results.append(
          Measurement(
            name:
              "\(label) (\(records.count), mean \(json / records.count) B), \(useDictionary ? "dictionary" : "no dictionary")",
            value: Double(json) / Double(framed), unit: "x"))
      }
    }
    return results
  }
}
