// Issue 14: what a program sizes is bounded by its run. Output past RunConfiguration's
// maxOutputBytes is dropped after one marker line and counted; channel buffers and the threads'
// register stacks and frames count against the heap limit (OffHeapMemory.swift), in a heap of
// the run's own and in the shared heap, whose limit is its own; they go back when they die.

import Foundation
import HeapCore
@testable import HeapWorkload
import Testing

/// Runs `source` with manual collection, and holds it to releasing everything it made.
private func run(_ source: String, _ configure: (inout RunConfiguration) -> Void = { _ in }) throws -> RunResult {
    var configuration = RunConfiguration()
    configuration.collector = .manual
    configure(&configuration)
    let result = try Workload.run(try Program.parse(source: source, fileName: "sized.hw"), configuration: configuration)
    #expect(result.leaked == 0)
    #expect(result.heapProblems == [])
    return result
}

/// `threads` threads that recurse `depth` calls deep and wait there until every one of them has
/// (so that all their stacks are in use at once), then return.
private func deepThreads(_ threads: Int, depth: Int) -> String {
    """
    fn down(n, ready, go) {
        if n == 0 { send(ready, 1); return recv(go) }
        return down(n - 1, ready, go)
    }
    main {
        ready = channel(\(threads)); go = channel(\(threads))
        ts = new [\(threads)]
        for i in range(\(threads)) { ts[i] = spawn down(\(depth), ready, go) }
        for i in range(\(threads)) { recv(ready) }
        for i in range(\(threads)) { send(go, 1) }
        for i in range(\(threads)) { join(ts[i]) }
        print "done"
    }
    """
}

@Suite struct ProgramSizedMemoryTests {
    // MARK: Output

    @Test func outputPastTheBoundEndsWithAMarkerAndTheRestIsCounted() throws {
        let streamed = Locked<[String]>([])
        let result = try run("main { for i in range(100) { print \"line\", i } }") {
            $0.maxOutputBytes = 50
            $0.output = { line in streamed.withLock { $0.append(line) } }
        }
        // "line 0" and its newline are 7 bytes: 7 lines fit in 50, the 8th does not.
        #expect(result.ok)
        #expect(result.output == (0..<7).map { "line \($0)" } + [RunOutput.marker(limit: 50)])
        #expect(result.droppedOutputLines == 93)
        // Streamed as kept: the marker once, nothing after it.
        #expect(streamed.withLock { $0 } == result.output)
    }

    @Test func aLineIsKeptWholeAndNothingAfterTheFirstThatDoesNotFit() throws {
        let long = String(repeating: "x", count: 30)
        let result = try run("main { print \"\(long)\"\n print \"\(long)\"\n print \"z\" }") { $0.maxOutputBytes = 40 }
        #expect(result.output == [long, RunOutput.marker(limit: 40)])
        #expect(result.droppedOutputLines == 2)
    }

    @Test func outputWithinTheBoundIsAllKept() throws {
        let result = try run("main { print 1\n print 2 }") { $0.maxOutputBytes = 4 }
        #expect(result.output == ["1", "2"])
        #expect(result.droppedOutputLines == nil)
        let nothing = try run("main { print 1 }") { $0.maxOutputBytes = 0 }
        #expect(nothing.output == [RunOutput.marker(limit: 0)])
        #expect(nothing.droppedOutputLines == 1)
    }

    /// `main { while 1 { print 1 } }` keeps its bound for as long as it runs.
    @Test func aPrintLoopWithoutEndKeepsOnlyItsBound() throws {
        let result = try run("main { while 1 { print 1 } }") {
            $0.maxOutputBytes = 1000
            $0.timeLimit = .milliseconds(300)
        }
        #expect(result.error?.code == .timeLimit)
        #expect(result.output.count == 501)
        #expect(result.output.last == RunOutput.marker(limit: 1000))
        #expect((result.droppedOutputLines ?? 0) > 0)
    }

    // MARK: Channels

