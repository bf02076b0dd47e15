// Privileges, exec sessions, shutdown and signals as the real heapd shows them: the socket given
// to the allowed group, membership from the peer process's own groups, a member held to the
// daemon's defaults and to sessions of its own, the private socket directory without
// XDG_RUNTIME_DIR (those run as other users, so only as root, with setpriv); and, as one user,
// `exec` admitted through the run pool, cancelled when its client leaves, bounded and journalled,
// new runs refused once the daemon is stopping, and SIGHUP ignored.

import Foundation
import HeapService
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Sends `lines` to `socket` as `uid`/`gid` with the supplementary `groups` (none: cleared) and
/// returns one response line per request line, or Python's error when the connection failed.
func askAs(uid: uid_t, gid: gid_t, groups: [gid_t] = [], _ socket: String, _ lines: [String]) throws -> [String] {
    let script = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX); s.settimeout(60)
        try:
            s.connect(sys.argv[1])
        except OSError as error:
            print("connect failed: " + str(error)); sys.exit(0)
        f = s.makefile("rb")
        for line in sys.argv[2:]:
            # A refused peer is closed as it connects: its request may find the socket gone.
            try: s.sendall(line.encode() + b"\\n")
            except OSError: pass
            print(f.readline().decode().strip())
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    let groupArgument = groups.isEmpty ? "--clear-groups" : "--groups=" + groups.map(String.init).joined(separator: ",")
    process.arguments = ["--reuid=\(uid)", "--regid=\(gid)", groupArgument, "/usr/bin/python3", "-c", script, socket] + lines
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return text.split(separator: "\n").map(String.init)
}

private func response(_ line: String?) -> Response? {
    line.flatMap { try? JSONDecoder().decode(Response.self, from: Data($0.utf8)) }
}

private func encoded(_ request: Request) -> String {
    String(decoding: try! JSONEncoder().encode(request), as: UTF8.self)
}

func execRequest(_ piece: String, session: String = "s", id: Int = 1) -> Request {
    var request = Request(id: .number(id), op: "exec")
    request.session = session
    request.source = piece
    return request
}

/// Waits (up to a minute) until `condition` holds for the daemon's stats.
private func waitForStats(_ client: Client, _ condition: (ServiceStats) -> Bool) throws -> ServiceStats {
    var stats = ServiceStats()
    for _ in 0..<3000 {
        stats = try #require(try ask(client, #"{"id": "w", "op": "stats"}"#).stats)
        if condition(stats) { break }
        usleep(20_000)
    }
    return stats
}

/// The socket's status once heapd has opened it to its group (mode 0660): heapd answers as soon as
/// it has bound the socket (0600, its own user's), and gives it its group and mode just after.
private func waitUntilOpened(_ path: String) -> stat {
    var info = stat()
    for _ in 0..<5000 where !(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o660) { usleep(2_000) }
    return info
}

private let nobody: uid_t = 65534
private let users: gid_t = 100

@Suite(.serialized) struct PrivilegeDaemonTests {
    // MARK: Other users (root only)

