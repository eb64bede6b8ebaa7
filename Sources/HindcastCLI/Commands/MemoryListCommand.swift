import ArgumentParser
import HindcastMemory

/// Filters shared by `ls` and `grep`.
struct NoteFilterOptions: ParsableArguments {
  @Option(name: .long, help: "Only notes of this task family.")
  var family: String?

  @Option(name: .long, help: "Only notes whose scope lists this task feature.")
  var feature: String?

  @Option(name: .long, help: "Only notes of this origin (critique, verifiedRewrite, executionFeedback).")
  var origin: NoteOrigin?

  @Option(
    name: .long,
    help: "Statuses to show (repeatable; default active and retired; 'merged' adds absorbed notes).")
  var status: [NoteStatus] = []

  @Flag(name: .long, help: "Show notes of every status.")
  var all = false

  @Option(name: .long, help: "Order: value, uncertainty, uses, recency or id.")
  var sort: NoteSort = .value

  @Option(name: .long, help: "Show at most this many notes.")
  var limit: Int?

  @Option(name: .long, help: "Width of the text column (text output).")
  var width: Int = 60

  @Flag(name: .long, help: "Print JSON lines (one object per note) instead of a table.")
  var json = false

  func validate() throws {
    if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    guard width >= 8 else { throw ValidationError("--width must be at least 8") }
  }

  func query(text: String? = nil, caseSensitive: Bool = false) -> NoteQuery {
    let statuses: Set<NoteStatus> =
      all ? Set(NoteStatus.allCases) : (status.isEmpty ? [.active, .retired] : Set(status))
    return NoteQuery(
      family: family, feature: feature, origin: origin, statuses: statuses, text: text,
      caseSensitive: caseSensitive,
      sort: sort, limit: limit)
  }
}

struct MemoryListCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ls",
    abstract: "List notes with their measured value and 90% interval.",
    discussion: """
      VALUE is the verified-rewrite success rate with the note in the teacher's context minus \
      without it (Beta posterior means); WITH and WITHOUT are verified/trials in each arm.
      """)

  @OptionGroup var location: MemoryLocationOptions
  @OptionGroup var filter: NoteFilterOptions

  func run() throws {
    let store = try location.openForReading()
    emit(
      MemoryInspection.listing(
        filter.query().select(from: store.state), json: filter.json, textWidth: filter.width))
  }
}