    @Test func aChannelsBufferCountsAgainstTheHeapLimit() throws {
        let big = try run("main { c = channel(1 << 24) }") { $0.heapLimitBytes = 64 << 20 }
        #expect(big.error?.code == .heapLimit)
        #expect(big.error?.message.contains("bytes of channels and stacks, limit \(64 << 20)") == true, "\(big.error?.message ?? "")")
        #expect(try run("main { c = channel(1 << 24) }") { $0.heapLimitBytes = 1 << 30 }.ok)
    }

    @Test func manySmallChannelsCountToo() throws {
        // 65,536 channels of 1,000 would take 540 MB; the limit stops them first.
        let result = try run("main { while 1 { c = channel(1000) } }") { $0.heapLimitBytes = 32 << 20 }
        #expect(result.error?.code == .heapLimit)
    }

    @Test func channelsAndObjectsShareOneLimit() throws {
        let fill = "type N { next, payload 1000 }\nparam size = 1\nmain { c = channel(size); h = none; while 1 { n = new N; n.next = h; h = n } }"
        let checked = try Program.parse(source: fill, fileName: "fill.hw")
        func allocations(channelWords: Int64) throws -> Int {
            var configuration = RunConfiguration()
            configuration.collector = .manual
            configuration.heapLimitBytes = 48 << 20
            configuration.params = ["size": channelWords]
            let result = try Workload.run(checked, configuration: configuration)
            #expect(result.error?.code == .heapLimit)
            return result.allocations
        }
        // A 16 MiB channel leaves a third less room for objects.
        #expect(try allocations(channelWords: 1 << 21) < allocations(channelWords: 1))
    }

    // MARK: Stacks

    @Test func deepRecursionInManyThreadsCountsAgainstTheHeapLimit() throws {
        // 32 threads 30,000 calls deep hold about 2.4 MB of registers and frames each.
        let limited = try run(deepThreads(32, depth: 30_000)) { $0.heapLimitBytes = 48 << 20 }
        #expect(limited.error?.code == .heapLimit, "\(limited.error.map(String.init(describing:)) ?? "no error")")
        #expect(limited.error?.function == "down")
        let roomy = try run(deepThreads(32, depth: 30_000)) { $0.heapLimitBytes = 512 << 20 }
        #expect(roomy.output == ["done"])
    }

    @Test func aThreadsStackGoesBackWhenItEnds() throws {
        // Ten threads one after the other, each 8 MB deep: together far past the limit, one at
        // a time well within it.
        let result = try run("""
            fn down(n) { if n == 0 { return 0 }  return 1 + down(n - 1) }
            fn worker() { return down(99000) }
            main { repeat 10 { t = spawn worker(); join(t) }  print "done" }
            """) { $0.heapLimitBytes = 32 << 20 }
        #expect(result.output == ["done"], "\(result.error.map(String.init(describing:)) ?? "")")
    }

    // MARK: The shared heap

    @Test func theSharedHeapHasALimitOfItsOwn() throws {
        let shared = SharedHeap(collector: .manual, limitBytes: 32 << 20)
        let result = try run("type N { next }\nmain { h = none; while 1 { n = new N; n.next = h; h = n } }") {
            $0.sharedHeap = shared
            $0.heapLimitBytes = 1 << 30
        }
        #expect(result.error?.code == .heapLimit)
        #expect(result.error?.message.hasPrefix("shared heap limit reached") == true)
        #expect(result.error?.message.hasSuffix("limit \(32 << 20)") == true)
    }

    @Test func channelsInTheSharedHeapGoBackWhenTheirRunEnds() throws {
        let shared = SharedHeap(collector: .manual, limitBytes: 64 << 20)
        // 32 MiB each: two at once do not fit, one after the other do.
        for _ in 0..<3 {
            let result = try run("main { c = channel(1 << 22); send(c, 1) }") { $0.sharedHeap = shared }
            #expect(result.ok, "\(result.error.map(String.init(describing:)) ?? "")")
            // The run's last references (its threads') go a moment after its result.
            for _ in 0..<1000 where shared.offHeap.bytes > 0 { usleep(10_000) }
            #expect(shared.offHeap.bytes == 0)
        }
        let both = try run("main { a = channel(1 << 22); b = channel(1 << 22) }") { $0.sharedHeap = shared }
        #expect(both.error?.code == .heapLimit)
    }
}
