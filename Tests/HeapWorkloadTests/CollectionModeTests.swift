// The collector's mode as a run chooses it (RunConfiguration.collector.mode) and as its result
// reports it, with the run's collector figures: concurrent time, collector CPU time, and the
// tentative, validated and dropped garbage (dropped = tentative - validated).

import Foundation
import HeapCore
import HeapWorkload
import Testing

/// Cyclic garbage, collected by the program and by the run's end.
private let cycles = """
    type Node { next }
    main { repeat 200 { n = new Node; n.next = n; del n }  print gc.collect() }
    """

private func run(_ configure: (inout RunConfiguration) -> Void = { _ in }) throws -> RunResult {
    var configuration = RunConfiguration()
    configuration.collector = .manual
    configure(&configuration)
    return try Workload.run(try Program.parse(source: cycles, fileName: "cycles.hw"), configuration: configuration)
}

@Suite struct CollectionModeTests {
    @Test func aRunIsConcurrentUnlessItAsks() throws {
        #expect(RunConfiguration().collector.mode == .concurrent)
        let result = try run()
        #expect(result.ok)
        #expect(result.output == ["200"])
        #expect(result.collector.mode == "concurrent")
    }

    @Test(arguments: CollectionMode.allCases)
    func theResultReportsTheModeAndFiguresThatAddUp(mode: CollectionMode) throws {
        let result = try run { $0.collector.mode = mode }
        #expect(result.ok, "\(result.error.map(String.init(describing:)) ?? "")")
        #expect(result.leaked == 0)
        let collector = result.collector
        #expect(collector.mode == mode.rawValue)
        #expect(collector.dropped == collector.tentative - collector.validated)
        #expect(collector.validated <= collector.tentative)
        if mode == .stopTheWorld { #expect(collector.totalConcurrentMilliseconds == 0) }
    }

    @Test func theFiguresAreInTheResultsJSON() throws {
        let result = try run { $0.collector.mode = .stopTheWorld }
        let json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(result)) as? [String: Any]
        let collector = try #require(json?["collector"] as? [String: Any])
        #expect(collector["mode"] as? String == "stop-the-world")
        for key in ["totalConcurrentMilliseconds", "collectorCPUMilliseconds", "tentative", "validated", "dropped"] {
            #expect(collector[key] != nil, "\(key)")
        }
    }

    @Test func aRunInTheSharedHeapReportsTheSharedHeapsMode() throws {
        var collector = CollectorConfiguration.manual
        collector.mode = .stopTheWorld
        let shared = SharedHeap(collector: collector)
        let result = try run {
            $0.sharedHeap = shared
            $0.collector.mode = .concurrent
        }
        #expect(result.ok)
        #expect(result.collector.mode == "stop-the-world")
    }
}
