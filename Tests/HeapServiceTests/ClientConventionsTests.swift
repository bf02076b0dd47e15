// heapctl's conventions (issue 16): finding heapd ($HEAPD_SOCKET, the user's own socket, the
// system socket when the user's is absent), `--version` on both binaries, a request timeout, the
// exit statuses of ExitStatus.swift (busy and forbidden are not "bad program"), `shell` exiting 3
// when the connection drops, and `run --json` printing the streamed events as NDJSON.

import Foundation
@testable import HeapService
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `heapctl shell` on `socket`, started, with pipes to its input, output and errors.
func startShell(_ socket: String) throws -> (Process, input: Pipe, output: Pipe, errors: Pipe) {
    let process = Process()
    process.executableURL = Daemon.binary.deletingLastPathComponent().appendingPathComponent("heapctl")
    process.arguments = ["shell", "--socket", socket]
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    return (process, input, output, errors)
}

/// The heapctl built beside this test bundle.
let heapctl = Daemon.binary.deletingLastPathComponent().appendingPathComponent("heapctl").path

/// A workload file with `source`, in a scratch directory the caller removes.
private func workloadFile(_ source: String, in directory: String) throws -> String {
    let path = directory + "/t.hw"
    try source.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A Unix socket that listens and never accepts or answers: a heapd that hangs.
private func silentServer(at path: String) -> Int32 {
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8)
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    listen(descriptor, 16)
    return descriptor
}

@Suite struct ClientConventionsTests {
    private let user: uid_t = 1000
    private let environment = ["XDG_RUNTIME_DIR": "/run/user/1000"]

    @Test func heapdSocketWinsWhenSet() {
        var environment = self.environment
        environment["HEAPD_SOCKET"] = "/tmp/mine.sock"
        #expect(Client.clientSocketPath(environment: environment, uid: user) { _ in true } == "/tmp/mine.sock")
    }

    @Test func theUsersOwnSocketWhenItExists() {
        let path = Client.clientSocketPath(environment: environment, uid: user) { _ in true }
        #expect(path == "/run/user/1000/heapd.sock")
    }

    @Test func theSystemSocketWhenTheUsersIsAbsent() {
        let path = Client.clientSocketPath(environment: environment, uid: user) { $0 == Client.systemSocketPath }
        #expect(path == "/run/heapd/heapd.sock")
    }

    @Test func theUsersOwnWhenNeitherExists() {
        #expect(Client.clientSocketPath(environment: environment, uid: user) { _ in false } == "/run/user/1000/heapd.sock")
        #expect(Client.clientSocketPath(environment: [:], uid: user) { _ in false } == "/tmp/heapd-1000/heapd.sock")
        #expect(Client.clientSocketPath(environment: [:], uid: 0) { _ in false } == "/run/heapd/heapd.sock")
    }

    @Test(arguments: ["heapd", "heapctl"])
    func bothBinariesPrintTheirVersion(_ name: String) throws {
        let process = Process()
        process.executableURL = Daemon.binary.deletingLastPathComponent().appendingPathComponent(name)
        process.arguments = ["--version"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(printed.trimmingCharacters(in: .whitespacesAndNewlines) == protocolVersion)
    }

    /// `heapctl shell` exits 3 (no heapd) when heapd goes away in the middle of a session, not 1
    /// with a Swift error.
    @Test func theShellExitsThreeWhenTheConnectionDrops() throws {
        let daemon = try Daemon()
        let (process, input, output, errors) = try startShell(daemon.socketPath)
        input.fileHandleForWriting.write(Data("print 6 * 7\n".utf8))
        // The first answer has come back once its line is printed.
        var printed = Data()
        while !String(decoding: printed, as: UTF8.self).contains("42") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed.append(chunk)
        }
        daemon.stop()
        input.fileHandleForWriting.write(Data("print 1\n".utf8))
        try input.fileHandleForWriting.close()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(String(decoding: printed, as: UTF8.self).contains("42"))
        #expect(process.terminationStatus == 3, "stderr: \(message)")
        #expect(message.contains("connection to heapd"))
    }

