import ArgumentParser
import Foundation
import HindcastPipeline

/// `hindcast report`: the results markdown and plots from one or more experiment directories.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Write the results report (markdown + one SVG plot per family) from experiments.",
    discussion: """
      Reads every run's eval.json and metrics.jsonl under each experiment directory and writes the \
      markdown to --out and the plots beside it (docs/results-FAMILY.svg for docs/results.md). The \
      conclusion is computed from the numbers. Works on partial experiments.
      """)

  @Option(
    name: .customLong("experiment"),
    help: ArgumentHelp("Experiment directory (repeat for several families).", valueName: "dir"))
  var experiments: [String] = []

  @Option(name: .customLong("out"), help: ArgumentHelp("Markdown file to write.", valueName: "file"))
  var out: String = "docs/results.md"

  func validate() throws {
    guard !experiments.isEmpty else { throw ValidationError("give at least one --experiment directory") }
    guard out.hasSuffix(".md") else { throw ValidationError("--out must name a .md file") }
  }

  func run() throws {
    let command =
      "hindcast report " + experiments.map { "--experiment \($0)" }.joined(separator: " ") + " --out \(out)"
    let written = try ExperimentReport.write(experiments: experiments, outPath: out, command: command)
    let results = try experiments.map { try ExperimentResults.load(directory: $0) }
    let conclusions = results.map(FamilyConclusion.init)
    for conclusion in conclusions { print(conclusion.sentences.joined(separator: " ")) }
    print(FamilyConclusion.overall(conclusions))
    print("wrote " + written.joined(separator: ", "))
  }
}
