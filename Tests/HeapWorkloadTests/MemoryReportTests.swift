// Issue 17: a run's memory report on crafted programs — allocation sites and their counts,
// snapshot differences, the exact chains from globals, arrays, channels and thread variables,
// what is alive at the end (cyclic garbage included), tracing toggled mid-run, fragmentation
// and the timeline.

import Foundation
import HeapCore
@testable import HeapWorkload
import Testing

/// Runs `source` (as memory.hw) with a memory report and tracing as asked.
private func run(_ source: String, trace: Bool = true, _ configure: (inout RunConfiguration) -> Void = { _ in }) throws -> RunResult {
    var configuration = RunConfiguration()
    configuration.collector = .manual
    configuration.memoryReport = true
    configuration.traceAllocations = trace
    configure(&configuration)
    let result = try Workload.run(try Program.parse(source: source, fileName: "memory.hw"), configuration: configuration)
    #expect(result.ok, "\(String(describing: result.error))")
    #expect(result.leaked == 0)
    #expect(result.heapProblems == [])
    return result
}

private func snapshot(_ result: RunResult, _ name: String) -> MemoryReport.Snapshot? {
    result.memoryReport?.snapshots.first { $0.name == name }
}

@Suite struct MemoryReportTests {
    @Test func objectsAreCountedByTheSiteOfTheirNew() throws {
        let result = try run("""
        type Item { payload 8 }
        global keep
        main {
            keep = new [100]
            for i in range(100) { keep[i] = new Item }
            snapshot "filled"
        }
        """)
        let filled = try #require(snapshot(result, "filled"))
        #expect(filled.groups.first { $0.name == "memory.hw:5 main" } == MemoryReport.Entry(name: "memory.hw:5 main", objects: 100, bytes: 100 * 40))
        #expect(filled.groups.first { $0.name == "memory.hw:4 main" } == MemoryReport.Entry(name: "memory.hw:4 main", objects: 1, bytes: 32 + 800))
        #expect(filled.types.first { $0.name == "Item" }?.objects == 100)
        #expect(filled.types.first { $0.name == "array" }?.objects == 1)
        #expect(result.memoryReport?.tracing == true)
    }

    @Test func withoutTracingGroupsAreTypes() throws {
        let result = try run("""
        type Item { payload 8 }
        global keep
        main {
            keep = new [10]
            for i in range(10) { keep[i] = new Item }
            snapshot "filled"
        }
        """, trace: false)
        let filled = try #require(snapshot(result, "filled"))
        #expect(filled.groups.map(\.name) == ["(no site) Item", "(no site) array"])
        #expect(filled.groups.first?.objects == 10)
    }

    @Test func differencesShowWhatGrewBetweenSnapshots() throws {
        let result = try run("""
        type Entry { next; payload 24 }
        global cache
        fn add(n) {
            for i in range(n) {
                e = new Entry
                e.next = cache
                cache = e
            }
        }
        main {
            snapshot "empty"
            add(10)
            snapshot "ten"
            add(30)
            snapshot "forty"
        }
        """)
        let differences = try #require(result.memoryReport?.differences)
        #expect(differences.map { "\($0.from)→\($0.to)" } == ["empty→ten", "ten→forty", "forty→end"])
        let entryBytes = 32 + 8 + 24
        #expect(differences[0].changes.first == MemoryReport.Growth(name: "memory.hw:5 add", objects: 10, bytes: 10 * entryBytes, objectsDelta: 10, bytesDelta: 10 * entryBytes))
        #expect(differences[1].changes.first == MemoryReport.Growth(name: "memory.hw:5 add", objects: 40, bytes: 40 * entryBytes, objectsDelta: 30, bytesDelta: 30 * entryBytes))
        #expect(differences[2].changes.isEmpty)
        let leak = try #require(result.memoryReport?.leaks.first)
        #expect(leak.group == "memory.hw:5 add")
        #expect(leak.objects == 40)
        #expect(leak.unreachable == 0)
        #expect(leak.chain?.text == "global cache → Entry")
    }

