// Issue 14, "heapd that no client can crash, starve or fill", against the real heapd: every
// numeric field out of range or of the wrong type is a bad_request that names the field (and
// the maximum, where a setting sets one), and heapd keeps serving; the settings' maximums bound
// what a request may ask; output and events are bounded; channels count against the heap limit;
// the shared heap has a limit of its own; settings that contradict each other stop heapd.

import Foundation
import HeapService
import HeapWorkload
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A field of /proc/PID/status, in bytes (VmRSS, VmHWM).
private func memory(_ field: String, of pid: Int32) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}

/// Sends `request` and returns every response up to the run's last one.
private func allEvents(_ client: Client, _ request: Request) throws -> [Response] {
    try client.send(request)
    var events: [Response] = []
    repeat { events.append(try client.receive()) } while !["result", "error"].contains(events.last!.type)
    return events
}

@Suite(.serialized) struct ServerLimitsTests {
    /// One line per field and kind of bad value: each is a bad_request naming the field.
    @Test func everyNumericFieldIsCheckedAndNamed() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let client = try daemon.connect()
        let run = #""op": "run", "workload": "binary-trees""#
        let cases: [(line: String, field: String)] = [
            (#"{"id": 1.5, "op": "ping"}"#, "id"),
            (#"{"id": 1e300, "op": "ping"}"#, "id"),
            (#"{"id": 1, "op": "cancel", "target": 1.5}"#, "target"),
            (#"{"id": 2, \#(run), "heapLimitMiB": -1}"#, "heapLimitMiB"),
            (#"{"id": 3, \#(run), "heapLimitMiB": 0}"#, "heapLimitMiB"),
            (#"{"id": 4, \#(run), "heapLimitMiB": 4097}"#, "heapLimitMiB is 1 to 4096 (the daemon's max_heap_limit_mib)"),
            (#"{"id": 5, \#(run), "heapLimitMiB": 1e300}"#, "heapLimitMiB"),
            (#"{"id": 6, \#(run), "heapLimitMiB": 1.5}"#, "heapLimitMiB"),
            (#"{"id": 7, \#(run), "heapLimitMiB": "64"}"#, "heapLimitMiB"),
            (#"{"id": 8, \#(run), "timeLimitSeconds": -1}"#, "timeLimitSeconds"),
            (#"{"id": 9, \#(run), "timeLimitSeconds": 0}"#, "timeLimitSeconds"),
            (#"{"id": 10, \#(run), "timeLimitSeconds": 3601}"#, "at most 3600.0 (the daemon's max_time_limit_seconds)"),
            (#"{"id": 11, \#(run), "timeLimitSeconds": 1e300}"#, "timeLimitSeconds"),
            (#"{"id": 13, \#(run), "timeLimitSeconds": "1"}"#, "timeLimitSeconds"),
            (#"{"id": 14, \#(run), "threads": 0}"#, "threads"),
            (#"{"id": 15, \#(run), "threads": -1}"#, "threads"),
            (#"{"id": 16, \#(run), "threads": 257}"#, "threads is 1 to 256 (the daemon's max_threads)"),
            (#"{"id": 17, \#(run), "threads": 1e300}"#, "threads"),
            (#"{"id": 18, \#(run), "threads": 2.5}"#, "threads"),
            (#"{"id": 19, \#(run), "seed": -1}"#, "seed"),
            (#"{"id": 20, \#(run), "seed": 1.5}"#, "seed"),
            (#"{"id": 21, \#(run), "seed": 1e30}"#, "seed"),
            (#"{"id": 22, \#(run), "params": {"depth": 1.5}}"#, "params.depth"),
            (#"{"id": 23, \#(run), "params": {"depth": 1e300}}"#, "params.depth"),
            (#"{"id": 24, \#(run), "params": {"depth": "deep"}}"#, "params.depth"),
            (#"{"id": 25, \#(run), "params": {"dpeth": 4}}"#, "'dpeth'"),
            (#"{"id": 26, "op": "gc", "action": "collect", "generation": -1}"#, "generation"),
            (#"{"id": 27, "op": "gc", "action": "collect", "generation": 3}"#, "generation"),
            (#"{"id": 28, "op": "gc", "action": "collect", "generation": 1e300}"#, "generation"),
            (#"{"id": 29, "op": "gc", "action": "threshold", "thresholds": []}"#, "thresholds"),
            (#"{"id": 30, "op": "gc", "action": "threshold", "thresholds": [1, 2, 3, 4]}"#, "thresholds"),
            (#"{"id": 31, "op": "gc", "action": "threshold", "thresholds": [-1]}"#, "thresholds"),
            (#"{"id": 32, "op": "gc", "action": "threshold", "thresholds": [2147483648]}"#, "thresholds"),
            (#"{"id": 33, "op": "gc", "action": "threshold", "thresholds": [1.5]}"#, "thresholds"),
            (#"{"id": 34, "op": "history", "limit": -1}"#, "limit"),
            (#"{"id": 35, "op": "history", "limit": 10001}"#, "limit"),
            (#"{"id": 36, "op": "history", "limit": 1e300}"#, "limit"),
            // Numbers past a double's range, which Foundation's JSON readers refuse outright.
            (#"{"id": 12, \#(run), "timeLimitSeconds": 1e400}"#, "field timeLimitSeconds "),
            (#"{"id": 38, \#(run), "heapLimitMiB": -1e400}"#, "field heapLimitMiB "),
            (#"{"id": 39, \#(run), "params": {"depth": 1E+999}}"#, "field params.depth "),
            (#"{"id": 43, "op": "gc", "action": "threshold", "thresholds": [1, 1e400]}"#, "field thresholds.1 "),
            // Among good fields of every kind, the bad one is the one named.
            (#"{"id": 37, \#(run), "detach": true, "exclusive": false, "threads": 1, "rc": null, "fileName": "a", "params": {"depth": 0}, "seed": -1}"#,
             "field seed "),
        ]
        for (line, field) in cases {
            let answer = try ask(client, line)
            #expect(answer.type == "error" && answer.code == "bad_request", "\(line): \(answer.code ?? answer.type)")
            #expect(answer.message?.contains(field) == true, "\(line): \(answer.message ?? "")")
        }
        // The id comes back whenever it could be read, even when another field is bad.
        #expect(try ask(client, #"{"id": 40, \#(run), "heapLimitMiB": 1e300}"#).id == .number(40))
        #expect(try ask(client, #"{"id": "x", \#(run), "seed": -1}"#).id == .string("x"))
        #expect(try ask(client, #"{"id": 44, \#(run), "timeLimitSeconds": 1e400}"#).id == .number(44))
        // Lines that are not objects with an op stay bad_json, with huge numbers or without.
        #expect(try ask(client, #"{"op": 5}"#).code == "bad_json")
        #expect(try ask(client, #"{"id": 45, "timeLimitSeconds": 1e400}"#).code == "bad_json")
        #expect(try ask(client, #"{"id": 46, "op": "run", "timeLimitSeconds": 1e400"#).code == "bad_json")
        #expect(try ask(client, "[1, 2]").code == "bad_json")
        #expect(try ask(client, #"{"id": 41, "op": "ping"}"#).type == "pong")
        var request = Request(id: .number(42), op: "run")
        request.workload = "binary-trees"
        request.params = ["depth": 4]
        #expect(try runEvents(client, request).last.result?.ok == true)
    }

    @Test func theSettingsMaximumsBoundWhatARunMayAsk() throws {
        let daemon = try Daemon(environment: ["HEAPD_MAX_HEAP_LIMIT_MIB": "64", "HEAPD_MAX_TIME_LIMIT_SECONDS": "5", "HEAPD_MAX_THREADS": "4"])
        defer { daemon.stop() }
        let client = try daemon.connect()
        let config = try #require(try ask(client, #"{"id": 1, "op": "config"}"#).config)
        // The defaults, unset, are lowered to the maximums.
        #expect(config["heap_limit_mib"] == "64")
        #expect(config["time_limit_seconds"] == "5.0")
        #expect(config["max_heap_limit_mib"] == "64")
        #expect(config["max_threads"] == "4")
        let refused: [(Request, String)] = [
            (runRequest("main { }") { $0.heapLimitMiB = 65 }, "heapLimitMiB is 1 to 64"),
            (runRequest("main { }") { $0.timeLimitSeconds = 5.5 }, "at most 5.0"),
            (runRequest("main { }") { $0.threads = 5 }, "threads is 1 to 4"),
        ]
        for (request, message) in refused {
            let (_, last) = try runEvents(client, request)
            #expect(last.code == "bad_request")
            #expect(last.message?.contains(message) == true, "\(last.message ?? "")")
        }
        #expect(try runEvents(client, runRequest("param threads = 1\nmain { print threads }") { $0.heapLimitMiB = 64; $0.threads = 4 }).last.result?.output == ["4"])
        // The thread maximum holds inside the program too, and the default heap limit is 64 MiB.
        let (_, spawning) = try runEvents(client, runRequest("fn idle() { }\nmain { for i in range(5) { t = spawn idle(); join(t) } }"))
        #expect(spawning.detail == "run.thread-limit")
        let (_, filling) = try runEvents(client, runRequest("type N { next, payload 4000 }\nmain { h = none; while 1 { n = new N; n.next = h; h = n } }"))
        #expect(filling.code == "heap_limit")
        #expect(filling.message?.contains("limit \(64 << 20)") == true, "\(filling.message ?? "")")
    }

    @Test func aStreamedRunsOutputStopsAtTheBoundWithAMarker() throws {
        let daemon = try Daemon(environment: ["HEAPD_MAX_OUTPUT_BYTES": "1000"])
        defer { daemon.stop() }
        let client = try daemon.connect()
        let events = try allEvents(client, runRequest("main { while 1 { print 1 } }", stream: true) { $0.timeLimitSeconds = 0.5 })
        let lines = events.filter { $0.type == "output" }.compactMap(\.line)
        // "1" and its newline are 2 bytes: 500 lines, then the marker.
        #expect(lines.count == 501)
        #expect(lines.last?.hasPrefix("[output truncated: the run printed more than 1000 bytes") == true)
        let last = try #require(events.last)
        #expect(last.code == "time_limit")
        #expect(last.result?.output == lines)
        #expect((last.result?.droppedOutputLines ?? 0) > 0)
        #expect(try ask(client, #"{"id": 2, "op": "ping"}"#).type == "pong")
    }

    /// `main { while 1 { print ... } }`, detached: no client reads it and the daemon's memory
    /// stays put (it kept every line before).
    @Test func aDetachedPrintLoopCannotFillTheDaemon() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let pid = daemon.process.processIdentifier
        let before = memory("VmRSS", of: pid)
        do {
            let leaving = try daemon.connect()
            let words = Array(repeating: "1234567890", count: 8).joined(separator: ", ")
            try leaving.send(runRequest("main { while 1 { print \(words) } }") { $0.detach = true; $0.timeLimitSeconds = 3 })
            _ = try ask(leaving, #"{"id": 1, "op": "ping"}"#)
        }   // closed while the run goes on
        let watcher = try daemon.connect()
        var history: [JournalEntry] = []
        for _ in 0..<3000 where history.isEmpty {
            history = try ask(watcher, #"{"id": 2, "op": "history"}"#).history ?? []
            if history.isEmpty { usleep(20_000) }
        }
        #expect(history.first?.code == "run.time-limit")
        // 1 MiB of output is kept; the peak stays far below what three seconds of lines took.
        let peak = memory("VmHWM", of: pid)
        #expect(peak - before < 48 << 20, "heapd grew from \(before >> 20) MiB to a peak of \(peak >> 20) MiB")
    }

    @Test func phaseAndGcEventsStopAtTheBoundAndAreCounted() throws {
        let daemon = try Daemon(environment: ["HEAPD_MAX_EVENTS": "10"])
        defer { daemon.stop() }
        let client = try daemon.connect()
        let events = try allEvents(client, runRequest("main { repeat 100 { phase \"p\" { gc.collect() } }  print 1 }", stream: true) { $0.gc = false })
        #expect(events.filter { $0.type == "phase" || ($0.type == "gc" && $0.collection != nil) }.count == 10)
        #expect(events.last?.type == "result")
        // 200 asked for, and the collections of the run's end.
        #expect((events.last?.droppedEvents ?? 0) >= 190)
        // Output is bounded by bytes, not by events.
        #expect(events.filter { $0.type == "output" }.count == 1)
    }

    @Test func channelsCountAgainstTheRunsHeapLimitAndTheSharedHeapHasItsOwn() throws {
        let daemon = try Daemon(environment: ["HEAPD_SHARED_HEAP_LIMIT_MIB": "16"])
        defer { daemon.stop() }
        let client = try daemon.connect()
        #expect(try #require(try ask(client, #"{"id": 1, "op": "config"}"#).config)["shared_heap_limit_mib"] == "16")
        let (_, channel) = try runEvents(client, runRequest("main { c = channel(1 << 24) }") { $0.heapLimitMiB = 64 })
        #expect(channel.code == "heap_limit")
        #expect(channel.message?.contains("bytes of channels and stacks") == true, "\(channel.message ?? "")")
        let fill = "type N { next }\nmain { h = none; while 1 { n = new N; n.next = h; h = n } }"
        let (_, shared) = try runEvents(client, runRequest(fill) { $0.heap = "shared"; $0.heapLimitMiB = 1024 })
        #expect(shared.code == "heap_limit")
        #expect(shared.message?.contains("shared heap limit reached") == true, "\(shared.message ?? "")")
        #expect(shared.message?.hasSuffix("limit \(16 << 20) [run.heap-limit] (in main)") == true, "\(shared.message ?? "")")
        // The shared heap is usable again once the run has released what it made.
        #expect(try runEvents(client, runRequest("main { print 1 }") { $0.heap = "shared" }).last.result?.ok == true)
    }

    @Test func settingsThatContradictEachOtherOrAreOutOfRangeStopHeapd() throws {
        let cases: [(environment: [String: String], arguments: [String], message: String)] = [
            (["HEAPD_HEAP_LIMIT_MIB": "2048", "HEAPD_MAX_HEAP_LIMIT_MIB": "1024"], [], "heap_limit_mib: 2048 is above max_heap_limit_mib, 1024"),
            (["HEAPD_TIME_LIMIT_SECONDS": "60", "HEAPD_MAX_TIME_LIMIT_SECONDS": "30"], [], "time_limit_seconds: 60.0 is above max_time_limit_seconds, 30.0"),
            (["HEAPD_MAX_OUTPUT_BYTES": "-1"], [], "HEAPD_MAX_OUTPUT_BYTES: max_output_bytes is an integer from 0"),
            (["HEAPD_MAX_THREADS": "0"], [], "HEAPD_MAX_THREADS: max_threads is an integer from 1"),
            ([:], ["--workers", "0"], "--workers: workers is an integer from 1 to 1024, not 0"),
            ([:], ["--metrics-listen", "127.0.0.1:70000"], "--metrics-listen: metrics_listen is an IP address and a port"),
            ([:], ["--metrics-listen", "localhost:9464"], "(no host names), not localhost:9464"),
            (["HEAPD_METRICS_LISTEN": "[::1]9464"], [], "HEAPD_METRICS_LISTEN: metrics_listen is an IP address and a port"),
            ([:], ["--allow-group", "no-such-group-here"], "allow_group: no group named no-such-group-here"),
        ]
        for (environment, arguments, message) in cases {
            let daemon = try Daemon(environment: environment, extraArguments: arguments, waitForSocket: false)
            daemon.process.waitUntilExit()
            // EX_CONFIG (78): heapd.service's RestartPreventExitStatus= keeps systemd from looping.
            #expect(daemon.process.terminationStatus == 78, "\(environment) \(arguments)")
            let errors = String(decoding: daemon.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(errors.contains(message), "\(errors)")
        }
    }

    @Test func anExecSessionsSourceIsBounded() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let client = try daemon.connect()
        func exec(_ piece: String) throws -> Response {
            var request = Request(id: .number(1), op: "exec")
            request.session = "big"
            request.source = piece
            return try ask(client, String(decoding: try JSONEncoder().encode(request), as: UTF8.self))
        }
        // A piece is at most 64 KiB: seventeen of 60,009 bytes fit in 1 MiB, an eighteenth does not.
        let padded = "x = 1  # " + String(repeating: "-", count: 60_000)
        for _ in 0..<17 { #expect(try exec(padded).type == "exec") }
        let refused = try exec(padded)
        #expect(refused.code == "bad_request")
        #expect(refused.message?.contains("more than 1048576 bytes of source") == true, "\(refused.message ?? "")")
        // The session keeps what it had.
        #expect(try exec("print x").lines == ["1"])
    }
}
