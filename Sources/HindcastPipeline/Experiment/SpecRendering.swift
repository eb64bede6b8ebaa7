import Foundation
import HindcastSupport

/// Renders pipeline specs as TOML text: a base spec's keys with some keys replaced. The output is
/// deterministic (fixed table order, keys sorted within a table), so the same inputs always give
/// byte-identical text and a frozen run spec can be compared with a freshly rendered one.
public enum SpecRendering {
  /// Table order of rendered specs (top-level keys come first).
  static let tableOrder = ["base", "model", "tasks", "pretrain", "rollout", "rewrite", "distill", "eval"]

  /// The text of `base` with `overrides` applied (dotted keys, e.g. `distill.lr`), preceded by
  /// `comment` lines. The result is parsed as a `PipelineSpec` before it is returned, so a bad
  /// override fails here with the key named.
  public static func render(
    base: TOMLDocument, overrides: [String: TOMLDocument.Value], comment: [String]
  ) throws -> String {
    var values = base.entries.mapValues(\.value)
    for (key, value) in overrides { values[key] = value }
    var tables: [String: [(key: String, value: TOMLDocument.Value)]] = [:]
    for (path, value) in values {
      let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
      if parts.count == 2 {
        tables[parts[0], default: []].append((parts[1], value))
      } else {
        tables["", default: []].append((path, value))
      }
    }
    var lines = comment.map { "# " + $0 }
    let order = [""] + tableOrder + tables.keys.filter { !tableOrder.contains($0) && !$0.isEmpty }.sorted()
    for table in order {
      guard let entries = tables[table], !entries.isEmpty else { continue }
      if !table.isEmpty { lines += ["", "[\(table)]"] }
      for entry in entries.sorted(by: { $0.key < $1.key }) {
        lines.append("\(key(entry.key)) = \(literal(entry.value))")
      }
    }
    let text = lines.joined(separator: "\n") + "\n"
    _ = try PipelineSpec.parse(text: text, source: "rendered spec (\(base.source))")
    return text
  }

  /// A key, quoted when it is not a bare TOML key.
  static func key(_ name: String) -> String {
    let bare =
      !name.isEmpty
      && name.utf8.allSatisfy { c in
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45
      }
    return bare ? name : quoted(name)
  }

  /// A TOML literal that `TOMLDocument` reads back as the same value.
  public static func literal(_ value: TOMLDocument.Value) -> String {
    switch value {
    case .string(let s): return quoted(s)
    case .integer(let i): return String(i)
    case .float(let f):
      let text = "\(f)"
      return text.contains(where: { ".eE".contains($0) }) ? text : text + ".0"
    case .bool(let b): return b ? "true" : "false"
    case .array(let items): return "[" + items.map(literal).joined(separator: ", ") + "]"
    }
  }

  static func quoted(_ s: String) -> String {
    var out = "\""
    for c in s {
      switch c {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      default: out.append(c)
      }
    }
    return out + "\""
  }
}
