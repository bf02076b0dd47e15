// The real heapd against clients that misbehave (issue 14): the connection over a cap, two
// thousand idle connections, a silent one, a megabyte line sent in small pieces, a client that
// stops reading a streamed run, a forbidden peer, a pipeline of requests sent without reading, a
// connection whose requests are still queued when heapd stops.
// After each, heapd answers `ping` from the same process (its pid, by SO_PEERCRED).

import Foundation
import HeapService
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A connection made by hand: it sends bytes as the test chooses (a line in pieces, or nothing
/// at all), reads up to the end of the stream, and says which process accepted it.
final class RawConnection {
    let descriptor: Int32
    private var pending: [UInt8] = []

    /// Connecting, sending and reading give up after 60 s (a daemon that does not accept or
    /// answer fails the test, it does not hang the suite).
    init(_ path: String) throws {
        descriptor = try RawConnection.connect(path)
    }

    /// A descriptor connected to `path`; one that does not connect is closed here, before
    /// `descriptor` is set, so that the failed init has no deinit to close the number again (by
    /// then another suite's file, perhaps: a Process launch failed with EBADF so).
    private static func connect(_ path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ClientError.noDaemon(path, errno) }
        var limit = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(descriptor)
            throw ClientError.noDaemon(path, code)
        }
        return descriptor
    }

    deinit { close(descriptor) }

    func send(_ bytes: [UInt8]) throws {
        try sendAll(descriptor, bytes)
    }

    func send(line: String) throws {
        try send(Array((line + "\n").utf8))
    }

    /// The next line, or nil once heapd has closed the connection.
    func receiveLine() throws -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw ClientError.timedOut }
            if count <= 0 { return nil }       // the end of the stream, or a reset after it
            pending.append(contentsOf: chunk[..<count])
        }
    }

    func receive() throws -> Response? {
        guard let line = try receiveLine() else { return nil }
        return try JSONDecoder().decode(Response.self, from: Data(line.utf8))
    }

    /// The process on the other end (SO_PEERCRED).
    var peerPID: pid_t {
        var credentials = (pid: pid_t(0), uid: uid_t(0), gid: gid_t(0))
        var size = socklen_t(MemoryLayout.size(ofValue: credentials))
        getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &size)
        return credentials.pid
    }
}

/// Sends every byte (send with MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE).
func sendAll(_ descriptor: Int32, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard written > 0 else { throw ClientError.closed }
        offset += written
    }
}

/// heapd is the process the test started, and it answers a new connection's ping.
func expectStillServing(_ daemon: Daemon, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(daemon.process.isRunning, sourceLocation: sourceLocation)
    let connection = try RawConnection(daemon.socketPath)
    #expect(connection.peerPID == daemon.process.processIdentifier, sourceLocation: sourceLocation)
    try connection.send(line: #"{"id": "alive", "op": "ping"}"#)
    #expect(try connection.receive()?.type == "pong", sourceLocation: sourceLocation)
}

/// The most memory a process has had resident (VmHWM), in bytes.
func peakResidentBytes(of pid: pid_t) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kibibytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
    return kibibytes << 10
}

