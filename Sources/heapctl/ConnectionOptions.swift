// ConnectionOptions: how the subcommands that talk to heapd find it, how long they wait for it,
// and one request's round trip (exit statuses: ExitStatus.swift).

import ArgumentParser
import Foundation
import HeapService

struct ConnectionOptions: ParsableArguments {
    /// The help of every subcommand's --socket (Client.clientSocketPath says how the default
    /// is found).
    static let socketHelp = ArgumentHelp("heapd's socket (default: $HEAPD_SOCKET; else $XDG_RUNTIME_DIR/heapd.sock, or /run/heapd/heapd.sock as root, when it exists; else /run/heapd/heapd.sock, the system heapd's, when that exists).")

    /// A request's answer is waited for this long unless --timeout says otherwise.
    static let defaultTimeoutSeconds = 30.0

    /// The help of --timeout where a run is waited for as long as it takes.
    static let runTimeoutHelp = ArgumentHelp("Give up (exit 3) after this many seconds without a word from heapd (default: wait as long as the run takes; a streamed run hears from heapd about every 250 ms while it runs, nothing while it waits for a worker).")

    @Option(help: ConnectionOptions.socketHelp)
    var socket: String?

    @Option(help: "Give up (exit 3) when heapd has not answered after this many seconds; 0 waits for ever (default: 30; shell: for ever, as a line runs up to its time limit).")
    var timeout: Double?

    @Flag(help: "Print heapd's response as JSON.")
    var json = false

    func validate() throws {
        try ConnectionOptions.check(timeout: timeout)
    }

    /// --timeout is a number of seconds from 0 (no timeout) to a day.
    static func check(timeout: Double?) throws {
        if let timeout, !(0...86_400).contains(timeout) {
            throw ValidationError("--timeout is from 0 (no timeout) to 86400 seconds, not \(timeout)")
        }
    }

    /// --timeout as the client's: nil waits for ever; `fallback` when it is not given.
    static func duration(_ seconds: Double?, fallback: Double?) -> Duration? {
        guard let seconds = seconds ?? fallback, seconds > 0 else { return nil }
        return .milliseconds(Int64(seconds * 1000))
    }

    var path: String { socket ?? Client.clientSocketPath() }

    /// A trusted connection to heapd (ServerCheck), waited on for --timeout (`fallback` seconds
    /// when it is not given); exit 3 when there is none.
    func connect(fallback: Double? = ConnectionOptions.defaultTimeoutSeconds) -> Client {
        let path = path, timeout = ConnectionOptions.duration(timeout, fallback: fallback)
        do {
            return try ServerCheck.connect(path, timeout: timeout)
        } catch let error as ClientError {
            ExitStatus.fail(ExitStatus.describe(error, path: path, timeout: timeout), status: ExitStatus.unreachable)
        } catch {
            ExitStatus.fail("\(error)", status: ExitStatus.unreachable)
        }
    }

    /// Sends `request` and returns the response; an `error` response exits with its status
    /// (ExitStatus.of(errorCode:)) after its message (or, with --json, the response).
    func ask(_ request: Request) throws -> Response {
        let client = connect()
        let response: Response
        do {
            response = try client.sendOrReadRefusal(request) ?? client.receive()
        } catch let error as ClientError {
            ExitStatus.fail(ExitStatus.describe(error, path: path, timeout: ConnectionOptions.duration(timeout, fallback: ConnectionOptions.defaultTimeoutSeconds)),
                            status: ExitStatus.unreachable)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(response), as: UTF8.self))
        }
        if response.type == "error" {
            if !json { FileHandle.standardError.write("heapctl: \(response.code ?? "error"): \(response.message ?? "")\n".data(using: .utf8)!) }
            throw ExitCode(ExitStatus.of(errorCode: response.code))
        }
        return response
    }
}
