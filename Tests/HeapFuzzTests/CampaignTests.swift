// Bounded campaigns of both fuzzers, as CI's longer runs do them: generated programs under the
// six configurations must agree and leave nothing behind; mutated sources must end in
// diagnostics (placed inside the source) or in a run that leaves nothing behind, and never
// crash (so they run in a child heapfuzz). Counts, never times, bound them.

import Foundation
import HeapFuzz
import Testing

@Suite(.serialized) struct CampaignTests {
    @Test func fortyProgramsUnderSixConfigurations() {
        var options = FuzzOptions()
        options.seed = 12_000
        options.programs = 40
        options.runFrontEnd = false
        let report = FuzzCampaign(options: options).run()
        #expect(report.programs == 40)
        #expect(report.runs == 240)
        for finding in report.findings {
            Issue.record("\(finding)\n\(String(decoding: finding.source, as: UTF8.self))")
        }
        #expect(report.uniformErrors <= 4, "generated programs should mostly end well: \(report.uniformErrorSamples)")
    }

    /// In a child process: a crash of the front end must not end the test process.
    @Test func twoThousandMutatedSources() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("heapfuzz-test-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("workloads").path
        guard let child = try runHeapfuzz(["--front-end-only", "--sources", "2000", "--seed", "12001", "--corpus", corpus,
                                           "--save", directory, "--hang-seconds", "60"]) else { return }
        if child.crashed {
            let source = (try? String(contentsOfFile: directory + "/current.txt", encoding: .utf8)) ?? "?"
            Issue.record("the front end crashed (signal \(child.status)) on \(source)")
        } else {
            #expect(child.status == 0, "\(child.output)")
        }
        #expect(child.crashed || child.output.contains("front end: 2000 sources"), "\(child.output)")
    }

    /// The replay the help text gives, `heapfuzz --seed S --programs 1`, runs that one program and
    /// ends: a count for one fuzzer alone leaves the other out (it has no bound of its own).
    @Test func aProgramCountAloneRunsOnlyThosePrograms() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("heapfuzz-one-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard let child = try runHeapfuzz(["--seed", "597", "--programs", "1", "--save", directory], killAfter: 300) else { return }
        #expect(!child.crashed && child.status == 0, "\(child.output)")
        #expect(child.output.contains("fuzz: 1 programs"), "\(child.output)")
        #expect(child.output.contains("front end: 0 sources"), "\(child.output)")
    }
}