    @Test func chainsGoThroughGlobalsSlotsArraysChannelsAndThreadVariables() throws {
        let result = try run("""
        type Entry { next; blob }
        type Blob { payload 100 }
        type Boxed { payload 8 }
        type Msg { payload 16 }
        type Held { payload 32 }
        global cache
        global table
        fn worker(ready, go) {
            mine = new Held
            send(ready, 1)
            recv(go)
            return none
        }
        main {
            first = new Entry
            first.next = new Entry
            first.next.blob = new Blob
            cache = first
            del first
            table = new [3]
            table[1] = new Boxed
            ch = channel(4)
            send(ch, new Msg)
            ready = channel(1)
            go = channel(1)
            t = spawn worker(ready, go)
            recv(ready)
            snapshot "all"
            send(go, 1)
            join(t)
            recv(ch)
        }
        """)
        let all = try #require(snapshot(result, "all"))
        let chains = Dictionary(all.retention.map { ($0.chain.target, $0.chain.text) }, uniquingKeysWith: { first, _ in first })
        #expect(chains["Blob"] == "global cache → Entry.next → Entry.blob → Blob")
        #expect(chains["Msg"] == "channel 1 [0] → Msg")
        #expect(chains["Held"] == "thread 1: mine in fn worker → Held")
        #expect(chains["Boxed"] == "global table → array[1] → Boxed")
        #expect(chains["Entry"] == "global cache → Entry")
    }

    @Test func theEndListsWhatIsAliveWithChainsAndUnreachableCycles() throws {
        let result = try run("""
        type Node { next; payload 8 }
        global keep
        fn ring(n) {
            first = new Node
            last = first
            for i in range(n - 1) {
                node = new Node
                last.next = node
                last = node
            }
            last.next = first
            return first
        }
        main {
            keep = ring(4)
            r = ring(6)
            del r
        }
        """)
        let leaks = try #require(result.memoryReport?.leaks)
        // Sites: line 4 (the first node of each ring), line 7 (the others).
        let others = try #require(leaks.first { $0.group == "memory.hw:7 ring" })
        #expect(others.objects == 3 + 5)
        #expect(others.unreachable == 5)
        #expect(others.chain?.text == "global keep → Node.next → Node")
        #expect(others.chain?.cycleSize == 4)
        #expect(others.chain?.cycleReferrers == 1)
        let firsts = try #require(leaks.first { $0.group == "memory.hw:4 ring" })
        #expect(firsts.objects == 2)
        #expect(firsts.unreachable == 1)
        #expect(firsts.chain?.text == "global keep → Node")
        #expect(result.liveAtEnd == 10)
    }

    @Test func tracingToggledMidRunRecordsOnlyWhileOn() throws {
        let result = try run("""
        type Item { payload 8 }
        global keep
        main {
            keep = new [30]
            for i in range(10) { keep[i] = new Item }
            gc.trace(1)
            for i in range(10) { keep[10 + i] = new Item }
            gc.trace(0)
            for i in range(10) { keep[20 + i] = new Item }
            snapshot "mixed"
        }
        """, trace: false)
        let mixed = try #require(snapshot(result, "mixed"))
        #expect(mixed.groups.first { $0.name == "memory.hw:7 main" }?.objects == 10)
        #expect(mixed.groups.first { $0.name == "(no site) Item" }?.objects == 20)
        #expect(mixed.groups.first { $0.name == "(no site) array" }?.objects == 1)
        #expect(result.memoryReport?.tracing == false)
    }

    @Test func fragmentationAndTheTimelineAreReported() throws {
        let result = try run("""
        type Small { payload 16 }
        type Large { payload 1000 }
        global keep
        main {
            keep = new [4000]
            for i in range(4000) {
                if i % 2 == 0 { keep[i] = new Small } else { keep[i] = new Large }
            }
            for i in range(4000) {
                if i % 2 == 1 { keep[i] = none }
            }
            gc.collect()
        }
        """)
        let report = try #require(result.memoryReport)
        let end = try #require(report.snapshots.last?.fragmentation)
        let small = try #require(end.sizeClasses.first { $0.blockSize == 48 })
        #expect(small.blocksInUse == 2000)
        // Every Large block (1032 bytes) is gone: its class's pages hold none.
        let largeClass = SizeClass.blockSize(ofClass: SizeClass.index(forSize: 1032))
        #expect(end.sizeClasses.first { $0.blockSize == largeClass }?.blocksInUse ?? 0 == 0)
        // The array (32 + 4000 × 8 bytes) is a large block of its own.
        #expect(end.largeBlocks == 1)
        #expect(end.inUseBytes - end.largeBytes == 2000 * 48)
        #expect(end.mappedBytes >= end.committedBytes)
        #expect(report.timeline.count >= 2)
        #expect(report.timeline.allSatisfy { $0.mappedBytes >= $0.liveBytes })
        // gc.collect() ran before the end; the end's own collections come after the timeline.
        #expect(report.collectionSeconds.count == 1)
    }

