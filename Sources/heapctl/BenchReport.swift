// BenchReport: what `heapctl bench` makes of its runs — one summary row per combination
// (medians and spreads over the runs that ended well), the table for people, the CSV lines and
// the chart's series. Pure functions of the runs, for the tests.
//
//   throughput = Σ over threads of operations / wall seconds      (one run)
//   median     = middle value, or the mean of the two middle values of an even count

import Foundation
import HeapWorkload

/// One run of the sweep, as `--json` prints it.
struct BenchRun: Codable {
    var combination: BenchCombination
    /// 1 for the first round over all combinations, 2 for the second, ...
    var repetition: Int
    var ok: Bool
    var wallSeconds: Double
    /// Operations of all threads per second of wall time.
    var operationsPerSecond: Double
    /// Collections of every generation.
    var collections: Int
    var peakRSSBytes: Int
    /// Why the run failed (nil when ok).
    var error: String?
    var result: RunResult?

    init(combination: BenchCombination, repetition: Int, outcome: BenchOutcome) {
        self.combination = combination
        self.repetition = repetition
        switch outcome {
        case .finished(let result):
            ok = result.ok
            wallSeconds = result.wallSeconds
            operationsPerSecond = BenchReport.throughput(of: result)
            collections = result.collector.collections.reduce(0, +)
            peakRSSBytes = result.peakRSSBytes
            error = result.error?.description
            self.result = result
        case .failed(let message):
            ok = false
            wallSeconds = 0
            operationsPerSecond = 0
            collections = 0
            peakRSSBytes = 0
            error = message
            result = nil
        }
    }
}

/// The smallest, middle and largest of some measurements.
struct Spread: Equatable {
    var minimum: Double
    var median: Double
    var maximum: Double

    /// nil for no values.
    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        minimum = sorted[0]
        maximum = sorted[sorted.count - 1]
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// One combination's summary over its runs; the spreads are over the runs that ended well (nil
/// when none did).
struct BenchRow {
    var combination: BenchCombination
    var runs: Int
    var failures: [String]
    var wall: Spread?
    var throughput: Spread?
    var collections: Spread?
    var peakRSS: Spread?
}

enum BenchReport {
    static func throughput(of result: RunResult) -> Double {
        guard result.wallSeconds > 0 else { return 0 }
        return Double(result.threads.reduce(0) { $0 + $1.operations }) / result.wallSeconds
    }

    /// One row per combination, in `order`.
    static func rows(_ runs: [BenchRun], order: [BenchCombination]) -> [BenchRow] {
        order.map { combination in
            let mine = runs.filter { $0.combination == combination }
            let good = mine.filter(\.ok)
            return BenchRow(
                combination: combination,
                runs: mine.count,
                failures: mine.compactMap { $0.ok ? nil : "#\($0.repetition): \($0.error ?? "failed")" },
                wall: Spread(good.map(\.wallSeconds)),
                throughput: Spread(good.map(\.operationsPerSecond)),
                collections: Spread(good.map { Double($0.collections) }),
                peakRSS: Spread(good.map { Double($0.peakRSSBytes) }))
        }
    }

    static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }

    /// A count that may be a median of two: no decimals unless it has a half.
    private static func count(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// The table: a header, one line per row, then one line per failed run.
    static func table(_ rows: [BenchRow], showsPeakRSS: Bool) -> String {
        var header = ["threads", "rc", "gc", "collector", "wall s (median)", "min–max", "M ops/s (median)", "collections", "ok"]
        if showsPeakRSS { header.insert("peak RSS MiB", at: 8) }
        var lines = [header]
        for row in rows {
            let good = row.runs - row.failures.count
            let ok = row.failures.isEmpty ? "\(row.runs)/\(row.runs)" : "\(good)/\(row.runs) FAILED"
            var cells: [String] = [
                row.combination.threads.map(String.init) ?? "default",
                row.combination.policy + (row.combination.striping == "adaptive" ? "" : " (striping \(row.combination.striping))"),
                row.combination.gc ? "on" : "off",
                row.combination.collector,
                row.wall.map { seconds($0.median) } ?? "-",
                row.wall.map { "\(seconds($0.minimum))–\(seconds($0.maximum))" } ?? "-",
                row.throughput.map { String(format: "%.3f", $0.median / 1e6) } ?? "-",
                row.collections.map { count($0.median) } ?? "-",
                ok,
            ]
            if showsPeakRSS { cells.insert(row.peakRSS.map { String(Int($0.median) >> 20) } ?? "-", at: 8) }
            lines.append(cells)
        }
        let widths = header.indices.map { column in lines.map { $0[column].count }.max()! }
        var text = lines.map { cells in
            cells.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column < 4 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
        for row in rows {
            for failure in row.failures { text += "FAILED \(row.combination.label) \(failure)\n" }
        }
        return text
    }

    /// One line per run, after a header.
    static func csv(_ runs: [BenchRun]) -> String {
        var text = "threads,rc,gc,collector,repeat,wall_seconds,ops_per_second,collections,ok,striping\n"
        for run in runs {
            let combination = run.combination
            text += [
                combination.threads.map(String.init) ?? "",
                combination.policy,
                combination.gc ? "on" : "off",
                combination.collector,
                String(run.repetition),
                String(format: "%.6f", run.wallSeconds),
                String(format: "%.1f", run.operationsPerSecond),
                String(run.collections),
                run.ok ? "true" : "false",
                combination.striping,
            ].joined(separator: ",") + "\n"
        }
        return text
    }

    /// The SVG chart: median throughput (M ops/s) against threads, one line per policy (and
    /// per gc setting and per collection mode when the plan has more than one).
    static func chart(_ rows: [BenchRow], plan: BenchPlan, file: String) -> String {
        let labels = plan.threads.map { $0.map(String.init) ?? "default" }
        var series: [Chart.Series] = []
        for policy in plan.policies {
            for striping in plan.stripings(for: policy) {
            for gc in plan.gcSettings {
                for collector in plan.collectors {
                    var name = policy
                    if plan.stripings.count > 1 && policy == "biased" { name += ", striping \(striping)" }
                    if plan.gcSettings.count > 1 { name += ", gc \(gc ? "on" : "off")" }
                    if plan.collectors.count > 1 { name += ", \(collector)" }
                    let values = plan.threads.map { count in
                        rows.first { $0.combination == BenchCombination(threads: count, policy: policy, gc: gc, collector: collector, striping: striping) }?
                            .throughput.map { $0.median / 1e6 }
                    }
                    series.append(Chart.Series(name: name, values: values))
                }
            }
            }
        }
        let title = "\(URL(fileURLWithPath: file).lastPathComponent): throughput against threads (median of \(plan.repeatCount))"
        return Chart.lines(title: title, xTitle: "threads", yTitle: "M operations / s", xLabels: labels, series: series)
    }
}
