import Foundation

/// A line plot with error bands rendered as a standalone SVG document (no scripts, no external
/// fonts or styles), which browsers and GitHub's image viewer display as is.
public struct SVGPlot: Sendable {
  public struct Point: Sendable, Equatable {
    public var x: Double
    public var y: Double
    /// Half-height of the error band at this point (0 for none).
    public var error: Double

    public init(x: Double, y: Double, error: Double) {
      self.x = x
      self.y = y
      self.error = error
    }
  }

  public struct Series: Sendable {
    public var name: String
    public var points: [Point]
    public var dashed: Bool

    public init(name: String, points: [Point], dashed: Bool) {
      self.name = name
      self.points = points
      self.dashed = dashed
    }
  }

  /// A horizontal reference line across the plot.
  public struct Reference: Sendable {
    public var y: Double
    public var label: String

    public init(y: Double, label: String) {
      self.y = y
      self.label = label
    }
  }

  public var title: String
  public var xLabel: String
  public var yLabel: String
  public var series: [Series]
  public var references: [Reference] = []
  /// Tick labels of the y axis are printed as percentages when true.
  public var yPercent = true
  public var width = 820.0
  public var height = 480.0

  public init(title: String, xLabel: String, yLabel: String, series: [Series], references: [Reference] = []) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
    self.references = references
  }

  /// Colour-blind-friendly palette (Okabe-Ito, then Tableau), cycled.
  static let palette = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B", "#7F7F7F",
    "#BCBD22", "#17BECF", "#9467BD",
  ]

  /// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks over `span`.
  static func tickStep(span: Double, count: Int) -> Double {
    guard span > 0, span.isFinite else { return 1 }
    let raw = span / Double(max(1, count))
    let power = pow(10, floor(log10(raw)))
    let fraction = raw / power
    let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
    return nice * power
  }

  static func ticks(from low: Double, to high: Double, step: Double) -> [Double] {
    var values: [Double] = []
    var value = (low / step).rounded(.up) * step
    while value <= high + step * 1e-9 && values.count < 100 {
      values.append(abs(value) < step * 1e-9 ? 0 : value)
      value += step
    }
    return values
  }

  static func number(_ value: Double) -> String { String(format: "%.1f", value) }

  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  static func tickLabel(_ value: Double, step: Double) -> String {
    if step >= 1 {
      let rounded = Int(value.rounded())
      return rounded >= 10_000 && rounded % 1000 == 0 ? "\(rounded / 1000)k" : "\(rounded)"
    }
    let decimals = max(0, Int(ceil(-log10(step))))
    return String(format: "%.\(decimals)f", value)
  }

  /// The SVG document.
  public func render() -> String {
    let left = 72.0, right = 230.0, top = 48.0, bottom = 62.0
    let plotWidth = width - left - right
    let plotHeight = height - top - bottom
    let allPoints = series.flatMap(\.points)
    let xMax = max(1, allPoints.map(\.x).max() ?? 1)
    var yLow = (allPoints.map { $0.y - $0.error } + references.map(\.y)).min() ?? 0
    var yHigh = (allPoints.map { $0.y + $0.error } + references.map(\.y)).max() ?? 1
    yLow = max(0, floor(yLow * 10) / 10)
    yHigh = min(1, ceil(yHigh * 10) / 10)
    if yHigh - yLow < 0.1 { yHigh = min(1, yLow + 0.1) }
    if yHigh - yLow < 0.1 { yLow = max(0, yHigh - 0.1) }
    let xStep = Self.tickStep(span: xMax, count: 6)
    let xHigh = (xMax / xStep).rounded(.up) * xStep
    let yStep = Self.tickStep(span: yHigh - yLow, count: 5)
    func px(_ x: Double) -> Double { left + x / xHigh * plotWidth }
    func py(_ y: Double) -> Double { top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight }
    let n = Self.number

    var out: [String] = []
    out.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    out.append(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(height))\" "
        + "viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"
    )
    out.append("<title>\(Self.escape(title))</title>")
    out.append("<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#ffffff\"/>")
    out.append(
      "<text x=\"\(n(left))\" y=\"24\" font-size=\"14\" font-weight=\"bold\" fill=\"#222222\">\(Self.escape(title))</text>"
    )
    // Grid and ticks.
    for value in Self.ticks(from: 0, to: xHigh, step: xStep) {
      let x = px(value)
      out.append(
        "<line x1=\"\(n(x))\" y1=\"\(n(top))\" x2=\"\(n(x))\" y2=\"\(n(top + plotHeight))\" stroke=\"#e6e6e6\"/>"
      )
      out.append(
        "<text x=\"\(n(x))\" y=\"\(n(top + plotHeight + 18))\" text-anchor=\"middle\" fill=\"#444444\">"
          + "\(Self.tickLabel(value, step: xStep))</text>")
    }
    for value in Self.ticks(from: yLow, to: yHigh, step: yStep) {
      let y = py(value)
      let label = yPercent ? String(format: "%.0f%%", value * 100) : Self.tickLabel(value, step: yStep)
      out.append(
        "<line x1=\"\(n(left))\" y1=\"\(n(y))\" x2=\"\(n(left + plotWidth))\" y2=\"\(n(y))\" stroke=\"#e6e6e6\"/>"
      )
      out.append(
        "<text x=\"\(n(left - 8))\" y=\"\(n(y + 4))\" text-anchor=\"end\" fill=\"#444444\">\(label)</text>")
    }
    out.append(
      "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(plotWidth))\" height=\"\(n(plotHeight))\" "
        + "fill=\"none\" stroke=\"#444444\"/>")
    out.append(
      "<text x=\"\(n(left + plotWidth / 2))\" y=\"\(n(height - 18))\" text-anchor=\"middle\" fill=\"#222222\">"
        + "\(Self.escape(xLabel))</text>")
    out.append(
      "<text transform=\"translate(18 \(n(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" "
        + "fill=\"#222222\">\(Self.escape(yLabel))</text>")
    for reference in references {
      let y = py(reference.y)
      out.append(
        "<line x1=\"\(n(left))\" y1=\"\(n(y))\" x2=\"\(n(left + plotWidth))\" y2=\"\(n(y))\" stroke=\"#999999\" "
          + "stroke-dasharray=\"2 3\"/>")
      out.append(
        "<text x=\"\(n(left + 6))\" y=\"\(n(y - 5))\" fill=\"#777777\" font-size=\"11\">\(Self.escape(reference.label))</text>"
      )
    }
    // Bands first so that every line stays visible on top of them.
    for (index, item) in series.enumerated() where item.points.count > 1 {
      let color = Self.palette[index % Self.palette.count]
      let upper = item.points.map { "\(n(px($0.x))),\(n(py(min(yHigh, $0.y + $0.error))))" }
      let lower = item.points.reversed().map { "\(n(px($0.x))),\(n(py(max(yLow, $0.y - $0.error))))" }
      out.append(
        "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color)\" fill-opacity=\"0.12\" "
          + "stroke=\"none\"/>")
    }
    for (index, item) in series.enumerated() {
      let color = Self.palette[index % Self.palette.count]
      let dash = item.dashed ? " stroke-dasharray=\"7 4\"" : ""
      let path = item.points.map { "\(n(px($0.x))),\(n(py($0.y)))" }.joined(separator: " ")
      out.append("<g>")
      out.append("<title>\(Self.escape(item.name))</title>")
      if item.points.count > 1 {
        out.append(
          "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>")
      }
      for point in item.points {
        let x = px(point.x)
        if point.error > 0 {
          out.append(
            "<line x1=\"\(n(x))\" y1=\"\(n(py(min(yHigh, point.y + point.error))))\" x2=\"\(n(x))\" "
              + "y2=\"\(n(py(max(yLow, point.y - point.error))))\" stroke=\"\(color)\" stroke-width=\"1\"/>")
        }
        out.append("<circle cx=\"\(n(x))\" cy=\"\(n(py(point.y)))\" r=\"3\" fill=\"\(color)\"/>")
      }
      out.append("</g>")
    }
    // Legend.
    let legendX = left + plotWidth + 16
    for (index, item) in series.enumerated() {
      let color = Self.palette[index % Self.palette.count]
      let y = top + 8 + Double(index) * 20
      let dash = item.dashed ? " stroke-dasharray=\"7 4\"" : ""
      out.append(
        "<line x1=\"\(n(legendX))\" y1=\"\(n(y))\" x2=\"\(n(legendX + 26))\" y2=\"\(n(y))\" stroke=\"\(color)\" "
          + "stroke-width=\"2\"\(dash)/>")
      out.append(
        "<text x=\"\(n(legendX + 32))\" y=\"\(n(y + 4))\" fill=\"#222222\">\(Self.escape(item.name))</text>")
    }
    out.append("</svg>")
    return out.joined(separator: "\n") + "\n"
  }
}
