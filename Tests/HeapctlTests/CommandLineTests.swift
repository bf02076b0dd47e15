// The collection mode on heapctl's command line: `run --collector`, `bench --collector` as an
// axis of the sweep, `gc collector MODE`, and the run summary's collector lines.

import ArgumentParser
import HeapCore
import HeapService
import Testing
@testable import heapctl

@Suite struct CommandLineTests {
    @Test func runTakesACollectionMode() throws {
        #expect(try RunCommand.parse(["t.hw", "--collector", "stop-the-world"]).collector == .stopTheWorld)
        #expect(try RunCommand.parse(["t.hw", "--collector", "concurrent", "--embedded"]).collector == .concurrent)
        // None given: the default (concurrent), or through heapd its `collector` setting.
        #expect(try RunCommand.parse(["t.hw"]).collector == nil)
        #expect(throws: (any Error).self) { try RunCommand.parse(["t.hw", "--collector", "incremental"]) }
        #expect(throws: (any Error).self) { try RunCommand.parse(["t.hw", "--collector"]) }
    }

    @Test func benchSweepsTheCrossProductWithCollectorInnermost() throws {
        let plan = try BenchPlan(threads: "1,2", rc: "biased,atomic", gc: "on,off", collector: "concurrent,stop-the-world",
                                 repeatCount: 1, params: [])
        let combinations = plan.combinations
        #expect(combinations.count == 2 * 2 * 2 * 2)
        #expect(Set(combinations).count == combinations.count)
        #expect(combinations.prefix(3).map(\.label) == [
            "threads=1 rc=biased gc=on collector=concurrent",
            "threads=1 rc=biased gc=on collector=stop-the-world",
            "threads=1 rc=biased gc=off collector=concurrent",
        ])
        for threads in [1, 2] {
            for policy in ["biased", "atomic"] {
                for gc in [true, false] {
                    for collector in ["concurrent", "stop-the-world"] {
                        #expect(combinations.contains(BenchCombination(threads: threads, policy: policy, gc: gc, collector: collector)))
                    }
                }
            }
        }
        let parsed = try BenchCommand.parse(["t.hw", "--collector", "stop-the-world,concurrent"])
        let fromCommandLine = try BenchPlan(threads: parsed.threads, rc: parsed.rc, gc: parsed.gc, collector: parsed.collector,
                                            repeatCount: parsed.repeatCount, params: parsed.params)
        #expect(fromCommandLine.combinations.map(\.collector) == ["stop-the-world", "concurrent"])
        #expect(try BenchCommand.parse(["t.hw"]).collector == "concurrent")
        #expect(throws: ValidationError.self) {
            try BenchPlan(threads: nil, rc: "biased", gc: "on", collector: "concurrent,lazy", repeatCount: 1, params: [])
        }
    }

    @Test func gcSetsTheSharedHeapsCollectionMode() throws {
        let request = try GcCommand.parse(["collector", "stop-the-world"]).request()
        #expect(request.action == "collector")
        #expect(request.collector == "stop-the-world")
        #expect(try GcCommand.parse(["threshold", "500", "5"]).request().thresholds == [500, 5])
        #expect(try GcCommand.parse([]).request().action == "status")
        #expect(throws: ValidationError.self) { try GcCommand.parse(["collector", "lazy"]).request() }
        #expect(throws: ValidationError.self) { try GcCommand.parse(["collector"]).request() }
        #expect(throws: ValidationError.self) { try GcCommand.parse(["threshold", "many"]).request() }
    }

    @Test func theSummaryShowsTheModeAndTheConcurrentFiguresOnlyWhenConcurrent() {
        let concurrent = Summary.text(of: decodedResult(mode: "concurrent")).split(separator: "\n").map(String.init)
        #expect(concurrent.contains { $0.hasPrefix("collector (concurrent): ") && $0.hasSuffix("CPU 2.250 ms") })
        #expect(concurrent.contains("concurrent phases: 1.500 ms, tentative 12, validated 10, dropped 2"))
        #expect(concurrent.contains("handshake: time to safepoint p50 0.010 ms p99 0.020 ms max 0.030 ms; pause seen by mutators p50 0.100 ms p99 0.200 ms max 0.300 ms; pause priority off"),
                "a result from before the boost existed ran its pauses at the thread's own priority")
        let stopped = Summary.text(of: decodedResult(mode: "stop-the-world")).split(separator: "\n").map(String.init)
        #expect(stopped.contains { $0.hasPrefix("collector (stop-the-world): ") })
        #expect(!stopped.contains { $0.hasPrefix("concurrent phases") })
    }
}
