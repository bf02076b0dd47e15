// Runs and exec pieces through the service, in process: `gc: false` keeps the daemon's
// collector settings, an exec session past max_output_bytes answers the marker and what it
// dropped instead of nothing, a run is in the journal before the counters show it, and an op
// that is none of the ops is answered with the list of them.

import Foundation
import HeapCore
@testable import HeapService
import Synchronization
import Testing

@Suite struct ServiceRunTests {
    @Test func gcFalseKeepsTheDaemonsThresholds() throws {
        var settings = ServiceConfiguration()
        settings.thresholds = [500, 5, 6]
        let service = Service(configuration: settings)
        let program = "main { print gc.get_threshold(0)\nprint gc.get_threshold(2) }"
        let manual = try handled(service, runRequest(program) { $0.gc = false })
        #expect(manual.result?.output == ["500", "6"])
        #expect(manual.result?.collector.automaticCollections == 0)
        #expect(try handled(service, runRequest(program)).result?.output == ["500", "6"])
    }

    /// A session's replay keeps max_output_bytes of output: a piece whose lines fall past it is
    /// answered the marker and how many of its lines were dropped (it used to get no lines at all).
    @Test func anExecSessionPastMaxOutputBytesIsToldWhatItsPiecesLost() throws {
        var settings = ServiceConfiguration()
        settings.maxOutputBytes = 40
        let service = Service(configuration: settings)
        let marker = "[output truncated: the run printed more than 40 bytes; the lines after this one were dropped]"
        #expect(try handled(service, execRequest("repeat 3 { print 1234567 }")).lines == ["1234567", "1234567", "1234567"])     // 24 bytes
        let straddling = try handled(service, execRequest("repeat 3 { print 7654321 }"))                                        // two fit
        #expect(straddling.lines == ["7654321", "7654321", marker])
        #expect(straddling.droppedOutputLines == 1)
        let past = try handled(service, execRequest("print 1"))
        #expect(past.type == "exec" && past.lines == [marker])
        #expect(past.droppedOutputLines == 1)
        let silent = try handled(service, execRequest("x = 1"))
        #expect(silent.lines == [] && silent.droppedOutputLines == nil)
    }

    /// A client that sees `runsFinished` (or `runsFailed`) go up finds the run's finished line in
    /// the journal: the line is written and synced first. A watcher reads the counters as fast as
    /// it can while runs end, and the journal each time they move.
    @Test func aRunIsInTheJournalBeforeTheCountersShowIt() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let service = Service(journal: try Journal(directory: directory))
        let runs = 40
        let stop = Atomic<Bool>(false)
        let early = Locked<[String]>([])
        let watched = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var seen = 0
            while !stop.load(ordering: .relaxed) {
                let stats = service.statistics
                let ended = stats.runsFinished + stats.runsFailed
                guard ended > seen else { continue }
                seen = ended
                let finished = Journal.readAll(directory: directory).filter { $0.kind == "finished" }.count
                if finished < ended { early.withLock { $0.append("counters \(ended), finished lines \(finished)") } }
            }
            watched.signal()
        }
        for number in 0..<runs {
            _ = try handled(service, runRequest(number.isMultiple(of: 3) ? "main { x = 1 / 0 }" : "main { print \(number) }"))
            _ = try handled(service, execRequest("print \(number)"))
        }
        stop.store(true, ordering: .relaxed)
        watched.wait()
        #expect(early.withLock { $0 }.isEmpty, "\(early.withLock { $0 })")
        #expect(service.statistics.runsFinished + service.statistics.runsFailed == 2 * runs)
    }

    @Test func anUnknownOpIsAnsweredWithTheOps() throws {
        let answer = try handled(Service(), Request(id: .number(9), op: "frobnicate"))
        #expect(answer.code == "unknown_op" && answer.id == .number(9))
        #expect(answer.message == "unknown op 'frobnicate' (ops: ping, version, stats, metrics, config, workloads, run, exec, gc, report, cancel, history, shutdown)")
        #expect(Op.allCases.count == 13)
    }
}
