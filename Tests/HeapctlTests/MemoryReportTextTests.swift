// MemoryReportText and TimelineChart: the memory report of a small run as heapctl prints it, and
// its timeline as CSV and SVG.

import Foundation
import HeapCore
import HeapWorkload
import Testing
@testable import heapctl

/// A traced run that keeps 50 Items in a global array, snapshots, and drops a cycle.
private func report() throws -> MemoryReport {
    var configuration = RunConfiguration()
    configuration.collector = .manual
    configuration.memoryReport = true
    configuration.traceAllocations = true
    let source = """
    type Item { next; payload 24 }
    global keep
    main {
        keep = new [50]
        for i in range(50) { keep[i] = new Item }
        snapshot "kept"
        a = new Item
        a.next = a
        del a
        gc.collect()
    }
    """
    let result = try Workload.run(try Program.parse(source: source, fileName: "t.hw"), configuration: configuration)
    #expect(result.ok)
    return try #require(result.memoryReport)
}

@Suite struct MemoryReportTextTests {
    @Test func theTextListsGroupsChangesLeaksAndFragmentation() throws {
        let text = MemoryReportText.text(of: try report())
        #expect(text.hasPrefix("memory report (allocation sites traced)\n"))
        #expect(text.contains("\nsnapshot \"kept\" at "))
        #expect(text.contains("       50  3.1 KiB  t.hw:5 main\n"))
        #expect(text.contains("\n\"kept\" → \"end\": largest changes\n  (none)\n"))
        #expect(text.contains("\nalive at the end of the run\n  50 objects, 3.1 KiB: t.hw:5 main\n      global keep → array[0] → Item\n"))
        #expect(text.contains("\n  1 object, 432 B: t.hw:4 main\n      global keep → array\n"))
        #expect(text.contains("fragmentation: index "))
        #expect(text.contains("\n  class  pages  full/part/empty  in use  free blocks"))
    }

    @Test func theTimelineIsACSVLinePerSampleAndAChartWithACollectionMark() throws {
        let report = try report()
        let csv = TimelineChart.csv(report).split(separator: "\n")
        #expect(csv.first == "seconds,live_bytes,mapped_bytes,resident_bytes,collections")
        #expect(csv.count == report.timeline.count + 1)
        let svg = TimelineChart.svg(report, title: "memory of t.hw")
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 3)
        #expect(report.collectionSeconds.count == 1)
        #expect(svg.components(separatedBy: "stroke=\"#9467bd\" stroke-width=\"2\"/>").count - 1 == report.collectionSeconds.count + 1)
        #expect(svg.contains(">kept</text>"))
        #expect(svg.contains(">collection (1)</text>"))
    }
}
