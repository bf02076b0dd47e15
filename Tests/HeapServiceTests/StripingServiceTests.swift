// Striping through the service, in process (no socket): the `run` request's `striping` field and
// its bad values, the `striping` setting as the default of runs, and what each result reports.

import Foundation
import HeapCore
import HeapService
import HeapWorkload
import Testing

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
    request.source = "type N { next }\nmain { n = new N; print refcount(n) }"
    configure(&request)
    return request
}

@Suite struct StripingServiceTests {
    @Test func aStripingThatIsNoModeIsABadRequestNamingTheField() throws {
        let service = Service()
        let bad = try answer(service, run { $0.striping = "always" })
        #expect(bad.code == "bad_request")
        #expect(bad.message == "striping must be adaptive or off, not 'always'")
        #expect(try answer(service, run()).type == "result")
    }

    @Test func aRunReportsItsStripingAdaptiveWithoutOne() throws {
        let service = Service()
        let off = try answer(service, run { $0.striping = "off" })
        #expect(off.result?.striping == "off")
        #expect(off.result?.stripedObjects == 0)
        #expect(try answer(service, run()).result?.striping == "adaptive")
    }

    /// Two threads loading one global stripe it; the metrics count it over the runs that ended.
    @Test func theMetricsCountTheObjectsStriped() throws {
        let service = Service()
        let shared = try answer(service, run {
            $0.source = """
                global g
                type N { next }
                fn reader(n) { repeat n { x = g; del x }; return 0 }
                main { g = new N; a = spawn reader(20000); b = spawn reader(20000); s = join(a) + join(b) }
                """
        })
        let striped = try #require(shared.result?.stripedObjects)
        #expect(striped > 0)
        let text = try #require(try answer(service, Request(id: .number(4), op: "metrics")).metrics)
        #expect(text.contains("# TYPE heapd_striped_objects_total counter\nheapd_striped_objects_total \(striped)\n"))
    }

    @Test func theSettingIsTheDefaultOfRuns() throws {
        let settings = try Settings.parse(file: "striping = \"off\"", name: "heapd.toml")
        let service = Service(configuration: try ServiceConfiguration(settings: settings))
        #expect(try answer(service, run()).result?.striping == "off")
        #expect(try answer(service, run { $0.striping = "adaptive" }).result?.striping == "adaptive")
        #expect(try answer(service, Request(id: .number(3), op: "config")).config?["striping"] == "off")
        #expect(throws: Settings.Problem.self) { try Settings.parse(file: "striping = \"sometimes\"", name: "heapd.toml") }
    }
}