/// A connection heapd has admitted (it answered a ping). A connection that closed a moment ago
/// (the `Daemon` helper's probe, say) may still hold its place until heapd has seen it go: a
/// refused one is tried again.
func admittedConnection(_ daemon: Daemon) throws -> RawConnection {
    for _ in 0..<500 {
        let connection = try RawConnection(daemon.socketPath)
        try? connection.send(line: #"{"id": "admitted", "op": "ping"}"#)
        if (try? connection.receive())??.type == "pong" { return connection }
        usleep(10_000)
    }
    throw ClientError.closed
}

@Suite(.serialized) struct ConnectionTests {
    @Test func theConnectionOverTheUsersCapGetsACodedErrorAndIsClosed() throws {
        let daemon = try Daemon(environment: ["HEAPD_MAX_CONNECTIONS_PER_USER": "2", "HEAPD_MAX_CONNECTIONS": "10"])
        defer { daemon.stop() }
        var held = try (0..<2).map { _ in try admittedConnection(daemon) }
        let third = try RawConnection(daemon.socketPath)
        let refusal = try #require(try third.receive())
        #expect(refusal.code == "too_many_connections")
        #expect(refusal.message?.contains("max_connections_per_user") == true, "\(refusal.message ?? "")")
        #expect(try third.receiveLine() == nil)
        // A connection that closes gives its place back.
        held.removeFirst()
        #expect(throws: Never.self) { _ = try admittedConnection(daemon) }
        try held[0].send(line: #"{"id": 3, "op": "config"}"#)
        #expect(try held[0].receive()?.config?["max_connections_per_user"] == "2")
    }

    @Test func theConnectionOverTheTotalCapGetsACodedErrorAndIsClosed() throws {
        let daemon = try Daemon(environment: ["HEAPD_MAX_CONNECTIONS": "3", "HEAPD_MAX_CONNECTIONS_PER_USER": "10"])
        defer { daemon.stop() }
        var held = try (0..<3).map { _ in try admittedConnection(daemon) }
        try held[0].send(line: #"{"id": 3, "op": "config"}"#)
        #expect(try held[0].receive()?.config?["max_connections"] == "3")
        let over = try RawConnection(daemon.socketPath)
        try? over.send(line: #"{"id": 2, "op": "ping"}"#)     // never read: it may even come too late
        let refusal = try #require(try over.receive())
        #expect(refusal.code == "too_many_connections")
        #expect(refusal.message?.contains("(max_connections)") == true, "\(refusal.message ?? "")")
        #expect(try over.receiveLine() == nil)
        held.removeLast()
        let again = try admittedConnection(daemon)
        #expect(again.peerPID == daemon.process.processIdentifier)
    }

    @Test func twoThousandIdleConnectionsAndPingIsStillAnswered() throws {
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        getrlimit(resource, &limit)
        try #require(limit.rlim_max >= 2200, "the test needs 2,200 descriptors; the hard limit is \(limit.rlim_max)")
        // heapd starts with the usual soft limit of 1,024 open files and must raise it itself;
        // this process raises its own (never lowers it: the other suites share it) for the
        // client ends.
        if limit.rlim_cur < 4096 {
            limit.rlim_cur = min(4096, limit.rlim_max)
            setrlimit(resource, &limit)
        }
        let daemon = try Daemon(environment: ["HEAPD_MAX_CONNECTIONS": "2100", "HEAPD_MAX_CONNECTIONS_PER_USER": "2100"], openFiles: 1024)
        defer { daemon.stop() }
        let idle = try (0..<2000).map { _ in try RawConnection(daemon.socketPath) }
        try expectStillServing(daemon)
        // Every one of them was admitted, and each still answers.
        for (index, connection) in idle.enumerated() {
            try connection.send(line: #"{"id": \#(index), "op": "ping"}"#)
            let pong = try connection.receive()
            #expect(pong?.type == "pong" && pong?.id == .number(index), "connection \(index): \(String(describing: pong))")
        }
        try expectStillServing(daemon)
    }

    @Test func aSilentConnectionIsClosedAfterTheIdleTimeoutButOneWaitingForARunIsNot() throws {
        let daemon = try Daemon(environment: ["HEAPD_IDLE_TIMEOUT_SECONDS": "1"])
        defer { daemon.stop() }
        let silent = try RawConnection(daemon.socketPath)
        try silent.send(line: #"{"id": 1, "op": "ping"}"#)
        #expect(try silent.receive()?.type == "pong")
        let closing = try #require(try silent.receive())
        #expect(closing.code == "idle_timeout")
        #expect(try silent.receiveLine() == nil)
        // A run that ends with its time limit, three times the idle timeout later: the
        // connection waits for it, then goes idle.
        let waiting = try RawConnection(daemon.socketPath)
        try waiting.send(line: #"{"id": 2, "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": 3}"#)
        #expect(try waiting.receive()?.code == "time_limit")
        #expect(try waiting.receive()?.code == "idle_timeout")
        try expectStillServing(daemon)
    }

    /// `heapctl shell` left idle past the timeout goes on where it was: the session is heapd's.
    @Test func theShellCarriesOnAfterTheIdleTimeout() throws {
        let daemon = try Daemon(environment: ["HEAPD_IDLE_TIMEOUT_SECONDS": "1"])
        defer { daemon.stop() }
        let (process, input, output, errors) = try startShell(daemon.socketPath)
        var printed = ""
        func readUntil(_ text: String) {
            while !printed.contains(text) {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { return }
                printed += String(decoding: chunk, as: UTF8.self)
            }
        }
        input.fileHandleForWriting.write(Data("x = 6\nprint x * 7\n".utf8))
        readUntil("42\n")
        usleep(2_500_000)                       // heapd closes the silent connection meanwhile
        input.fileHandleForWriting.write(Data("print x + 1\n".utf8))
        readUntil("7\n")
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(printed == "42\n7\n", "stderr: \(message)")
        #expect(process.terminationStatus == 0, "stderr: \(message)")
    }

    @Test func aMegabyteLineSentInSmallPiecesIsRefusedAndHeapdKeepsServing() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let connection = try RawConnection(daemon.socketPath)
        for _ in 0..<((1 << 20) + 1) { try connection.send([UInt8(ascii: "x")]) }
        try connection.send([UInt8(ascii: "\n")])
        let refusal = try #require(try connection.receive())
        #expect(refusal.code == "request_too_large")
        // The same connection goes on, and a line sent a byte at a time is whole.
        for byte in Array(#"{"id": 2, "op": "ping"}"#.utf8) + [UInt8(ascii: "\n")] { try connection.send([byte]) }
        let pong = try connection.receive()
        #expect(pong?.type == "pong" && pong?.id == .number(2))
        try expectStillServing(daemon)
    }

    @Test func aClientThatStopsReadingAStreamedRunIsCancelledAndDisconnected() throws {
        let daemon = try Daemon(environment: ["HEAPD_OUTPUT_HIGH_WATER_BYTES": "65536"])
        defer { daemon.stop() }
        let stopped = try RawConnection(daemon.socketPath)
        let text = String(repeating: "0123456789", count: 20)
        try stopped.send(line: #"{"id": 1, "op": "run", "stream": true, "timeLimitSeconds": 600, "source": "main { while 1 { print \"\#(text)\" } }"}"#)
        // It never reads. The run is cancelled (not ended by its time limit, ten minutes away).
        let watcher = try daemon.connect()
        var stats = ServiceStats()
        for _ in 0..<6000 {
            stats = try #require(try ask(watcher, #"{"id": 1, "op": "stats"}"#).stats)
            if stats.runsFinished + stats.runsFailed == 1 { break }
            usleep(10_000)
        }
        #expect(stats.runsRunning == 0)
        #expect(stats.runsFailed == 1)
        // The run's journal line is written just after the counters change: wait for it.
        var history: [JournalEntry] = []
        for _ in 0..<3000 where history.isEmpty {
            history = try ask(watcher, #"{"id": 2, "op": "history"}"#).history ?? []
            if history.isEmpty { usleep(10_000) }
        }
        #expect(history.last?.code == "run.cancelled")
        // heapd did not keep the output the client would not read.
        let peak = try #require(peakResidentBytes(of: daemon.process.processIdentifier))
        #expect(peak < 256 << 20, "heapd's peak resident memory: \(peak >> 20) MiB")
        // What the socket already held is events; then the connection is closed, with no result.
        var events = 0
        while let response = try stopped.receive() {
            #expect(response.isEvent, "\(response.type)")
            events += 1
        }
        #expect(events > 0)
        try expectStillServing(daemon)
    }

    @Test func manyRequestsSentWithoutReadingAreAllAnsweredInOrder() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let connection = try RawConnection(daemon.socketPath)
        let count = 20_000
        let lines = (0..<count).map { #"{"id": \#($0), "op": "ping"}"# + "\n" }.joined()
        let descriptor = connection.descriptor
        let sent = DispatchSemaphore(value: 0)
        // More than the sockets hold: heapd stops reading while its answers are unread, and the
        // sender waits until this thread reads.
        DispatchQueue.global().async {
            try? sendAll(descriptor, Array(lines.utf8))
            sent.signal()
        }
        usleep(500_000)
        for index in 0..<count {
            let pong = try #require(try connection.receive())
            #expect(pong.type == "pong" && pong.id == .number(index), "\(index): \(pong.type) \(String(describing: pong.id))")
            if pong.id != .number(index) { break }
        }
        sent.wait()
        try expectStillServing(daemon)
    }

    @Test func aStoppingHeapdAnswersEveryLineItHadReadBeforeItCloses() throws {
        let daemon = try Daemon()
        let connection = try RawConnection(daemon.socketPath)
        // In one write, so that heapd has read them all when the shutdown is handled: the lines
        // after it wait on the connection's queue while heapd stops.
        let after = try (2...16).map { id in
            guard id.isMultiple(of: 2) else { return #"{"id": \#(id), "op": "ping"}"# }
            return String(decoding: try JSONEncoder().encode(runRequest("main { print 1 }") { $0.id = .number(id) }), as: UTF8.self)
        }
        try connection.send(line: ([#"{"id": 1, "op": "shutdown"}"#] + after).joined(separator: "\n"))
        #expect(try connection.receive()?.type == "shutdown")
        for id in 2...16 {
            let answer = try #require(try connection.receive(), "heapd closed the connection before answering \(id)")
            #expect(answer.id == .number(id))
            #expect(answer.type == (id.isMultiple(of: 2) ? "error" : "pong"))
            if id.isMultiple(of: 2) { #expect(answer.code == "shutting_down") }
        }
        #expect(try connection.receiveLine() == nil)
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 0)
    }

    @Test(.enabled(if: DaemonTests.canChangeUser))
    func aForbiddenPeerIsClosedAtOnceWithoutSendingAnything() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        // Past the file mode (0660, set just after binding), to the peer check.
        var info = stat()
        for _ in 0..<5000 {
            if stat(daemon.socketPath, &info) == 0, info.st_mode & 0o777 == 0o660 { break }
            usleep(2_000)
        }
        chmod(daemon.socketPath, 0o666)
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(sys.argv[1]); f = s.makefile("rb")
            print(f.readline().decode().strip())
            print("end of stream" if f.read() == b"" else "more")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script, daemon.socketPath]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        #expect(lines.first?.contains("\"forbidden\"") == true, "\(lines)")
        #expect(lines.dropFirst().first == "end of stream", "\(lines)")
        try expectStillServing(daemon)
    }
}

extension Response {
    /// A streamed run's event rather than the response that ends a request.
    var isEvent: Bool { ["output", "progress", "phase"].contains(type) || collection != nil }
}