    /// The leak hunt of docs/memory-diagnostics.md, on the workload shipped for it: what grew
    /// between the snapshots is the Blobs of `compute` and the Entries of `serve`, and what keeps
    /// them alive is the global `history`.
    @Test func theLeakHuntFindsTheHistoryList() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("workloads/leaky-cache.hw")
        let source = try String(contentsOf: path, encoding: .utf8)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        func line(of text: String) -> Int { lines.firstIndex { $0.contains(text) }! + 1 }
        var configuration = RunConfiguration()
        configuration.memoryReport = true
        configuration.traceAllocations = true
        configuration.params = ["requests": 2000, "capacity": 32]
        let result = try Workload.run(try Program.parse(source: source, fileName: "leaky-cache.hw"), configuration: configuration)
        #expect(result.ok)
        let report = try #require(result.memoryReport)
        let growth = try #require(report.differences.first { $0.from == "warm" && $0.to == "served" })
        let blobs = "leaky-cache.hw:\(line(of: "return new Blob")) compute"
        let entries = "leaky-cache.hw:\(line(of: "entry = new Entry")) serve"
        #expect(growth.changes.first?.name == blobs)
        #expect(growth.changes.first.map { $0.objectsDelta > 0 } == true)
        #expect(growth.changes.dropFirst().first?.name == entries)
        let leaks = Dictionary(report.leaks.map { ($0.group, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(leaks[entries]?.chain?.text == "global history → Entry")
        #expect(leaks[blobs]?.chain?.text == "global history → Entry.value → Blob")
        // Every entry ever made is alive: the misses the program counted.
        let misses = try #require(result.output.last?.split(separator: " ").last.flatMap { Int($0) })
        #expect(leaks[entries]?.objects == misses)
    }

    /// fragmentation.hw's pattern: Block1024s are freed by every round and never refilled, so
    /// after two rounds their pages are mostly holes.
    @Test func fragmentationWorkloadShowsItsHoles() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("workloads/fragmentation.hw")
        var configuration = RunConfiguration()
        configuration.memoryReport = true
        configuration.params = ["objects": 20000, "rounds": 2]
        let result = try Workload.run(try Program.parse(source: try String(contentsOf: path, encoding: .utf8), fileName: "fragmentation.hw"),
                                      configuration: configuration)
        #expect(result.ok)
        let rounds = try #require(result.memoryReport?.snapshots.filter { $0.name == "refilled" })
        #expect(rounds.count == 2)
        let classOf1024 = SizeClass.blockSize(ofClass: SizeClass.index(forSize: 32 + 1024))
        let last = try #require(rounds.last?.fragmentation.sizeClasses.first { $0.blockSize == classOf1024 })
        #expect(last.fullPages == 0)
        #expect(last.freeBlocks > last.blocksInUse)
        #expect(rounds.last!.fragmentation.partialPages > 0)
    }

    @Test func aSnapshotInsideAFinalizerIsTaken() throws {
        let result = try run("""
        type Node {
            next
            finalize { snapshot "finalizing" }
        }
        main {
            a = new Node
            a.next = a
            del a
            gc.collect()
        }
        """)
        let finalizing = try #require(snapshot(result, "finalizing"))
        #expect(finalizing.types.first { $0.name == "Node" }?.objects == 1)
    }

    @Test func withoutAReportSnapshotsCostNothingAndTheResultHasNone() throws {
        var configuration = RunConfiguration()
        configuration.collector = .manual
        let result = try Workload.run(try Program.parse(source: "main {\n x = new [1]\n snapshot \"a\"\n}\n", fileName: "m.hw"), configuration: configuration)
        #expect(result.ok)
        #expect(result.memoryReport == nil)
    }
}
