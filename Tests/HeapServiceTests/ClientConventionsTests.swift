// heapctl's conventions for finding heapd (issue 16): $HEAPD_SOCKET, the user's own socket, the
// system socket when the user's is absent; and `--version` on both binaries.

import Foundation
@testable import HeapService
import Testing

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
}
