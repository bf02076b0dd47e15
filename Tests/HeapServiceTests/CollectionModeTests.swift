// The collection mode through the service, in process (no socket): the `run` request's
// `collector` field and its bad values, the `collector` setting as the default of runs and of the
// shared heap, the `gc` op's `collector` action, and the mode each result reports.

import Foundation
import HeapCore
import HeapService
import HeapWorkload
import Testing

/// Sends one request that has one answer (a run that does not stream, a `gc`, a `config`) and
/// waits for that answer.
private func answer(_ service: Service, _ request: Request) throws -> Response {
    let line = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
    let answered = DispatchSemaphore(value: 0)
    let response = Locked<Response?>(nil)
    service.handle(line: line, cancellations: ConnectionRuns()) { reply in
        response.withLock { $0 = reply }
        answered.signal()
    }
    answered.wait()
    return try #require(response.withLock { $0 })
}

private func run(_ configure: (inout Request) -> Void = { _ in }) -> Request {
    var request = Request(id: .number(1), op: "run")
    request.source = "type N { next }\nmain { n = new N; n.next = n; del n; print gc.collect() }"
    configure(&request)
    return request
}

private func gc(_ action: String, collector: String? = nil) -> Request {
    var request = Request(id: .number(2), op: "gc")
    request.action = action
    request.collector = collector
    return request
}

@Suite struct CollectionModeTests {
    @Test func aCollectorThatIsNoModeIsABadRequestNamingTheField() throws {
        let service = Service()
        let bad = try answer(service, run { $0.collector = "incremental" })
        #expect(bad.type == "error")
        #expect(bad.code == "bad_request")
        #expect(bad.message == "collector must be concurrent or stop-the-world, not 'incremental'")
        #expect(bad.result == nil)
        for request in [gc("collector", collector: "incremental"), gc("collector")] {
            let refused = try answer(service, request)
            #expect(refused.code == "bad_request")
            #expect(refused.message?.hasPrefix("collector needs collector: concurrent or stop-the-world") == true)
        }
        #expect(try answer(service, run()).type == "result")
    }

    @Test func aRunReportsTheModeItAskedForAndConcurrentWithoutOne() throws {
        let service = Service()
        let stopped = try answer(service, run { $0.collector = "stop-the-world" })
        #expect(stopped.type == "result", "\(stopped.code ?? "") \(stopped.message ?? "")")
        #expect(stopped.result?.output == ["1"])
        #expect(stopped.result?.collector.mode == "stop-the-world")
        #expect(stopped.result?.collector.totalConcurrentMilliseconds == 0)
        #expect(try answer(service, run()).result?.collector.mode == "concurrent")
        #expect(try answer(service, run { $0.collector = "concurrent" }).result?.collector.mode == "concurrent")
        // Without automatic collection the mode still holds.
        let manual = try answer(service, run { $0.collector = "stop-the-world"; $0.gc = false })
        #expect(manual.result?.collector.mode == "stop-the-world")
    }

    @Test func theSettingIsTheDefaultOfRunsAndOfTheSharedHeap() throws {
        var configuration = ServiceConfiguration()
        configuration.collectionMode = .stopTheWorld
        let service = Service(configuration: configuration)
        #expect(try answer(service, run()).result?.collector.mode == "stop-the-world")
        #expect(try answer(service, run { $0.collector = "concurrent" }).result?.collector.mode == "concurrent")
        #expect(try answer(service, Request(id: .number(3), op: "config")).config?["collector"] == "stop-the-world")
        #expect(try answer(service, gc("status")).gc?.collector == "stop-the-world")
        // A shared-heap run has the shared heap's mode, whatever it names; `gc` changes it.
        #expect(try answer(service, run { $0.heap = "shared"; $0.collector = "concurrent" }).result?.collector.mode == "stop-the-world")
        #expect(try answer(service, gc("collector", collector: "concurrent")).gc?.collector == "concurrent")
        #expect(try answer(service, gc("status")).gc?.collector == "concurrent")
        #expect(try answer(service, run { $0.heap = "shared" }).result?.collector.mode == "concurrent")
    }
}
