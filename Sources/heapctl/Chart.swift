// Chart: a line chart as self-contained SVG text (no scripts, no fonts to fetch, no
// dependencies) — a title, a y axis from 0 with round ticks, evenly spaced x categories, one
// polyline and its point markers per series, and a legend on the right.
//
//   plot x of category i = left + (i + ½) × plotWidth / categories
//   plot y of value v    = top + plotHeight × (1 − v / yMax)

import Foundation

enum Chart {
    /// One line: a value per x category (nil: no point there).
    struct Series {
        var name: String
        var values: [Double?]
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    static func lines(title: String, xTitle: String, yTitle: String, xLabels: [String], series: [Series]) -> String {
        let width = 760.0, height = 440.0
        let left = 80.0, right = 200.0, top = 50.0, bottom = 60.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let (yMax, yStep) = axis(maximum: series.flatMap { $0.values.compactMap { $0 } }.max() ?? 0)
        func x(_ index: Int) -> Double { left + (Double(index) + 0.5) * plotWidth / Double(max(xLabels.count, 1)) }
        func y(_ value: Double) -> Double { top + plotHeight * (1 - value / yMax) }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }

        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(number(width / 2))" y="28" text-anchor="middle" font-size="15">\(escaped(title))</text>

        """
        // Grid lines and y ticks.
        let decimals = yStep >= 1 ? 0 : Int((-log10(yStep)).rounded(.up))
        var tick = 0.0
        while tick <= yMax + yStep / 2 {
            svg += "<line x1=\"\(number(left))\" y1=\"\(number(y(tick)))\" x2=\"\(number(left + plotWidth))\" y2=\"\(number(y(tick)))\" stroke=\"#e0e0e0\"/>\n"
            svg += "<text x=\"\(number(left - 8))\" y=\"\(number(y(tick) + 4))\" text-anchor=\"end\">\(String(format: "%.\(decimals)f", tick))</text>\n"
            tick += yStep
        }
        // Axes and x ticks.
        svg += "<line x1=\"\(number(left))\" y1=\"\(number(top))\" x2=\"\(number(left))\" y2=\"\(number(top + plotHeight))\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(number(left))\" y1=\"\(number(top + plotHeight))\" x2=\"\(number(left + plotWidth))\" y2=\"\(number(top + plotHeight))\" stroke=\"black\"/>\n"
        for (index, label) in xLabels.enumerated() {
            svg += "<line x1=\"\(number(x(index)))\" y1=\"\(number(top + plotHeight))\" x2=\"\(number(x(index)))\" y2=\"\(number(top + plotHeight + 5))\" stroke=\"black\"/>\n"
            svg += "<text x=\"\(number(x(index)))\" y=\"\(number(top + plotHeight + 20))\" text-anchor=\"middle\">\(escaped(label))</text>\n"
        }
        svg += "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(height - 14))\" text-anchor=\"middle\">\(escaped(xTitle))</text>\n"
        svg += "<text transform=\"translate(22 \(number(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escaped(yTitle))</text>\n"
        // Series and legend.
        for (seriesIndex, line) in series.enumerated() {
            let color = palette[seriesIndex % palette.count]
            let points = line.values.enumerated().compactMap { index, value in value.map { (x(index), y($0)) } }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.map { "\(number($0.0)),\(number($0.1))" }.joined(separator: " "))\"/>\n"
            for point in points {
                svg += "<circle cx=\"\(number(point.0))\" cy=\"\(number(point.1))\" r=\"3.5\" fill=\"\(color)\"/>\n"
            }
            let legendY = top + 10 + Double(seriesIndex) * 20
            svg += "<line x1=\"\(number(left + plotWidth + 20))\" y1=\"\(number(legendY))\" x2=\"\(number(left + plotWidth + 44))\" y2=\"\(number(legendY))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(number(left + plotWidth + 50))\" y=\"\(number(legendY + 4))\">\(escaped(line.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// The y axis's top and tick step: about five steps of 1, 2 or 5 × 10ⁿ reaching past `maximum`.
    static func axis(maximum: Double) -> (top: Double, step: Double) {
        guard maximum > 0 else { return (1, 0.2) }
        let rough = maximum / 5
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough }!
        return ((maximum / step).rounded(.up) * step, step)
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
