// Server: the Unix-socket front of the service (SwiftNIO). One line in, one request; responses
// written back as lines.
//
//   socket file   created by bind; a stale file (nobody listening) is replaced, a live daemon on
//                 the same path is refused; mode 0660 and the allowed group after binding
//                 (SocketFile.swift)
//   threads       one event loop accepts every connection, frames its lines, writes its
//                 responses and keeps its state — and does nothing slow: requests are decoded,
//                 checked and answered (journal fsyncs, history reads, metrics walks, group
//                 look-ups) on the request pool, one serial queue per connection so that its
//                 requests are handled in order, and responses hop back to the loop
//   heartbeat     the systemd watchdog is pinged from the loop, so a stalled loop trips it
//   stopping      `close` stops accepting; `shutdown` then lets every admitted connection answer
//                 the lines it has read (in order, on its queue) and close, for up to a grace
//                 period, before the loop and whatever is still open go
//   descriptors   the soft RLIMIT_NOFILE is raised to the hard one at start; max_connections
//                 is lowered to fit what is left after `reservedDescriptors` (heapd does it
//                 before it makes the service, whose `config` then shows the value in force)
//
// The other files of Server, bottom-up: Server+Lines (framing), Server+Admission (peers and
// caps), Server+Output (writing and backpressure), Server+Connection (one connection's life).

import Dispatch
import Foundation
import HeapCore
import Logging
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public enum ServerError: Error, CustomStringConvertible {
    case alreadyRunning(String)

    public var description: String {
        switch self {
        case .alreadyRunning(let path): "a heapd is already listening on \(path); stop it first or choose another --socket"
        }
    }
}

/// What the connections may hold, each and together (settings `max_connections`,
/// `max_connections_per_user`, `idle_timeout_seconds`, `output_high_water_bytes`).
///
/// Worst cases, for sizing: each connection buffers at most one partial request line
/// (`max_request_bytes`) and 16 lines waiting for the pool; a streamed run's queued events stay
/// under `outputHighWaterBytes`.
public struct ConnectionLimits: Sendable, Equatable {
    public static let connectionRange = 1...1_000_000
    /// A week; 0 turns the timeout off.
    public static let idleTimeoutRange = 0...604_800
    public static let outputHighWaterRange = (64 << 10)...(1 << 30)

    /// Connections admitted at once, in all and of one user (uid, by SO_PEERCRED).
    public var maxConnections = 1024
    public var maxConnectionsPerUser = 256
    /// A connection that has sent nothing for this long, with no request unanswered, is closed
    /// (0: never).
    public var idleTimeoutSeconds = 300
    /// Bytes of responses waiting to be written to a client past which a streamed event finds it
    /// not reading: its runs are cancelled and it is disconnected.
    public var outputHighWaterBytes = 4 << 20

    public init() {}

    /// These limits with max_connections lowered, if need be, to what `openFiles` descriptors
    /// leave after the server's own (`Server.reservedDescriptors`): every connection holds one.
    public func fitted(toOpenFiles openFiles: Int) -> ConnectionLimits {
        var fitted = self
        fitted.maxConnections = max(min(maxConnections, openFiles - Server.reservedDescriptors), 1)
        return fitted
    }

    /// As the `config` op shows them.
    var described: [String: String] {
        ["max_connections": "\(maxConnections)", "max_connections_per_user": "\(maxConnectionsPerUser)",
         "idle_timeout_seconds": "\(idleTimeoutSeconds)", "output_high_water_bytes": "\(outputHighWaterBytes)"]
    }
}

/// The listening daemon.
public final class Server: Sendable {
    /// Descriptors kept for everything but connections: the listening socket, the journal, the
    /// event loop's own, the metrics listener, runs' threads' files.
    static let reservedDescriptors = 64

    private let group: MultiThreadedEventLoopGroup
    /// The listening socket; its event loop is every connection's. Internal, not private: a test
    /// stalls the loop through it to see the heartbeat stop.
    let channel: any Channel
    private let heartbeat = Mutex<RepeatedTask?>(nil)
    /// The admitted connections (Server+Admission).
    private let table: ConnectionTable
    public let socketPath: String
    /// The socket came from systemd: its file is systemd's to remove.
    public let adopted: Bool
    /// The connection caps in force (max_connections lowered to the descriptor limit).
    public let limits: ConnectionLimits

