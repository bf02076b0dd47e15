// Stopping, in process: once `stopRuns` has begun (SIGTERM, SIGINT) or `shutdown` has been
// answered, runs and execs are refused with `shutting_down` while the other ops still answer; and
// a run whose request was still being handled when its connection closed is cancelled as it is
// registered.

import Foundation
import HeapCore
@testable import HeapService
import Testing

@Suite struct DrainTests {
    private func run(_ source: String) -> Request {
        var request = Request(id: .number(3), op: "run")
        request.source = source
        return request
    }

    private func exec(_ piece: String) -> Request {
        var request = Request(id: .number(4), op: "exec")
        request.session = "s"
        request.source = piece
        return request
    }

    @Test func afterStopRunsBeganNewRunsAndExecsAreRefused() throws {
        let service = Service()
        #expect(try handled(service, exec("a = 1")).lines == [])
        #expect(service.stopRuns(grace: .seconds(10)))
        let refused = try handled(service, run("main { print 1 }"))
        #expect(refused.code == "shutting_down")
        #expect(refused.id == .number(3))
        #expect(try handled(service, exec("print a")).code == "shutting_down")
        #expect(try handled(service, Request(id: .number(5), op: "ping")).type == "pong")
        #expect(service.statistics.runsStarted == 1)
    }

    @Test func afterShutdownWasAnsweredNewRunsAreRefused() throws {
        let stopped = Locked(false)
        let service = Service(onShutdown: { stopped.withLock { $0 = true } })
        #expect(try handled(service, Request(id: .number(1), op: "shutdown")).type == "shutdown")
        #expect(stopped.withLock { $0 })
        #expect(try handled(service, run("main { print 1 }")).code == "shutting_down")
    }

    @Test func aRunRegisteredAfterItsConnectionClosedIsCancelled() throws {
        let service = Service()
        let connection = ConnectionRuns()
        connection.cancelAll()
        let response = try handled(service, run("main { while 1 { } }"), on: connection)
        #expect(response.code == "cancelled")
        // Another connection's run is not.
        #expect(try handled(service, run("main { print 2 }")).result?.output == ["2"])
    }
}
