// heapctl's limits (issue 14): `--heap-limit`, `--time-limit` and `--threads` out of range are
// usage errors, never a conversion that traps; unset, nothing is sent, so heapd's own defaults
// and maximums apply; a summary says when output was dropped.

import ArgumentParser
import HeapService
import Testing
@testable import heapctl

@Suite struct LimitOptionsTests {
    @Test func limitsOutOfRangeAreUsageErrors() throws {
        let cases: [[String]] = [
            ["--heap-limit", "0"], ["--heap-limit", "-1"], ["--heap-limit", "\(1 << 25)"], ["--heap-limit", "\(Int.max)"],
            ["--time-limit", "0"], ["--time-limit", "-1"], ["--time-limit", "nan"], ["--time-limit", "inf"], ["--time-limit", "1e300"],
            ["--threads", "0"], ["--threads", "-3"], ["--rc", "optimistic"],
        ]
        for arguments in cases {
            #expect(throws: (any Error).self, "\(arguments)") { try RunCommand.parse(["t.hw", "--embedded"] + arguments) }
            #expect(throws: (any Error).self, "\(arguments)") { try RunCommand.parse(["t.hw"] + arguments) }
        }
        #expect(throws: (any Error).self) { try BenchCommand.parse(["t.hw", "--heap-limit", "-1"]) }
        #expect(try RunCommand.parse(["t.hw", "--heap-limit", "64", "--time-limit", "2.5", "--threads", "2"]).heapLimit == 64)
    }

    @Test func aRunSendsOnlyTheLimitsAskedFor() throws {
        let plain = try RunCommand.parse(["binary-trees"]).daemonRequest(params: [:])
        #expect(plain.workload == "binary-trees")
        #expect(plain.heapLimitMiB == nil)
        #expect(plain.timeLimitSeconds == nil)
        #expect(plain.rc == nil)
        let asked = try RunCommand.parse(["binary-trees", "--heap-limit", "64", "--time-limit", "9", "--rc", "atomic"]).daemonRequest(params: [:])
        #expect(asked.heapLimitMiB == 64)
        #expect(asked.timeLimitSeconds == 9)
        #expect(asked.rc == "atomic")
        #expect(try BenchCommand.parse(["binary-trees"]).heapLimit == nil)
    }

    @Test func theSummarySaysWhenOutputWasDropped() {
        var result = decodedResult()
        #expect(!Summary.text(of: result).contains("output: truncated"))
        result.droppedOutputLines = 12
        #expect(Summary.text(of: result).contains("output: truncated at the run's bound, 12 line(s) dropped"))
    }
}
