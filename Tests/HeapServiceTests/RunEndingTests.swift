// RunEnding, in process: each kind of outcome becomes its answer and its finished line — a result,
// a run error with its code and detail, the runner's refusal, and an exec piece's lines, with the
// marker and a count of what was dropped when the session's replay passed max_output_bytes.

import Foundation
@testable import HeapService
import HeapWorkload
import Testing

@Suite struct RunEndingTests {
    private let started = JournalEntry(kind: "finished", run: 7, time: 1, file: "f.hw", policy: "biased", params: ["n": 1], version: protocolVersion)

    private func outcome(_ source: String, maxOutputBytes: Int = 1 << 20) throws -> Result<RunResult, DiagnosticList> {
        var configuration = RunConfiguration()
        configuration.maxOutputBytes = maxOutputBytes
        configuration.collector = .manual
        return .success(try Workload.run(try Program.parse(source: source, fileName: "f.hw"), configuration: configuration))
    }

    @Test func aResultIsAnsweredWithItAndJournalledWithItsFigures() throws {
        let ending = RunEnding(try outcome("main { print 1 }"), id: .number(3), started: started, answer: .run)
        #expect(ending.response.type == "result" && ending.response.id == .number(3))
        #expect(ending.response.result?.output == ["1"])
        #expect(!ending.failed)
        #expect(ending.entry.ok == true && ending.entry.code == nil)
        #expect(ending.entry.run == 7 && ending.entry.file == "f.hw" && ending.entry.params == ["n": 1])
        #expect(ending.entry.wallSeconds != nil && ending.entry.allocations != nil && ending.entry.collections != nil)
    }

    @Test func aRunErrorIsAnsweredWithItsCodeItsDetailAndTheResult() throws {
        let expectation = RunEnding(try outcome("main { expect 1 == 2 }"), id: nil, started: started, answer: .run)
        #expect(expectation.response.code == "expect_failed" && expectation.response.detail == nil)
        #expect(expectation.response.result?.ok == false)
        #expect(expectation.failed)
        #expect(expectation.entry.ok == false && expectation.entry.code == "run.expect-failed")
        let division = RunEnding(try outcome("main { x = 1 / 0 }"), id: nil, started: started, answer: .run)
        #expect(division.response.code == "run_error" && division.response.detail == "run.division-by-zero")
        #expect(division.response.message?.hasPrefix("f.hw:1:") == true)
        // An exec piece's message is the error's alone: places in the replay mean nothing.
        let piece = RunEnding(try outcome("main { x = 1 / 0 }"), id: nil, started: started, answer: .exec(printedBefore: 0))
        #expect(piece.response.code == "run_error" && piece.response.result == nil)
        #expect(piece.response.message?.hasPrefix("f.hw") == false)
    }

    @Test func theRunnersRefusalIsABadRequest() throws {
        let checked = try Program.parse(source: "param n = 1\nmain { }", fileName: "f.hw")
        let refusal: DiagnosticList
        do throws(DiagnosticList) {
            _ = try checked.constants(overrides: ["nosuch": 1])
            Issue.record("no refusal")
            return
        } catch {
            refusal = error
        }
        let ending = RunEnding(.failure(refusal), id: .string("x"), started: started, answer: .run)
        #expect(ending.response.code == "bad_request" && ending.response.id == .string("x"))
        #expect(ending.entry.ok == false && ending.entry.code == "bad_request")
    }

    @Test func anExecPieceIsAnsweredTheLinesItPrinted() throws {
        let ending = RunEnding(try outcome("main { print 1\nprint 2\nprint 3 }"), id: nil, started: started, answer: .exec(printedBefore: 1))
        #expect(ending.response.type == "exec" && ending.response.lines == ["2", "3"])
        #expect(ending.response.droppedOutputLines == nil && ending.response.result == nil)
    }

    /// A session's replay of 30 lines of 9 bytes keeps 11 (99 of its 100 bytes), then the marker.
    @Test func anExecPiecePastMaxOutputBytesGetsTheMarkerAndTheCountItLost() throws {
        let replay = try outcome("main { for i in range(30) { print 10000000 + i } }", maxOutputBytes: 100)
        let marker = "[output truncated: the run printed more than 100 bytes; the lines after this one were dropped]"
        // The piece printed lines 8 to 29: 8 to 10 kept, 19 dropped.
        let straddling = RunEnding(replay, id: nil, started: started, answer: .exec(printedBefore: 8))
        #expect(straddling.response.lines == ["10000008", "10000009", "10000010", marker])
        #expect(straddling.response.droppedOutputLines == 19)
        // Lines 20 to 29: all dropped — the marker alone, not an empty answer.
        let past = RunEnding(replay, id: nil, started: started, answer: .exec(printedBefore: 20))
        #expect(past.response.lines == [marker])
        #expect(past.response.droppedOutputLines == 10)
        // Nothing new: nothing dropped.
        let silent = RunEnding(replay, id: nil, started: started, answer: .exec(printedBefore: 30))
        #expect(silent.response.lines == [] && silent.response.droppedOutputLines == nil)
    }
}
