// The journal as the real heapd shows it: a torn line left in the file before heapd starts,
// rotation in the state directory with history still answered from memory, history and run
// numbers after kill -9, and a client told that its run was not recorded when the disk refuses
// the journal's writes (a file-size limit on heapd, set from outside).

import Foundation
import HeapService
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// heapd started by /bin/sh under a file-size limit (`ulimit -f`), stopped by `stop()`.
private final class LimitedDaemon {
    let process = Process()
    let socketPath: String
    let stateDirectory: String

    init(fileSizeBlocks: Int, stateDirectory: String) throws {
        socketPath = NSTemporaryDirectory() + "heapd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        self.stateDirectory = stateDirectory
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -f \(fileSizeBlocks) && exec \"$0\" \"$@\"", Daemon.binary.path,
                             "--socket", socketPath, "--workloads", Daemon.workloads, "--state-directory", stateDirectory]
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<500 {
            if (try? Client(socketPath: socketPath)) != nil { return }
            usleep(10_000)
        }
        stop()
        throw ClientError.closed
    }

    /// The limit heapd runs under, in bytes (the shell's `ulimit -f` unit varies).
    var fileSizeLimit: Int? {
        let limits = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)) ?? ""
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max file size") }
        return line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[3]) }
    }

    func connect() throws -> Client { try Client(socketPath: socketPath, timeout: .seconds(60)) }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: socketPath)
    }
}

/// Appends a line that heapd ignores (a kind it does not know), `bytes` long with its newline.
private func pad(_ path: String, bytes: Int) throws {
    let empty = #"{"kind":"padding","run":0,"time":0,"file":""}"#
    try #require(bytes > empty.utf8.count, "no room left for padding")
    let line = #"{"kind":"padding","run":0,"time":0,"file":""# + String(repeating: "x", count: bytes - empty.utf8.count - 1) + "\"}\n"
    let file = try #require(FileHandle(forWritingAtPath: path))
    file.seekToEndOfFile()
    file.write(Data(line.utf8))
    file.closeFile()
}

private func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
}

