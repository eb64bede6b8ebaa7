import ArgumentParser
import Foundation
import HindcastPipeline
import HindcastSupport

/// `hindcast export`: one round's data in a trainer's format.
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Export a round for TRL or verl (trl-sdpo, sft, verl, teacher-logprobs).",
    discussion: """
      Writes OUT/FORMAT.jsonl (default OUT: RUN/export/rNNNN). verl also gets OUT/verl.parquet, \
      converted by python3 with pyarrow (pip install pyarrow); the JSON lines are written either \
      way. Schema: docs/formats.md, "Export for trainers".
      """)

  @OptionGroup var options: RunOptions

  @Option(help: "Round to export.")
  var round: Int

  @Option(help: "trl-sdpo, sft, verl or teacher-logprobs.")
  var format: String

  @Option(help: ArgumentHelp("Output directory.", valueName: "dir"))
  var out: String?

  func run() throws {
    guard let chosen = ExportFormat(rawValue: format) else {
      throw ValidationError(
        "--format must be one of \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")); got '\(format)'"
      )
    }
    let run = try options.open()
    let runner = try PipelineRunner(run: run)
    let directory = out ?? run.layout.path("export/" + RunLayout.roundName(round))
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let rows = try RoundExport(run: run, tasks: runner.tasks, round: round).rows(chosen)
    let jsonl = directory + "/" + chosen.rawValue + ".jsonl"
    try RoundExport.writeJSONLines(rows, to: jsonl)
    print("wrote \(rows.count) rows to \(jsonl)")
    if chosen == .verl {
      let parquet = directory + "/verl.parquet"
      try ParquetConversion.convert(jsonl: jsonl, parquet: parquet)
      print("wrote \(parquet)")
    }
  }
}

/// Converts JSON lines to Parquet with python3 and pyarrow (Debian has no Arrow library; the
/// embedded pipeline itself never needs Python). Writes to a temporary name, then renames.
enum ParquetConversion {
  static let script = """
    import sys
    try:
        import pyarrow.json, pyarrow.parquet
    except ImportError:
        sys.stderr.write("pyarrow is missing: python3 -m pip install pyarrow\\n"); sys.exit(3)
    import os
    table = pyarrow.json.read_json(sys.argv[1])
    pyarrow.parquet.write_table(table, sys.argv[2] + ".tmp")
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    """

  static func convert(jsonl: String, parquet: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, jsonl, parquet]
    let errors = Pipe()
    process.standardError = errors
    do {
      try process.run()
    } catch {
      throw HindcastError(
        .missingPrerequisite, "cannot start python3 to write Parquet: \(error)", location: parquet,
        hint: "install python3 and pyarrow, or train from \(jsonl)")
    }
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw HindcastError(
        .missingPrerequisite,
        "python3 could not write Parquet (status \(process.terminationStatus)): "
          + message.trimmingCharacters(in: .whitespacesAndNewlines),
        location: parquet, hint: "python3 -m pip install pyarrow; the JSON lines are in \(jsonl)")
    }
  }
}
