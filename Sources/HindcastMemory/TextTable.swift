/// A plain-text table with aligned columns for terminal output. Cells longer than their
/// column's `maxWidth` are cut and end with "…". Widths count characters.
public struct TextTable: Sendable {
  public enum Alignment: Sendable {
    case left
    case right
  }

  public struct Column: Sendable {
    public let title: String
    public let alignment: Alignment
    public let maxWidth: Int?

    public init(_ title: String, _ alignment: Alignment = .left, maxWidth: Int? = nil) {
      self.title = title
      self.alignment = alignment
      self.maxWidth = maxWidth
    }
  }

  public let columns: [Column]
  public private(set) var rows: [[String]] = []

  public init(_ columns: [Column]) {
    self.columns = columns
  }

  /// Adds a row; missing cells are empty, extra cells are ignored.
  public mutating func add(_ cells: [String]) {
    rows.append(
      columns.indices.map { index in
        let cell = index < cells.count ? cells[index] : ""
        return columns[index].maxWidth.map { TextTable.truncate(cell, to: $0) } ?? cell
      })
  }

  /// The header and rows, columns separated by two spaces, without trailing spaces.
  public func render() -> [String] {
    var widths = columns.map { $0.title.count }
    for row in rows {
      for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
    }
    func line(_ cells: [String]) -> String {
      var parts: [String] = []
      for (index, cell) in cells.enumerated() {
        let padding = String(repeating: " ", count: widths[index] - cell.count)
        parts.append(columns[index].alignment == .left ? cell + padding : padding + cell)
      }
      var text = parts.joined(separator: "  ")
      while text.last == " " { text.removeLast() }
      return text
    }
    return [line(columns.map(\.title))] + rows.map(line)
  }

  /// `text` cut to at most `width` characters, the last one "…" when cut; newlines become spaces.
  public static func truncate(_ text: String, to width: Int) -> String {
    let flat = text.contains("\n") ? String(text.map { $0 == "\n" ? " " : $0 }) : text
    guard flat.count > width else { return flat }
    guard width > 1 else { return String("…".prefix(width)) }
    return String(flat.prefix(width - 1)) + "…"
  }
}
