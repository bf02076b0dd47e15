// The oracles can fail: results with a leak, a heap problem, another output, another error, or
// an expect that failed everywhere are findings; the front end's diagnostics are checked for
// their places. (The faults are injected into real results: heapd makes none on purpose.)

@testable import HeapFuzz
@testable import HeapWorkload
import Testing

@Suite struct OracleTests {
    private let program = GeneratedProgram(seed: 99, source: """
        type Node { v, next }
        main {
            n = new Node
            n.next = n
            n.v = 3
            print "value", n.v
        }
        """)

    private func cleanResults() throws -> [(RunSetup, RunResult)] {
        let (findings, results) = FuzzCampaign.check(program)
        #expect(findings.isEmpty, "\(findings)")
        #expect(results.count == 6)
        return results
    }

    @Test func cleanResultsAreNoFinding() throws {
        #expect(ProgramOracle.judge(program, results: try cleanResults()).isEmpty)
    }

    @Test func aLeakAndAHeapProblemAreFindings() throws {
        var results = try cleanResults()
        results[2].1.leaked = 3
        results[4].1.heapProblems = ["object@0x1 (Node) has count 2 but 1 references"]
        let findings = ProgramOracle.judge(program, results: results)
        #expect(findings.map(\.kind) == [.leak, .heapProblems])
        #expect(findings[0].setup == results[2].0)
        #expect(findings[1].setup == results[4].0)
    }

    @Test func outputThatDiffersByConfigurationIsAFinding() throws {
        var results = try cleanResults()
        results[5].1.output = ["value 4"]
        let findings = ProgramOracle.judge(program, results: results)
        #expect(findings.map(\.kind) == [.outputMismatch])
        #expect(findings.first?.message.contains("\"value 3\" against \"value 4\"") == true)
    }

    @Test func anErrorInSomeConfigurationsIsAFinding() throws {
        var results = try cleanResults()
        results[1].1.error = RunError(code: .noneAccess, message: "x.v of none", fileName: "f.hw", line: 3, column: 5, function: "main")
        results[1].1.ok = false
        #expect(ProgramOracle.judge(program, results: results).map(\.kind) == [.errorMismatch])
    }

    @Test func aFailedExpectEverywhereIsAFindingAndAPromisedErrorMustCome() throws {
        var results = try cleanResults()
        for index in results.indices {
            results[index].1.error = RunError(code: .expectFailed, message: "expect failed", fileName: "f.hw", line: 3, column: 5, function: "main")
        }
        #expect(ProgramOracle.judge(program, results: results).map(\.kind) == [.unexpectedError])
        let failing = GeneratedProgram(seed: 1, source: program.source, expectedError: .divisionByZero)
        #expect(ProgramOracle.judge(failing, results: try cleanResults()).map(\.kind) == [.unexpectedError])
        // The same error everywhere, other than an expect, is tolerated (the campaign counts it).
        for index in results.indices { results[index].1.error?.code = .noneAccess }
        #expect(ProgramOracle.judge(program, results: results).isEmpty)
    }

    @Test func diagnosticsInsideTheSourcePass() throws {
        for source in ["main { x = 1 @ 2 }", "main {\n print y\n}", "fn f() { }", "main { x = \"abc", "main {", "\u{FF}"] {
            do {
                _ = try Program.parse(bytes: Array(source.utf8), fileName: "bad.hw")
                Issue.record("\(source) should be rejected")
            } catch {
                #expect(FrontEndOracle.misplaced(error).isEmpty, "\(source): \(FrontEndOracle.misplaced(error))")
            }
        }
        let (outcome, findings) = FrontEndOracle.judge(Array("main { print 1 }".utf8), seed: 0, setup: RunSetup.all[0])
        #expect(outcome == .ran)
        #expect(findings.isEmpty)
    }
}
