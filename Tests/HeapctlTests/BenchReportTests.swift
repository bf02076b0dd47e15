// BenchReport and Chart: medians and spreads, the summary rows, the table, the CSV lines and the
// SVG chart, on hand-made runs (no workload runs here).

import Foundation
import Testing
@testable import heapctl
import HeapWorkload

/// A run that ended well (or failed, with `error`), with `operations` spread over two threads.
private func run(_ combination: BenchCombination, _ repetition: Int, wall: Double, operations: Int = 1000, collections: [Int] = [3, 1, 0], error: String? = nil) -> BenchRun {
    let result = decodedResult(policy: combination.policy, wall: wall, operations: operations, collections: collections, mode: combination.collector)
    return BenchRun(combination: combination, repetition: repetition, outcome: error.map { .failed($0) } ?? .finished(result))
}

/// A spread's three values, for comparisons.
private func values(_ spread: Spread?) -> [Double]? { spread.map { [$0.minimum, $0.median, $0.maximum] } }

private let one = BenchCombination(threads: 1, policy: "biased", gc: true, collector: "concurrent")
private let two = BenchCombination(threads: 2, policy: "biased", gc: true, collector: "concurrent")

@Test func spreadOfOddAndEvenCounts() {
    #expect(values(Spread([3, 1, 2])) == [1, 2, 3])
    #expect(Spread([4, 1, 3, 2])?.median == 2.5)
    #expect(Spread([7])?.median == 7)
    #expect(Spread([]) == nil)
}

@Test func throughputSumsThreadsOverWall() {
    let ran = run(one, 1, wall: 0.5, operations: 1000)
    #expect(ran.operationsPerSecond == 2000)
    #expect(ran.collections == 4)
}

@Test func rowsTakeMediansOverGoodRunsAndListFailures() {
    let runs = [run(one, 1, wall: 1), run(two, 1, wall: 2), run(one, 2, wall: 3), run(two, 2, wall: 0, error: "time_limit: too slow"), run(one, 3, wall: 2)]
    let rows = BenchReport.rows(runs, order: [one, two])
    #expect(rows.map(\.combination) == [one, two])
    #expect(values(rows[0].wall) == [1, 2, 3])
    #expect(rows[0].throughput?.median == 500)
    #expect(rows[0].failures.isEmpty)
    #expect(rows[1].runs == 2)
    #expect(rows[1].wall?.median == 2)
    #expect(rows[1].failures == ["#2: time_limit: too slow"])
    let table = BenchReport.table(rows, showsPeakRSS: false)
    let lines = table.split(separator: "\n")
    #expect(lines.count == 4)
    #expect(lines[1].contains("2.000") && lines[1].contains("1.000–3.000") && lines[1].hasSuffix("3/3"))
    #expect(lines[2].hasSuffix("1/2 FAILED"))
    #expect(lines[0].hasPrefix("threads  rc      gc  collector   wall s (median)"))
    #expect(lines[3] == "FAILED threads=2 rc=biased gc=on collector=concurrent #2: time_limit: too slow")
    #expect(!table.contains("RSS"))
    #expect(BenchReport.table(rows, showsPeakRSS: true).contains("peak RSS MiB"))
}

@Test func csvHasOneLinePerRun() {
    let csv = BenchReport.csv([run(one, 1, wall: 0.5), run(two, 1, wall: 0, error: "busy: full")])
    #expect(csv == """
        threads,rc,gc,collector,repeat,wall_seconds,ops_per_second,collections,ok,striping
        1,biased,on,concurrent,1,0.500000,2000.0,4,true,adaptive
        2,biased,on,concurrent,1,0.000000,0.0,0,false,adaptive

        """)
}

/// `--striping adaptive,off` doubles the biased combinations only (the other policies do not
/// stripe), and the table, the CSV and the chart tell them apart.
@Test func stripingIsAnAxisOfBiasedCountingOnly() throws {
    var plan = try BenchPlan(threads: "1,2", rc: "biased,atomic", gc: "on", collector: "concurrent", repeatCount: 1, params: [])
    try plan.setStripings("adaptive,off")
    #expect(plan.combinations.map { "\($0.threads!) \($0.policy) \($0.striping)" } == [
        "1 biased adaptive", "1 biased off", "1 atomic adaptive", "2 biased adaptive", "2 biased off", "2 atomic adaptive",
    ])
    #expect(throws: (any Error).self) { try plan.setStripings("adaptive,sometimes") }
    let runs = plan.combinations.map { run($0, 1, wall: 1) }
    let table = BenchReport.table(BenchReport.rows(runs, order: plan.combinations), showsPeakRSS: false)
    #expect(table.split(separator: "\n").filter { $0.contains("biased (striping off)") }.count == 2)
    #expect(BenchReport.csv(runs).split(separator: "\n").filter { $0.hasSuffix(",off") }.count == 2)
    let chart = BenchReport.chart(BenchReport.rows(runs, order: plan.combinations), plan: plan, file: "shared-refcount.hw")
    #expect(chart.contains("biased, striping off") && chart.contains("biased, striping adaptive"))
    #expect(runs.last!.combination.label == "threads=2 rc=atomic gc=on collector=concurrent")
    #expect(runs[1].combination.label == "threads=1 rc=biased gc=on collector=concurrent striping=off")
}

@Test func chartHasOnePolylinePerSeriesWithOnePointPerValue() throws {
    let plan = try BenchPlan(threads: "1,2,4", rc: "biased,atomic", gc: "on,off", collector: "concurrent", repeatCount: 1, params: [])
    var runs: [BenchRun] = []
    for combination in plan.combinations where !(combination.policy == "atomic" && combination.threads == 4) {
        runs.append(run(combination, 1, wall: Double(combination.threads!)))
    }
    let svg = BenchReport.chart(BenchReport.rows(runs, order: plan.combinations), plan: plan, file: "workloads/a&b.hw")
    let polylines = svg.components(separatedBy: "<polyline").dropFirst()
    #expect(polylines.count == 4)
    let pointCounts = polylines.map { line in
        line.components(separatedBy: "points=\"")[1].prefix { $0 != "\"" }.split(separator: " ").count
    }
    #expect(pointCounts == [3, 3, 2, 2])
    #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
    #expect(svg.hasSuffix("</svg>\n"))
    #expect(svg.contains("a&amp;b.hw"))
    #expect(svg.contains(">atomic, gc off</text>"))
    #expect(svg.contains(">threads</text>"))
}

@Test func chartNamesTheCollectorInItsSeriesWhenThePlanHasBoth() throws {
    let plan = try BenchPlan(threads: "1,2", rc: "biased", gc: "on", collector: "concurrent,stop-the-world", repeatCount: 1, params: [])
    let runs = plan.combinations.map { run($0, 1, wall: Double($0.threads!)) }
    let svg = BenchReport.chart(BenchReport.rows(runs, order: plan.combinations), plan: plan, file: "t.hw")
    #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
    #expect(svg.contains(">biased, concurrent</text>"))
    #expect(svg.contains(">biased, stop-the-world</text>"))
    let table = BenchReport.table(BenchReport.rows(runs, order: plan.combinations), showsPeakRSS: false)
    #expect(table.split(separator: "\n").dropFirst().map { $0.split(separator: " ")[3] } == ["concurrent", "stop-the-world", "concurrent", "stop-the-world"])
}

@Test func axisStepsAreRound() {
    #expect(Chart.axis(maximum: 9.3) == (10, 2))
    #expect(Chart.axis(maximum: 0.42) == (0.5, 0.1))
    #expect(Chart.axis(maximum: 0) == (1, 0.2))
}