    /// Binds `path` (or adopts `descriptor`, a listening socket systemd passed) and starts
    /// serving `service` to the peers `access` lets in, within the service's connection limits.
    public init(service: Service, socketPath path: String, adopting descriptor: CInt? = nil, access: PeerAccess = PeerAccess(),
                logger: Logger = Logger(label: "heapd", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        if descriptor == nil, FileManager.default.fileExists(atPath: path) {
            if Server.someoneListens(on: path) { throw ServerError.alreadyRunning(path) }
            try? FileManager.default.removeItem(atPath: path)
        }
        // heapd has fitted them already (so that `config` shows them as in force); a server
        // made in process fits them here.
        let limits = Server.fitToDescriptorLimit(service.configuration.connections, logger: logger)
        let table = ConnectionTable(limits: limits)
        let requests = DispatchQueue(label: "heapd.requests", attributes: .concurrent)
        let maxLine = service.configuration.maxRequestBytes
        let settled = limits
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            // Each connection reads when its handler asks: not before its peer is admitted, and
            // not while its responses are unread or its requests wait for the pool.
            .childChannelOption(.autoRead, value: false)
            // A client that half-closes still reads its answers (Server+Connection).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder(maxLength: maxLine)))
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(service: service, access: access, table: table, limits: settled, pool: requests, logger: logger))
                }
            }
        do {
            if let descriptor {
                channel = try bootstrap.withBoundSocket(descriptor).wait()
            } else {
                // Created 0600, then opened to the allowed group (SocketFile.swift).
                channel = try SocketFile.bind(path, group: access.allowedGroup) { try bootstrap.bind(unixDomainSocketPath: path).wait() }
            }
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        self.limits = limits
        self.table = table
        socketPath = path
        adopted = descriptor != nil
    }

    /// Calls `beat` every `interval` on the event loop, until `close`: a loop that stalls
    /// misses its beats (the systemd watchdog's pings).
    public func startHeartbeat(every interval: Duration, _ beat: @escaping @Sendable () -> Void) {
        let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: TimeAmount(interval), delay: TimeAmount(interval)) { _ in beat() }
        heartbeat.withLock { $0 = task }
    }

    /// Waits until the server is closed.
    public func wait() throws {
        try channel.closeFuture.wait()
    }

    /// Stops accepting and closes the socket.
    public func close() {
        heartbeat.withLock { $0?.cancel() }
        channel.close(promise: nil)
    }

    /// Stops accepting, lets each connection answer what it has read and close (Finish,
    /// Server+Connection), waits up to `grace` for them all, then closes what is left.
    public func shutdown(grace: Duration = .seconds(5)) {
        heartbeat.withLock { $0?.cancel() }
        try? channel.close().wait()
        let connections = table.stop()
        for connection in connections { connection.pipeline.fireUserInboundEventTriggered(ConnectionHandler.Finish()) }
        let finished = DispatchSemaphore(value: 0)
        EventLoopFuture.andAllComplete(connections.map(\.closeFuture), on: channel.eventLoop).whenComplete { _ in finished.signal() }
        _ = finished.wait(timeout: .now() + .nanoseconds(Int(TimeAmount(grace).nanoseconds)))
        try? group.syncShutdownGracefully()
        if !adopted { try? FileManager.default.removeItem(atPath: socketPath) }
    }

    /// Whether a process accepts connections on `path` now.
    static func someoneListens(on path: String) -> Bool {
        (try? Client(socketPath: path)) != nil
    }

    /// Raises the soft limit on open files to the hard one (every connection holds one) and
    /// returns `limits` with max_connections lowered to fit it, with a warning when it was.
    public static func fitToDescriptorLimit(_ limits: ConnectionLimits, logger: Logger) -> ConnectionLimits {
        let descriptors = raiseDescriptorLimit()
        let fitted = limits.fitted(toOpenFiles: descriptors)
        if fitted.maxConnections < limits.maxConnections {
            logger.warning("max_connections lowered to \(fitted.maxConnections): the process may open \(descriptors) files")
        }
        return fitted
    }

    /// Raises the soft limit on open files to the hard one and returns the soft limit in force.
    static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }
}
