// ConnectionOptions: how the subcommands that talk to heapd find it, and one request's round
// trip (exit 3 with how to start heapd when none answers).

import ArgumentParser
import Foundation
import HeapService

struct ConnectionOptions: ParsableArguments {
    /// The help of every subcommand's --socket (Client.clientSocketPath says how the default
    /// is found).
    static let socketHelp = ArgumentHelp("heapd's socket (default: $HEAPD_SOCKET; else $XDG_RUNTIME_DIR/heapd.sock, or /run/heapd/heapd.sock as root, when it exists; else /run/heapd/heapd.sock, the system heapd's, when that exists).")

    @Option(help: ConnectionOptions.socketHelp)
    var socket: String?

    @Flag(help: "Print heapd's response as JSON.")
    var json = false

    /// Sends `request` and returns the response (an `error` response exits 1 with its message).
    func ask(_ request: Request) throws -> Response {
        let path = socket ?? Client.clientSocketPath()
        let response: Response
        do {
            let client = try ServerCheck.connect(path)
            try client.send(request)
            response = try client.receive()
        } catch let error as ClientError {
            FileHandle.standardError.write("heapctl: \(error)\n".data(using: .utf8)!)
            throw ExitCode(3)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(response), as: UTF8.self))
        }
        if response.type == "error" {
            if !json { FileHandle.standardError.write("heapctl: \(response.code ?? "error"): \(response.message ?? "")\n".data(using: .utf8)!) }
            throw ExitCode(1)
        }
        return response
    }
}
