// heapd: the daemon. Serves the protocol of docs/protocol.md on a Unix socket until SIGTERM,
// SIGINT or a `shutdown` request.

import ArgumentParser
import Dispatch
import Foundation
import HeapService
#if canImport(Glibc)
import Glibc
#endif

@main
struct Heapd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "heapd", abstract: "The heapd daemon: runs workloads sent over a Unix socket.")

    @Option(help: "The socket path (default: $XDG_RUNTIME_DIR/heapd.sock, or /run/heapd/heapd.sock as root).")
    var socket: String?

    @Option(help: "Runs executing at once.")
    var workers: Int = 2

    @Option(help: "Where library workloads are found by name (default: ./workloads).")
    var workloads: String = "workloads"

    func run() throws {
        var configuration = ServiceConfiguration()
        configuration.workers = max(workers, 1)
        configuration.workloadDirectory = workloads
        let path = socket ?? Client.defaultSocketPath()
        let stop = DispatchSemaphore(value: 0)
        let service = Service(configuration: configuration, onShutdown: { stop.signal() })
        let server: Server
        do {
            server = try Server(service: service, socketPath: path)
        } catch let error as ServerError {
            FileHandle.standardError.write("heapd: \(error)\n".data(using: .utf8)!)
            throw ExitCode(1)
        }
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        terminate.setEventHandler { @Sendable in stop.signal() }
        terminate.resume()
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler { @Sendable in stop.signal() }
        interrupt.resume()
        FileHandle.standardError.write("heapd: listening on \(path)\n".data(using: .utf8)!)
        stop.wait()
        server.shutdown()
        FileHandle.standardError.write("heapd: stopped\n".data(using: .utf8)!)
    }
}
