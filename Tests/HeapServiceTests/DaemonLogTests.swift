// heapd's log lines (DaemonLog): under journald — stderr is the stream JOURNAL_STREAM names —
// each line starts with its syslog priority and carries no timestamp; anywhere else they keep
// swift-log's timestamped form, even with a JOURNAL_STREAM inherited from elsewhere.

import Foundation
@testable import HeapService
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// "dev:ino" of `descriptor`, as systemd writes JOURNAL_STREAM.
private func streamIdentity(_ descriptor: Int32) -> String {
    var info = stat()
    fstat(descriptor, &info)
    return "\(info.st_dev):\(info.st_ino)"
}

/// heapd started with stderr on a file of its own, and `environment`; run `body` against it, stop
/// it, and give back what it wrote to stderr.
private func heapdLog(environment: (String) -> [String: String], arguments: [String] = [], body: (String) throws -> Void = { _ in }) throws
    -> (status: Int32, log: String) {
    let scratch = try scratchDirectory("log")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let logPath = scratch + "/stderr", socket = scratch + "/heapd.sock"
    _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
    let process = Process()
    process.executableURL = Daemon.binary
    process.arguments = ["--socket", socket, "--workloads", Daemon.workloads, "--state-directory", scratch + "/state"] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment(streamIdentity(log.fileDescriptor))) { $1 }
    process.standardError = log
    try process.run()
    if arguments.isEmpty {
        var client: Client?
        for _ in 0..<500 where client == nil {
            client = try? Client(socketPath: socket, timeout: .seconds(60))
            if client == nil { usleep(10_000) }
        }
        if client != nil { try body(socket) }
        process.terminate()
    }
    process.waitUntilExit()
    try log.close()
    return (process.terminationStatus, try String(contentsOfFile: logPath, encoding: .utf8))
}

@Suite struct DaemonLogTests {
    @Test func prioritiesAreSyslogs() {
        #expect([Logger.Level.trace, .debug, .info, .notice, .warning, .error, .critical].map(DaemonLog.priority) == [7, 7, 6, 5, 4, 3, 2])
        #expect(DaemonLog.journalLine(level: .warning, message: "two\nlines", metadata: ["b": "2", "a": "1"]) == "<4>two lines a=1 b=2\n")
    }

    @Test func theJournalStreamIsTrustedOnlyWhenItIsStandardError() throws {
        let scratch = try scratchDirectory("stream")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        _ = FileManager.default.createFile(atPath: scratch + "/a", contents: nil)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/a"))
        defer { try? file.close() }
        let identity = streamIdentity(file.fileDescriptor)
        #expect(DaemonLog.isJournalStream(file.fileDescriptor, environment: ["JOURNAL_STREAM": identity]))
        #expect(!DaemonLog.isJournalStream(file.fileDescriptor, environment: [:]))
        #expect(!DaemonLog.isJournalStream(file.fileDescriptor, environment: ["JOURNAL_STREAM": "1:2"]))
        #expect(!DaemonLog.isJournalStream(file.fileDescriptor, environment: ["JOURNAL_STREAM": "garbage"]))
    }

    @Test func underJournaldEveryLineHasAPriorityAndNoTimestamp() throws {
        let (status, log) = try heapdLog(environment: { ["JOURNAL_STREAM": $0] }) { socket in
            let client = try Client(socketPath: socket, timeout: .seconds(60))
            #expect(try runEvents(client, runRequest("main { print 1 }")).last.type == "result")
            #expect(try ask(client, #"{"id": 2, "op": "nonsense"}"#).code == "unknown_op")
        }
        #expect(status == 0)
        let lines = log.split(separator: "\n")
        #expect(lines.count >= 4, "\(log)")
        for line in lines {
            #expect(line.range(of: #"^<[0-7]>"#, options: .regularExpression) != nil, "\(line)")
            #expect(line.range(of: #"\d{4}-\d\d-\d\dT\d\d:\d\d"#, options: .regularExpression) == nil, "\(line)")
        }
        #expect(lines.contains { $0.hasPrefix("<6>listening on ") }, "\(log)")
        #expect(lines.contains { $0.hasPrefix("<5>") && $0.contains("unknown_op") }, "\(log)")
        #expect(lines.last == "<6>stopped")
    }

    @Test func aConfigurationErrorIsAnErrorLineUnderJournald() throws {
        let (status, log) = try heapdLog(environment: { ["JOURNAL_STREAM": $0] }, arguments: ["--workers", "0"])
        #expect(status == 78)
        #expect(log == "<3>heapd: --workers: workers is an integer from 1 to 1024, not 0\n")
    }

    @Test func elsewhereLinesKeepTheirTimestamp() throws {
        for environment in [[:], ["JOURNAL_STREAM": "1:2"]] {
            let (_, log) = try heapdLog(environment: { _ in environment })
            let first = try #require(log.split(separator: "\n").first)
            #expect(first.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* info heapd: .*listening on "#, options: .regularExpression) != nil, "\(first)")
        }
    }
}
