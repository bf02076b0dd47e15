// The README's main command, scripts/demo, end to end: heapd started on a temporary socket, a
// library workload run through heapctl, heapd stopped and its temporary directory removed.
// The binaries are the ones this test bundle was built beside (HEAPD_BIN), so the test does not
// start a release build of its own.

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DemoScriptTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs scripts/demo with `arguments`; returns its exit status, standard output and error.
    func demo(_ arguments: [String], temporaryDirectory: String) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", DemoScriptTests.root.appendingPathComponent("scripts/demo").path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["HEAPD_BIN"] = Daemon.binary.deletingLastPathComponent().path
        environment["TMPDIR"] = temporaryDirectory
        process.environment = environment
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
    }

    func scratchDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "heapd-demo-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func theDemoRunsALibraryWorkloadThroughHeapdAndStopsIt() throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let result = try demo(["binary-trees", "--param", "depth=8"], temporaryDirectory: scratch)
        #expect(result.status == 0, "stderr: \(result.errors)")
        // heapctl's summary goes to stderr when stdout is not a terminal, the program's output to stdout.
        #expect(result.errors.contains("ok  binary-trees.hw"))
        #expect(result.output.contains("long lived tree of depth 8 check: 511"))
        #expect(result.output.contains("demo: heapd stopped"))
        // heapd's temporary directory (socket, journal, log) is gone, so heapd no longer serves it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)
    }

    @Test func aFailedRunGivesHeapctlsStatusAndStillStopsHeapd() throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let result = try demo(["no-such-workload"], temporaryDirectory: scratch)
        #expect(result.status != 0)
        #expect(result.output.contains("demo: heapd stopped"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)
    }
}
