// Issue 17 through the service, in process (no socket): a run's `trace` and `memoryReport`
// fields give its result a memory report; the `report` op reports the shared heap, turns its
// tracing on and off, and shows what changed since the previous report.

import Foundation
import HeapCore
import HeapService
import HeapWorkload
import Testing

/// Sends one request that has one answer and waits for it.
private func answer(_ service: Service, _ request: Request, as caller: Caller = .daemonUser) throws -> Response {
    let line = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
    let answered = DispatchSemaphore(value: 0)
    let response = Locked<Response?>(nil)
    service.handle(line: line, cancellations: ConnectionRuns(), caller: caller) { reply in
        guard reply.type != "output" && reply.type != "progress" else { return }
        response.withLock { $0 = reply }
        answered.signal()
    }
    answered.wait()
    return try #require(response.withLock { $0 })
}

/// A run that leaves `count` frozen self-cycles behind in the shared heap.
private func freezing(_ count: Int) -> Request {
    var request = Request(id: .number(1), op: "run")
    request.heap = "shared"
    request.gc = false
    request.source = "type Ring { next }\nmain {\n    repeat \(count) { r = new Ring; r.next = r }\n    gc.freeze()\n}\n"
    return request
}

private func report(trace: Bool? = nil) -> Request {
    var request = Request(id: .number(2), op: "report")
    request.trace = trace
    return request
}

@Suite struct MemoryReportServiceTests {
    @Test func aRunAsksForItsReportAndTracing() throws {
        let service = Service()
        var request = Request(id: .number(1), op: "run")
        request.source = "type Item { payload 8 }\nmain {\n    keep = new [5]\n    for i in range(5) { keep[i] = new Item }\n    snapshot \"full\"\n}\n"
        request.trace = true
        request.memoryReport = true
        let response = try answer(service, request)
        #expect(response.type == "result", "\(response.message ?? "")")
        let full = try #require(response.result?.memoryReport?.snapshots.first { $0.name == "full" })
        #expect(full.groups.first { $0.name == "request.hw:4 main" }?.objects == 5)
        var plain = request
        plain.memoryReport = nil
        plain.trace = nil
        #expect(try answer(service, plain).result?.memoryReport == nil)
    }

    @Test func membersReadTheReportButDoNotSwitchTheSharedHeapsTracing() throws {
        let service = Service()
        let member = Caller(uid: 1001, isOwner: false)
        #expect(try answer(service, report(), as: member).type == "report")
        for trace in [true, false] {
            let refused = try answer(service, report(trace: trace), as: member)
            #expect(refused.code == "forbidden")
        }
        var shared = freezing(1)
        shared.trace = true
        #expect(try answer(service, shared, as: member).code == "forbidden")
        shared.heap = nil
        #expect(try answer(service, shared, as: member).type == "result")
        #expect(service.sharedHeap.heap.isTracingAllocations == false)
    }

    @Test func theSharedHeapsReportShowsWhatRunsLeftAndWhatGrew() throws {
        let service = Service()
        let first = try answer(service, report(trace: true))
        #expect(first.type == "report")
        #expect(first.memoryReport?.tracing == true)
        #expect(first.memoryReport?.differences.isEmpty == true)
        #expect(try answer(service, freezing(3)).result?.ok == true)
        let second = try #require(try answer(service, report()).memoryReport)
        let ring = try #require(second.snapshots.first?.groups.first { $0.name == "request.hw:3 main" })
        #expect(ring.objects == 3)
        #expect(second.differences.first?.changes.first { $0.name == "request.hw:3 main" }?.objectsDelta == 3)
        let chain = try #require(second.snapshots.first?.retention.first { $0.group == "request.hw:3 main" }?.chain)
        #expect(chain.root.hasPrefix("frozen ") && chain.root.hasSuffix("Ring"))
        #expect(chain.cycleSize == 1)
        #expect(try answer(service, freezing(2)).result?.ok == true)
        let third = try #require(try answer(service, report(trace: false)).memoryReport)
        #expect(third.tracing == false)
        #expect(third.differences.first?.changes.first { $0.name == "request.hw:3 main" }?.objectsDelta == 2)
        #expect(third.snapshots.first?.fragmentation.inUseBytes ?? 0 > 0)
    }
}
