// heapctl shell: an interactive session with heapd — type declarations and statements one line at
// a time (the seed article's examples, say) and watch what they print: refcounts, collections,
// weak references. Lines starting with ':' are the shell's own: `:reset` starts over, `:quit`.
//
// Exit status (ExitStatus.swift): 0; 1 when a line of a script fed to it failed; 3 when heapd
// cannot be reached or the connection drops mid-session (heapd stopped or restarted), or a line
// waited past --timeout; 4 when heapd turns the connection away (busy, stopping, too many
// connections); 5 when this user may not use heapd.

import ArgumentParser
import Foundation
import HeapService

struct ShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Type workload statements one at a time into a heapd session.",
        discussion: "Each line is a declaration (type, fn, global, param) or statements; the session's variables persist. Example: `a = new [3]`, then `print refcount(a)`.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "The session's name (default: one for this shell).")
    var session: String?

    func run() throws {
        let name = session ?? "shell-\(ProcessInfo.processInfo.processIdentifier)"
        let interactive = isatty(0) != 0
        let path = connection.path
        let timeout = ConnectionOptions.duration(connection.timeout, fallback: nil)
        var client = connection.connect(fallback: nil)
        if interactive { print("heapd session \(name): statements and declarations, :reset, :quit") }
        var failures = 0
        while true {
            if interactive { FileHandle.standardOutput.write(Data(">>> ".utf8)) }
            guard let line = readLine() else { break }
            let piece = line.trimmingCharacters(in: .whitespaces)
            if piece.isEmpty || piece.hasPrefix("#") { continue }
            if piece == ":quit" { break }
            var request = Request(id: .number(1), op: "exec")
            request.session = name
            if piece == ":reset" { request.reset = true } else { request.source = piece }
            let response: Response
            do {
                response = try exchange(request, over: &client, path: path, timeout: timeout)
            } catch let error as ClientError {
                // heapd went away (stopped, restarted, or it closed the connection): exit 3, as
                // when no heapd answers at all.
                ExitStatus.fail("the connection to heapd at \(path) was lost (\(ExitStatus.describe(error, path: path, timeout: timeout)))",
                                status: ExitStatus.unreachable)
            }
            // Refusals of the connection itself end the session (heapd closes it after them).
            if let code = response.code, ["forbidden", "too_many_connections", "shutting_down"].contains(code) {
                ExitStatus.fail("\(code): \(response.message ?? "")", status: ExitStatus.of(errorCode: code))
            }
            if response.type == "error" {
                failures += 1
                say("error [\(response.code ?? "")\(response.detail.map { " " + $0 } ?? "")]: \(response.message ?? "")")
            } else {
                for output in response.lines ?? [] { say(output) }
            }
        }
        // A script fed to the shell fails if any of its lines did.
        if !interactive && failures > 0 { throw ExitCode(1) }
    }

    /// Sends `request` and reads its answer. heapd closes a connection left idle for
    /// `idle_timeout_seconds` without taking anything more from it: a request that finds it so
    /// closed (its send fails, or the answer is `idle_timeout`) was never run, and it is sent
    /// again on a new connection (the session lives in heapd, by its name and this user), checked
    /// as the first one was (ServerCheck).
    private func exchange(_ request: Request, over client: inout Client, path: String, timeout: Duration?) throws -> Response {
        var sent = true
        do { try client.send(request) } catch ClientError.closed { sent = false }
        if sent {
            let response = try client.receive()
            guard response.code == "idle_timeout" else { return response }
        }
        client = try ServerCheck.connect(path, timeout: timeout)
        return try client.sendOrReadRefusal(request) ?? client.receive()
    }

    /// Writes a line unbuffered, so that a program driving the shell through a pipe sees each
    /// answer before it sends the next line.
    private func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
