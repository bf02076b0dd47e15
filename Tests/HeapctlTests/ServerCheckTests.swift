// heapctl trusts only a server run by root, by the user, or — on the system socket — by the
// system heapd's user; a socket served by anyone else gets nothing, and heapctl exits 3 saying
// who serves it (that part as root, with setpriv, to be another user).

import Foundation
import HeapService
import Testing
@testable import heapctl
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ServerCheckTests {
    private let me: uid_t = 1000
    private let systemUser: uid_t = 990

    @Test func rootAndTheUserItselfAreTrustedAnywhere() {
        for path in ["/tmp/x.sock", Client.systemSocketPath] {
            #expect(ServerCheck.trusts(server: 0, user: me, socketPath: path, systemUser: systemUser))
            #expect(ServerCheck.trusts(server: me, user: me, socketPath: path, systemUser: systemUser))
            #expect(ServerCheck.trusts(server: 0, user: 0, socketPath: path, systemUser: nil))
        }
    }

    @Test func theSystemHeapdsUserOnlyOnTheSystemSocket() {
        #expect(ServerCheck.trusts(server: systemUser, user: me, socketPath: Client.systemSocketPath, systemUser: systemUser))
        #expect(ServerCheck.trusts(server: systemUser, user: me, socketPath: "/run/heapd/./heapd.sock", systemUser: systemUser))
        #expect(!ServerCheck.trusts(server: systemUser, user: me, socketPath: "/tmp/heapd.sock", systemUser: systemUser))
        #expect(!ServerCheck.trusts(server: systemUser, user: me, socketPath: "/run/user/1000/heapd.sock", systemUser: systemUser))
    }

    @Test func anyoneElseIsNot() {
        #expect(!ServerCheck.trusts(server: 1001, user: me, socketPath: "/tmp/heapd.sock", systemUser: systemUser))
        #expect(!ServerCheck.trusts(server: 1001, user: me, socketPath: Client.systemSocketPath, systemUser: systemUser))
        #expect(!ServerCheck.trusts(server: 1001, user: me, socketPath: Client.systemSocketPath, systemUser: nil))
        #expect(!ServerCheck.trusts(server: me, user: 1001, socketPath: "/tmp/heapd.sock", systemUser: nil))
    }

    static var canChangeUser: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
    }

    @Test(.enabled(if: canChangeUser), arguments: [["run", "PROGRAM"], ["stats"], ["shell", "--session", "s"]])
    func aSocketServedByAnotherUserIsSentNothing(_ arguments: [String]) throws {
        let unique = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let socket = NSTemporaryDirectory() + "heapctl-impostor-\(unique).sock"
        let program = NSTemporaryDirectory() + "heapctl-impostor-\(unique).hw"
        try "main { print 1 }\n".write(toFile: program, atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(atPath: socket)
            try? FileManager.default.removeItem(atPath: program)
        }
        // A server of nobody's that counts the bytes it is sent on one connection.
        let impostor = Process()
        impostor.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        impostor.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", """
            import socket, sys, os
            s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(1)
            print("ready", flush=True)
            c, _ = s.accept(); c.settimeout(60); received = 0
            while True:
                chunk = c.recv(65536)
                if not chunk: break
                received += len(chunk)
            print(received, flush=True)
            """, socket]
        let said = Pipe()
        impostor.standardOutput = said
        try impostor.run()
        defer { if impostor.isRunning { impostor.terminate() }; impostor.waitUntilExit() }
        let reader = said.fileHandleForReading
        #expect(String(decoding: reader.availableData, as: UTF8.self).hasPrefix("ready"))

        let heapctl = Process()
        heapctl.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("heapctl")
        heapctl.arguments = arguments.map { $0 == "PROGRAM" ? program : $0 } + ["--socket", socket]
        let input = Pipe(), errors = Pipe()
        heapctl.standardInput = input
        heapctl.standardError = errors
        heapctl.standardOutput = FileHandle.nullDevice
        try heapctl.run()
        input.fileHandleForWriting.write(Data("print 1\n".utf8))
        try input.fileHandleForWriting.close()
        heapctl.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(heapctl.terminationStatus == 3)
        #expect(message.contains("runs as uid 65534 (nobody)"), "\(message)")
        #expect(message.contains("nothing was sent"), "\(message)")
        impostor.waitUntilExit()
        let received = String(decoding: reader.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(received == "0")
    }
}