@Suite(.serialized) struct JournalDaemonTests {
    @Test func aTornLineLeftBeforeHeapdStartsIsCutOffAndItsRunIsInterrupted() throws {
        let state = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let torn = #"{"kind":"finished","run":2,"time":1700000001,"fi"#
        try ("""
            {"kind":"started","run":1,"time":1700000000,"file":"a.hw","policy":"biased"}
            {"kind":"finished","run":1,"time":1700000000.5,"file":"a.hw","policy":"biased","ok":true}
            {"kind":"started","run":2,"time":1700000001,"file":"b.hw","policy":"biased"}

            """ + torn).write(toFile: state + "/journal.ndjson", atomically: false, encoding: .utf8)
        let daemon = try Daemon(stateDirectory: state)
        let client = try daemon.connect()
        let history = try ask(client, #"{"id": 1, "op": "history"}"#).history ?? []
        #expect(history.map(\.run) == [1, 2])
        #expect(history.map(\.kind) == ["finished", "interrupted"])
        let next = try runEvents(client, runRequest("main { print 1 }")).last
        #expect(next.run == 3)
        #expect(next.recorded == true)
        daemon.stop()
        let log = String(decoding: daemon.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("cut a torn last line of \(torn.utf8.count) bytes"), "\(log)")
        let entries = Journal.read(state + "/journal.ndjson")
        #expect(entries.map(\.kind) == ["started", "finished", "started", "interrupted", "started", "finished"])
        #expect(try String(contentsOfFile: state + "/journal.ndjson", encoding: .utf8).split(separator: "\n").count == entries.count)
    }

    @Test func rotationKeepsTheSegmentsAskedForAndHistoryComesFromMemory() throws {
        let daemon = try Daemon(environment: ["HEAPD_JOURNAL_MAX_BYTES": "4096", "HEAPD_JOURNAL_SEGMENTS": "2"])
        defer { try? FileManager.default.removeItem(atPath: daemon.stateDirectory) }
        let client = try daemon.connect()
        let config = try #require(try ask(client, #"{"id": 1, "op": "config"}"#).config)
        #expect(config["journal_max_bytes"] == "4096")
        #expect(config["journal_segments"] == "2")
        for number in 1...40 {
            #expect(try runEvents(client, runRequest("main { print \(number) }")).last.run == number)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory).filter { $0.hasPrefix("journal") }.sorted()
        #expect(names.count == 3, "\(names)")
        #expect(names.contains("journal.ndjson"))
        #expect(!names.contains("journal.1.ndjson"))       // the oldest segment was deleted
        #expect(fileSize(daemon.stateDirectory + "/journal.ndjson") <= 4096 + 1024)
        // All 40 from memory, though the files kept hold fewer.
        let history = try ask(client, #"{"id": 2, "op": "history", "limit": 40}"#).history ?? []
        #expect(history.map(\.run) == Array(1...40))
        #expect(Journal.readAll(directory: daemon.stateDirectory).filter { $0.kind == "finished" }.count < 40)

        // Killed in the middle of a run: it is interrupted at the next start, from the segment
        // line that rotation wrote, and numbering goes on.
        try client.send(runRequest("main { while 1 { } }"))
        let other = try daemon.connect()
        for _ in 0..<5000 where try ask(other, #"{"id": 3, "op": "stats"}"#).stats?.runsRunning != 1 { usleep(2_000) }
        for _ in 42...101 { _ = try runEvents(other, runRequest("main { }")) }
        kill(daemon.process.processIdentifier, SIGKILL)
        daemon.process.waitUntilExit()
        #expect(!Journal.readAll(directory: daemon.stateDirectory).contains { $0.kind == "started" && $0.run == 41 })
        let again = try Daemon(stateDirectory: daemon.stateDirectory)
        defer { again.stop() }
        let later = try again.connect()
        let after = try ask(later, #"{"id": 4, "op": "history", "limit": 1000}"#).history ?? []
        #expect(after.last?.run == 41)
        #expect(after.last?.kind == "interrupted")
        #expect(after.filter { $0.kind == "finished" }.map(\.run).last == 101)
        #expect(try runEvents(later, runRequest("main { }")).last.run == 102)
    }

    @Test func historyLimitsOutOfRangeAreBadRequests() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let client = try daemon.connect()
        for limit in ["0", "-1", "1001", "9223372036854775807"] {
            let answer = try ask(client, #"{"id": 1, "op": "history", "limit": \#(limit)}"#)
            #expect(answer.code == "bad_request", "\(limit)")
            #expect(answer.message?.contains("limit is 1 to 1000") == true, "\(answer.message ?? "")")
        }
        #expect(try ask(client, #"{"id": 2, "op": "history", "limit": 1000}"#).type == "history")
        #expect(try ask(client, #"{"id": 3, "op": "ping"}"#).type == "pong")
    }

    /// The disk refuses the journal's writes (heapd's file-size limit is reached): a run whose
    /// finished line cannot be written gets its result with `recorded: false`, a run whose started
    /// line cannot be written is refused with `not_recorded`, and heapd keeps serving. Without the
    /// limit, the next heapd records the first one as interrupted.
    @Test func aClientIsToldWhenItsRunWasNotRecorded() throws {
        let state = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let daemon = try LimitedDaemon(fileSizeBlocks: 16, stateDirectory: state)
        let path = state + "/journal.ndjson"
        do {
            defer { daemon.stop() }
            let limit = try #require(daemon.fileSizeLimit)
            let client = try daemon.connect()
            // Room for a started line (about 100 bytes) but not for the finished line after it
            // (about 200).
            try pad(path, bytes: limit - fileSize(path) - 250)
            let (_, last) = try runEvents(client, runRequest("main { print 1 }"))
            #expect(last.type == "result")
            #expect(last.result?.output == ["1"])
            #expect(last.run == 1)
            #expect(last.recorded == false)
            #expect(last.journalError?.contains("cannot write the results journal") == true, "\(last.journalError ?? "")")
            #expect(try ask(client, #"{"id": 1, "op": "ping"}"#).type == "pong")
            // No room for a started line: the run is refused.
            try pad(path, bytes: limit - fileSize(path) - 20)
            let refused = try runEvents(client, runRequest("main { print 2 }")).last
            #expect(refused.code == "not_recorded")
            #expect(refused.message?.contains("cannot write the results journal") == true, "\(refused.message ?? "")")
            #expect(try ask(client, #"{"id": 2, "op": "ping"}"#).type == "pong")
            #expect(fileSize(path) == limit - 20)               // the torn writes were cut back off
        }
        let again = try Daemon(stateDirectory: state)
        defer { again.stop() }
        let history = try ask(again.connect(), #"{"id": 3, "op": "history"}"#).history ?? []
        #expect(history.map(\.kind) == ["interrupted"])
        #expect(history.map(\.run) == [1])
    }
}
