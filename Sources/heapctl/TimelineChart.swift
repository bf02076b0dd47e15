// TimelineChart: a run's memory timeline (MemoryReport.timeline) as SVG and as CSV —
// `heapctl run --memory-report --timeline FILE.svg|FILE.csv`.
//
//   x: seconds since the run began (a numeric axis, unlike Chart's categories)
//   y: MiB; one line each for live (blocks in use), mapped and resident bytes
//   collections: a short tick under the plot at the time each one ended; snapshots: a dashed line
//
//   plot x of t = left + plotWidth × t / tMax        plot y of v = top + plotHeight × (1 − v / yMax)

import Foundation
import HeapWorkload

enum TimelineChart {
    static func csv(_ report: MemoryReport) -> String {
        var out = "seconds,live_bytes,mapped_bytes,resident_bytes,collections\n"
        for sample in report.timeline {
            out += "\(String(format: "%.4f", sample.seconds)),\(sample.liveBytes),\(sample.mappedBytes),\(sample.residentBytes),\(sample.collections)\n"
        }
        return out
    }

    static func svg(_ report: MemoryReport, title: String) -> String {
        let width = 760.0, height = 440.0
        let left = 80.0, right = 170.0, top = 50.0, bottom = 70.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let samples = report.timeline
        let mebibyte = Double(1 << 20)
        let series: [(name: String, color: String, values: [Double])] = [
            ("live (in use)", Chart.palette[0], samples.map { Double($0.liveBytes) / mebibyte }),
            ("mapped", Chart.palette[1], samples.map { Double($0.mappedBytes) / mebibyte }),
            ("RSS", Chart.palette[2], samples.map { Double($0.residentBytes) / mebibyte }),
        ]
        let (yMax, yStep) = Chart.axis(maximum: series.flatMap(\.values).max() ?? 0)
        let (tMax, tStep) = Chart.axis(maximum: max(samples.last?.seconds ?? 0, report.collectionSeconds.max() ?? 0))
        func x(_ t: Double) -> Double { left + plotWidth * t / tMax }
        func y(_ v: Double) -> Double { top + plotHeight * (1 - v / yMax) }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        func label(_ value: Double, step: Double) -> String {
            String(format: "%.\(step >= 1 ? 0 : Int((-log10(step)).rounded(.up)))f", value)
        }

        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(number(width / 2))" y="28" text-anchor="middle" font-size="15">\(Chart.escaped(title))</text>

        """
        var tick = 0.0
        while tick <= yMax + yStep / 2 {
            svg += "<line x1=\"\(number(left))\" y1=\"\(number(y(tick)))\" x2=\"\(number(left + plotWidth))\" y2=\"\(number(y(tick)))\" stroke=\"#e0e0e0\"/>\n"
            svg += "<text x=\"\(number(left - 8))\" y=\"\(number(y(tick) + 4))\" text-anchor=\"end\">\(label(tick, step: yStep))</text>\n"
            tick += yStep
        }
        tick = 0
        while tick <= tMax + tStep / 2 {
            svg += "<line x1=\"\(number(x(tick)))\" y1=\"\(number(top + plotHeight))\" x2=\"\(number(x(tick)))\" y2=\"\(number(top + plotHeight + 5))\" stroke=\"black\"/>\n"
            svg += "<text x=\"\(number(x(tick)))\" y=\"\(number(top + plotHeight + 20))\" text-anchor=\"middle\">\(label(tick, step: tStep))</text>\n"
            tick += tStep
        }
        svg += "<line x1=\"\(number(left))\" y1=\"\(number(top))\" x2=\"\(number(left))\" y2=\"\(number(top + plotHeight))\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(number(left))\" y1=\"\(number(top + plotHeight))\" x2=\"\(number(left + plotWidth))\" y2=\"\(number(top + plotHeight))\" stroke=\"black\"/>\n"
        svg += "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(height - 14))\" text-anchor=\"middle\">seconds (collections marked below the axis)</text>\n"
        svg += "<text transform=\"translate(22 \(number(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">MiB</text>\n"
        // Collections: a tick each, in a band under the axis.
        for seconds in report.collectionSeconds {
            svg += "<line x1=\"\(number(x(seconds)))\" y1=\"\(number(top + plotHeight + 24))\" x2=\"\(number(x(seconds)))\" y2=\"\(number(top + plotHeight + 36))\" stroke=\"#9467bd\" stroke-width=\"2\"/>\n"
        }
        // Snapshots: a dashed line each, named at the top.
        for snapshot in report.snapshots where snapshot.name != "end" {
            svg += "<line x1=\"\(number(x(snapshot.seconds)))\" y1=\"\(number(top))\" x2=\"\(number(x(snapshot.seconds)))\" y2=\"\(number(top + plotHeight))\" stroke=\"#888888\" stroke-dasharray=\"4 3\"/>\n"
            svg += "<text x=\"\(number(x(snapshot.seconds) + 3))\" y=\"\(number(top + 12))\" font-size=\"10\" fill=\"#555555\">\(Chart.escaped(snapshot.name))</text>\n"
        }
        for (index, line) in series.enumerated() {
            let points = zip(samples, line.values).map { "\(number(x($0.seconds))),\(number(y($1)))" }
            svg += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            let legendY = top + 10 + Double(index) * 20
            svg += "<line x1=\"\(number(left + plotWidth + 20))\" y1=\"\(number(legendY))\" x2=\"\(number(left + plotWidth + 44))\" y2=\"\(number(legendY))\" stroke=\"\(line.color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(number(left + plotWidth + 50))\" y=\"\(number(legendY + 4))\">\(Chart.escaped(line.name))</text>\n"
        }
        let legendY = top + 10 + Double(series.count) * 20
        svg += "<line x1=\"\(number(left + plotWidth + 32))\" y1=\"\(number(legendY - 6))\" x2=\"\(number(left + plotWidth + 32))\" y2=\"\(number(legendY + 6))\" stroke=\"#9467bd\" stroke-width=\"2\"/>\n"
        svg += "<text x=\"\(number(left + plotWidth + 50))\" y=\"\(number(legendY + 4))\">collection (\(report.collectionSeconds.count))</text>\n"
        return svg + "</svg>\n"
    }
}