    @Test func heapdSocketFindsTheDaemonEndToEnd() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let stats = try runToEnd(heapctl, ["stats"], environment: ["HEAPD_SOCKET": daemon.socketPath])
        #expect(stats.status == 0, "\(stats.errors)")
        #expect(stats.output.contains("requests"))
        // --socket still wins over the variable.
        let explicit = try runToEnd(heapctl, ["stats", "--socket", daemon.socketPath], environment: ["HEAPD_SOCKET": "/nonexistent/heapd.sock"])
        #expect(explicit.status == 0, "\(explicit.errors)")
        let missing = try runToEnd(heapctl, ["stats"], environment: ["HEAPD_SOCKET": "/nonexistent/heapd.sock"])
        #expect(missing.status == 3)
        #expect(missing.errors.contains("cannot reach heapd at /nonexistent/heapd.sock"))
    }

    /// A heapd that accepts the connection and never answers: heapctl gives up after --timeout
    /// (30 s by default for a request) with exit 3, and says how long it waited.
    @Test func aSilentHeapdTimesOut() throws {
        let scratch = try scratchDirectory("silent")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let listener = silentServer(at: scratch + "/heapd.sock")
        defer { close(listener) }
        let file = try workloadFile("main { print 1 }", in: scratch)
        for arguments in [["stats"], ["gc"], ["run", file], ["bench", file, "--repeat", "1"]] {
            let start = ContinuousClock.now
            let waited = try runToEnd(heapctl, arguments + ["--socket", scratch + "/heapd.sock", "--timeout", "0.5"])
            #expect(waited.status == 3, "\(arguments): \(waited.errors)")
            #expect(waited.errors.contains("did not answer within"), "\(arguments): \(waited.errors)")
            #expect(ContinuousClock.now - start < .seconds(20))
        }
        #expect(try runToEnd(heapctl, ["stats", "--timeout", "-1"]).status == 2)
    }

    /// 0 done, 1 the run failed, 2 the program or command line is wrong, 3 no heapd.
    @Test func exitStatusesSayWhatWentWrong() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let scratch = try scratchDirectory("statuses")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let socket = ["--socket", daemon.socketPath]
        func status(_ arguments: [String]) throws -> Int32 { try runToEnd(heapctl, arguments).status }
        #expect(try status(["run", try workloadFile("main { print 1 }", in: scratch)] + socket) == 0)
        #expect(try status(["run", try workloadFile("main { expect 1 == 2, \"no\" }", in: scratch)] + socket) == 1)
        #expect(try status(["run", try workloadFile("main { x = }", in: scratch)] + socket) == 2)
        #expect(try status(["run", "no-such-workload"] + socket) == 2)
        #expect(try status(["history", "--limit", "5000"] + socket) == 2)
        // ArgumentParser's usage errors are 2 as well, not its 64.
        #expect(try status(["run", "--rc", "sideways", "x.hw"]) == 2)
        #expect(try status(["no-such-command"]) == 2)
        #expect(try status(["stats", "--socket", scratch + "/none.sock"]) == 3)
        #expect(try status(["--help"]) == 0)
    }

    /// heapd's queue is full: `busy` is exit 4, for run and for the shell alike.
    @Test func busyIsFourNotABadProgram() throws {
        let daemon = try Daemon(environment: ["HEAPD_WORKERS": "1", "HEAPD_QUEUE_LIMIT": "0"])
        defer { daemon.stop() }
        let holder = try daemon.connect()
        try holder.send(runRequest("main { while 1 { } }") { $0.timeLimitSeconds = 120 })
        let probe = try daemon.connect()
        for _ in 0..<500 {
            if try ask(probe, #"{"id": 1, "op": "stats"}"#).stats?.runsRunning == 1 { break }
            usleep(10_000)
        }
        let scratch = try scratchDirectory("busy")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let refused = try runToEnd(heapctl, ["run", try workloadFile("main { print 1 }", in: scratch), "--socket", daemon.socketPath])
        #expect(refused.status == 4, "\(refused.errors)")
        #expect(refused.errors.contains("busy"))
        let json = try runToEnd(heapctl, ["run", scratch + "/t.hw", "--socket", daemon.socketPath, "--json"])
        #expect(json.status == 4)
        #expect(json.output.split(separator: "\n").last?.contains("\"busy\"") == true, "\(json.output)")
    }

    /// A user heapd does not let in: `forbidden` is exit 5, whatever the command.
    @Test(.enabled(if: DaemonTests.canChangeUser, "needs root, setpriv and python3 to connect as another user"))
    func forbiddenIsFive() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        var info = stat()
        for _ in 0..<5000 {
            if stat(daemon.socketPath, &info) == 0, info.st_mode & 0o777 == 0o660 { break }
            usleep(2_000)
        }
        chmod(daemon.socketPath, 0o666)
        let scratch = try scratchDirectory("forbidden")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = try workloadFile("main { print 1 }", in: scratch)
        chmod(scratch, 0o755)
        chmod(file, 0o644)
        for arguments in [["stats"], ["run", file], ["workloads"]] {
            let refused = try runToEnd("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", heapctl] + arguments + ["--socket", daemon.socketPath])
            #expect(refused.status == 5, "\(arguments): \(refused.errors)")
            #expect(refused.errors.contains("forbidden"), "\(arguments): \(refused.errors)")
        }
    }

    /// `run --json` through heapd: one JSON object a line as the run streams, its result last.
    @Test func runJSONPrintsTheStreamedEventsAsNDJSON() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let run = try runToEnd(heapctl, ["run", "binary-trees", "--param", "depth=6", "--json", "--socket", daemon.socketPath])
        #expect(run.status == 0, "\(run.errors)")
        let events = try run.output.split(separator: "\n").map { try JSONDecoder().decode(Response.self, from: Data($0.utf8)) }
        #expect(events.filter { $0.type == "output" }.map { $0.line ?? "" }.first == "stretch tree of depth 7 check: 255")
        #expect(events.last?.type == "result")
        #expect(events.dropLast().allSatisfy { ["output", "progress", "phase", "gc"].contains($0.type) })
        #expect(run.errors.isEmpty, "\(run.errors)")
        let scratch = try scratchDirectory("ndjson")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let failed = try runToEnd(heapctl, ["run", try workloadFile("main { print 1\n expect 1 == 2, \"no\" }", in: scratch), "--json", "--socket", daemon.socketPath])
        #expect(failed.status == 1)
        let lines = try failed.output.split(separator: "\n").map { try JSONDecoder().decode(Response.self, from: Data($0.utf8)) }
        #expect(lines.last?.type == "error" && lines.last?.code == "expect_failed", "\(failed.output)")
        #expect(lines.last?.result?.output == ["1"])
    }
}
