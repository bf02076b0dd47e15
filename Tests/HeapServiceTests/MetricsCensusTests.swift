// Metrics do not stop the shared heap's world on every scrape (issue 14): the tracked objects per
// generation come from a census that an empty heap never needs and an unchanged heap does not
// repeat (heapd_shared_heap_censuses_total counts them).

import Foundation
import HeapService
import Testing

/// The value of the sample `name` (with its labels) in a metrics text.
private func sample(_ text: String, _ name: String) -> Int? {
    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) }
}

@Suite(.serialized) struct MetricsCensusTests {
    @Test func scrapesTakeACensusOfTheSharedHeapOnlyWhenItHasChanged() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let client = try daemon.connect()
        func scrape() throws -> String { try #require(try ask(client, #"{"id": 1, "op": "metrics"}"#).metrics) }
        // An empty shared heap: counted as empty, no walk.
        for _ in 0..<3 { #expect(sample(try scrape(), "heapd_shared_heap_censuses_total") == 0) }
        // A run that leaves a cycle in the shared heap, says so, and then allocates nothing more.
        let holder = try daemon.connect()
        try holder.send(runRequest("type N { next }\nmain { keep = new N; keep.next = keep; print 1; while 1 { } }", stream: true) {
            $0.heap = "shared"
            $0.timeLimitSeconds = 600
        })
        #expect(try holder.receive().line == "1")
        let first = try scrape()
        #expect(sample(first, "heapd_shared_heap_censuses_total") == 1)
        #expect(sample(first, #"heapd_shared_heap_tracked_objects{generation="0"}"#) ?? 0 >= 1)
        for _ in 0..<3 {
            let again = try scrape()
            #expect(sample(again, "heapd_shared_heap_censuses_total") == 1)
            #expect(sample(again, #"heapd_shared_heap_tracked_objects{generation="0"}"#) == sample(first, #"heapd_shared_heap_tracked_objects{generation="0"}"#))
        }
        try holder.send(#"{"id": "c", "op": "cancel", "target": 7}"#)
        var ended = false
        while !ended { ended = try holder.receive().code == "cancelled" }
    }
}