    @Test(.enabled(if: DaemonTests.canChangeUser))
    func theSocketIsTheAllowedGroupsAndItsMembersReachItThroughSupplementaryGroups() throws {
        let daemon = try Daemon(extraArguments: ["--allow-group", "users"])
        defer { daemon.stop() }
        let info = waitUntilOpened(daemon.socketPath)
        #expect(info.st_gid == users)
        #expect(info.st_mode & 0o777 == 0o660)
        // No chmod here: the socket's group lets the member in, the credentials check too.
        let member = try askAs(uid: nobody, gid: nobody, groups: [users], daemon.socketPath, [#"{"id": 1, "op": "ping"}"#])
        #expect(response(member.first)?.type == "pong", "\(member)")
        let outsider = try askAs(uid: nobody, gid: nobody, daemon.socketPath, [#"{"id": 1, "op": "ping"}"#])
        #expect(outsider.first?.hasPrefix("connect failed") == true, "\(outsider)")
    }

    /// A group that the group file says has a member, and that member's ids.
    static func listedMember() -> (group: String, gid: gid_t, uid: uid_t, primary: gid_t)? {
        setgrent()
        defer { endgrent() }
        while let entry = getgrent() {
            guard let first = entry.pointee.gr_mem?.pointee, let user = getpwnam(first),
                  user.pointee.pw_gid != entry.pointee.gr_gid, user.pointee.pw_uid != 0 else { continue }
            return (String(cString: entry.pointee.gr_name), entry.pointee.gr_gid, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        return nil
    }

    @Test(.enabled(if: DaemonTests.canChangeUser && listedMember() != nil))
    func membershipIsThePeerProcessesGroupsNotTheGroupFile() throws {
        let listed = try #require(PrivilegeDaemonTests.listedMember())
        let daemon = try Daemon(extraArguments: ["--allow-group", listed.group])
        defer { daemon.stop() }
        // The group file lists the user, but this process of theirs has dropped the group: past
        // the file mode (once heapd has set its own), to the credentials check.
        _ = waitUntilOpened(daemon.socketPath)
        chmod(daemon.socketPath, 0o666)
        let dropped = try askAs(uid: listed.uid, gid: listed.primary, daemon.socketPath, [#"{"id": 1, "op": "ping"}"#])
        #expect(response(dropped.first)?.code == "forbidden", "\(dropped)")
        // Nobody is not listed, but this process of theirs has the group.
        let given = try askAs(uid: nobody, gid: nobody, groups: [listed.gid], daemon.socketPath, [#"{"id": 1, "op": "ping"}"#])
        #expect(response(given.first)?.type == "pong", "\(given)")
    }

    @Test(.enabled(if: DaemonTests.canChangeUser))
    func aMemberIsHeldToTheDefaultsAndKeepsSessionsOfItsOwn() throws {
        let daemon = try Daemon(environment: ["HEAPD_HEAP_LIMIT_MIB": "64", "HEAPD_TIME_LIMIT_SECONDS": "30"], extraArguments: ["--allow-group", "users"])
        defer { daemon.stop() }
        _ = waitUntilOpened(daemon.socketPath)
        let owner = try daemon.connect()
        #expect(try ask(owner, encoded(execRequest("a = 1"))).lines == [])
        func run(_ configure: (inout Request) -> Void) -> String { encoded(runRequest("main { print 3 }", configure)) }
        var threshold = Request(id: .number(5), op: "gc")
        threshold.action = "threshold"
        threshold.thresholds = [1]
        let lines = [
            run { $0.heapLimitMiB = 65 }, run { $0.timeLimitSeconds = 31 }, run { $0.detach = true }, run { $0.exclusive = true },
            encoded(threshold), #"{"id": 6, "op": "shutdown"}"#,
            run { $0.heapLimitMiB = 64; $0.timeLimitSeconds = 30 }, #"{"id": 7, "op": "gc", "action": "status"}"#,
            encoded(execRequest("print a")), encoded(execRequest("a = 7")), encoded(execRequest("print a")),
        ]
        let answers = try askAs(uid: nobody, gid: nobody, groups: [users], daemon.socketPath, lines).map(response)
        try #require(answers.count == lines.count, "\(answers)")
        #expect(answers[0..<6].allSatisfy { $0?.code == "forbidden" }, "\(answers)")
        #expect(answers[0]?.message?.contains("heapLimitMiB of at most 64") == true)
        #expect(answers[6]?.result?.output == ["3"])
        #expect(answers[7]?.gc?.thresholds == [700, 10, 10])
        // The member's session "s" is not the owner's.
        #expect(answers[8]?.code == "check_error")
        #expect(answers[10]?.lines == ["7"])
        #expect(try ask(owner, encoded(execRequest("print a"))).lines == ["1"])
        #expect(daemon.process.isRunning)
    }

    @Test(.enabled(if: DaemonTests.canChangeUser))
    func withoutXDGRuntimeDirAUsersSocketIsInAPrivateDirectory() throws {
        // A uid of nobody's, so that no other heapd's directory is in the way.
        let uid = uid_t.random(in: 70_000...79_999)
        let directory = Client.privateSocketDirectory(uid: uid)
        let state = NSTemporaryDirectory() + "heapd-private-state-\(uid)"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        chown(state, uid, uid)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: state)
        }
        func heapd() throws -> (Process, Pipe) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/env", "-u", "XDG_RUNTIME_DIR", "-u", "HEAPD_SOCKET",
                                 Daemon.binary.path, "--workloads", Daemon.workloads, "--state-directory", state]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            return (process, errors)
        }
        let (process, _) = try heapd()
        var client: Client?
        for _ in 0..<1000 where client == nil && process.isRunning {
            client = try? Client(socketPath: directory + "/heapd.sock", timeout: .seconds(60))
            if client == nil { usleep(10_000) }
        }
        let connected = try #require(client)
        #expect(try ask(connected, #"{"id": 1, "op": "ping"}"#).type == "pong")
        var info = stat()
        #expect(lstat(directory, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o700)
        #expect(info.st_uid == uid)
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // A directory others may enter is not used.
        chmod(directory, 0o755)
        let (refused, errors) = try heapd()
        refused.waitUntilExit()
        #expect(refused.terminationStatus == 1)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.contains("is not private (its mode is 0755"), "\(message)")
    }

    // MARK: One user

    @Test func anExecGoesThroughTheRunPoolsAdmission() throws {
        let daemon = try Daemon(environment: ["HEAPD_QUEUE_LIMIT": "0"], extraArguments: ["--workers", "1"])
        defer { daemon.stop() }
        let busy = try daemon.connect(), shell = try daemon.connect(), watcher = try daemon.connect()
        var endless = runRequest("main { while 1 { } }")
        endless.id = .string("endless")
        try busy.send(endless)
        #expect(try waitForStats(watcher) { $0.runsRunning == 1 }.runsRunning == 1)
        #expect(try ask(shell, encoded(execRequest("a = 1"))).code == "busy")
        try busy.send(#"{"id": "c", "op": "cancel", "target": "endless"}"#)
        var responses: [Response] = []
        while responses.count < 2 { responses.append(try busy.receive()) }
        #expect(responses.contains { $0.code == "cancelled" })
        _ = try waitForStats(watcher) { $0.runsRunning == 0 }
        // Refused before it was kept: the session does not know the piece.
        #expect(try ask(shell, encoded(execRequest("print a"))).code == "check_error")
        #expect(try ask(shell, encoded(execRequest("print 2"))).lines == ["2"])
    }

    @Test func anExecIsCancelledWhenItsClientLeaves() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let watcher = try daemon.connect()
        do {
            let leaving = try daemon.connect()
            try leaving.send(encoded(execRequest("while 1 { }", session: "spin")))
            #expect(try waitForStats(watcher) { $0.runsRunning == 1 }.runsRunning == 1)
        }   // closed while the piece runs (its time limit is 30 s)
        // The journal's line is written just after the counters change: wait for it.
        var history: [JournalEntry] = []
        for _ in 0..<3000 where history.isEmpty {
            history = try ask(watcher, #"{"id": 2, "op": "history"}"#).history ?? []
            if history.isEmpty { usleep(20_000) }
        }
        #expect(try waitForStats(watcher) { $0.runsRunning == 0 }.runsFailed == 1)
        #expect(history.last?.file == "exec:spin")
        #expect(history.last?.code == "run.cancelled")
        #expect(try ask(watcher, encoded(execRequest("print 1", session: "spin"))).lines == ["1"])
    }

    @Test func execPiecesAreBoundedJournalledAndCancellableByTheirId() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let client = try daemon.connect()
        let large = try ask(client, encoded(execRequest("x = \"" + String(repeating: "y", count: 64 << 10) + "\"")))
        #expect(large.code == "bad_request")
        #expect(large.message?.contains("at most 65536 bytes") == true)
        #expect(try ask(client, encoded(execRequest("a = 1", session: String(repeating: "n", count: 129)))).code == "bad_request")
        let kept = try ask(client, encoded(execRequest("print 41 + 1")))
        #expect(kept.lines == ["42"])
        #expect(kept.recorded == true)
        let entries = Journal.read(daemon.stateDirectory + "/journal.ndjson")
        #expect(entries.map(\.kind) == ["started", "finished"])
        #expect(entries.allSatisfy { $0.file == "exec:s" && $0.run == kept.run })
        #expect(entries.last?.ok == true)
        // `cancel` reaches a piece as it reaches a run.
        try client.send(encoded(execRequest("while 1 { }", id: 9)))
        try client.send(#"{"id": "c", "op": "cancel", "target": 9}"#)
        var responses: [Response] = []
        while responses.count < 2 { responses.append(try client.receive()) }
        #expect(responses.contains { $0.id == .number(9) && $0.code == "cancelled" })
        #expect(try ask(client, encoded(execRequest("print 1"))).lines == ["1"])
    }

    @Test func onceStoppingHeapdRefusesNewRunsOnConnectionsAlreadyOpen() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let client = try daemon.connect()
        // In one write: heapd reads the run after it has begun to stop.
        try client.send(#"{"id": 1, "op": "shutdown"}"# + "\n" + encoded(runRequest("main { print 1 }")) + "\n" + encoded(execRequest("print 1")))
        #expect(try client.receive().type == "shutdown")
        let run = try client.receive(), exec = try client.receive()
        #expect(run.code == "shutting_down")
        #expect(run.id == .number(7))
        #expect(exec.code == "shutting_down")
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 0)
        #expect(Journal.read(daemon.stateDirectory + "/journal.ndjson").isEmpty)
    }

    @Test func sighupIsIgnoredAndSaidSo() throws {
        let daemon = try Daemon()
        let client = try daemon.connect()
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(try ask(client, #"{"id": 1, "op": "ping"}"#).type == "pong")
        #expect(try runEvents(client, runRequest("main { print 1 }")).last.result?.output == ["1"])
        usleep(100_000)
        #expect(daemon.process.isRunning)
        daemon.stop()
        #expect(daemon.process.terminationStatus == 0)
        let log = String(decoding: daemon.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("SIGHUP ignored"), "\(log)")
    }
}
