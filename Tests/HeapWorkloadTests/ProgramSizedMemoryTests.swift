// Issue 14: what a program sizes is bounded by its run. Output past RunConfiguration's
// maxOutputBytes is dropped after one marker line and counted.

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
}
