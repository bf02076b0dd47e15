// Server: the Unix-socket front of the service (SwiftNIO): one line in, one request; responses
// written back as lines, from whatever thread produced them (a Channel is thread-safe).
//
//   socket file   created by bind; a stale file (nobody listening) is replaced, a live daemon on
//                 the same path is refused; mode 0660 after binding
//   lines         framed by Server+Lines; a line longer than the limit is answered with
//                 request_too_large and skipped up to its end, and the connection stays usable
//   close         a client that goes away cancels the runs it started

import Foundation
import HeapCore
import NIOCore
import NIOPosix
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

/// The listening daemon.
public final class Server: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    public let socketPath: String
    /// The socket came from systemd: its file is systemd's to remove.
    public let adopted: Bool

    /// Binds `path` (or adopts `descriptor`, a listening socket systemd passed) and starts
    /// serving `service` to the peers `access` lets in.
    public init(service: Service, socketPath path: String, adopting descriptor: CInt? = nil, access: PeerAccess = PeerAccess()) throws {
        if descriptor == nil, FileManager.default.fileExists(atPath: path) {
            if Server.someoneListens(on: path) { throw ServerError.alreadyRunning(path) }
            try? FileManager.default.removeItem(atPath: path)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let maxLine = service.configuration.maxRequestBytes
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder(maxLength: maxLine)))
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(service: service, access: access))
                }
            }
        do {
            if let descriptor {
                channel = try bootstrap.withBoundSocket(descriptor).wait()
            } else {
                channel = try bootstrap.bind(unixDomainSocketPath: path).wait()
                chmod(path, 0o660)
            }
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        socketPath = path
        adopted = descriptor != nil
    }

    /// Waits until the server is closed.
    public func wait() throws {
        try channel.closeFuture.wait()
    }

    /// Stops accepting and closes the socket.
    public func close() {
        channel.close(promise: nil)
    }

    public func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
        if !adopted { try? FileManager.default.removeItem(atPath: socketPath) }
    }

    /// Whether a process accepts connections on `path` now.
    static func someoneListens(on path: String) -> Bool {
        (try? Client(socketPath: path)) != nil
    }
}

/// Who may connect (SO_PEERCRED): the daemon's own user and root always; members of
/// `allowedGroup` too, but not for `shutdown`.
public struct PeerAccess: Sendable {
    public var allowedGroup: gid_t?

    public init(allowedGroup: gid_t? = nil) { self.allowedGroup = allowedGroup }

    public enum Level: Sendable { case owner, member, refused }

    func level(uid: uid_t, gid: gid_t) -> Level {
        if uid == 0 || uid == getuid() { return .owner }
        guard let group = allowedGroup else { return .refused }
        if gid == group { return .member }
        // Supplementary membership, as the group file lists it.
        guard let entry = getgrgid(group), let name = getpwuid(uid)?.pointee.pw_name else { return .refused }
        var member = entry.pointee.gr_mem
        while let current = member?.pointee {
            if strcmp(current, name) == 0 { return .member }
            member = member! + 1
        }
        return .refused
    }
}

/// Linux's `struct ucred` (SO_PEERCRED), which Glibc's Swift module does not show (it needs
/// _GNU_SOURCE): pid, uid, gid, in that order.
struct PeerCredentials: Sendable {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}

/// Hands lines to the service and writes its responses back. `@unchecked Sendable`: `level` is
/// touched only on the channel's event loop.
final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = RequestLine
    let service: Service
    let access: PeerAccess
    let runs = ConnectionRuns()
    /// The peer's access, learnt when the connection becomes active (event loop only).
    private var level: PeerAccess.Level?
    /// Lines that arrived before the peer's credentials did (event loop only).
    private var pending: [RequestLine] = []

    init(service: Service, access: PeerAccess) {
        self.service = service
        self.access = access
    }

    func channelActive(context: ChannelHandlerContext) {
        if let provider = context.channel as? any SocketOptionProvider {
            let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            let access = self.access
            let channel = context.channel
            credentials.whenComplete { [self] result in
                switch result {
                case .success(let peer): level = access.level(uid: peer.uid, gid: peer.gid)
                case .failure: level = .refused
                }
                let waiting = pending
                pending = []
                for line in waiting { handle(line, on: channel) }
            }
        } else {
            level = .refused
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        // Until the credentials are known, lines wait (they are known almost at once).
        guard level != nil else { return pending.append(line) }
        handle(line, on: context.channel)
    }

    /// Answers one line, or refuses the peer and closes the connection. Event loop only.
    private func handle(_ line: RequestLine, on channel: any Channel) {
        let reply: @Sendable (Response) -> Void = { response in
            guard var json = try? JSONEncoder().encode(response) else { return }
            json.append(UInt8(ascii: "\n"))
            channel.writeAndFlush(channel.allocator.buffer(bytes: json), promise: nil)
        }
        guard let level, level != .refused else {
            var refusal = Response(id: nil, type: "error")
            refusal.code = "forbidden"
            refusal.message = "this user may not use heapd (ask for the daemon's --allow-group)"
            var json = (try? JSONEncoder().encode(refusal)) ?? Data()
            json.append(UInt8(ascii: "\n"))
            channel.writeAndFlush(channel.allocator.buffer(bytes: json)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        switch line {
        case .text(let text): service.handle(line: text, cancellations: runs, privileged: level == .owner, reply: reply)
        case .tooLong: service.refuseOversizedLine(reply: reply)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        runs.cancelAll()
        context.fireChannelInactive()
    }
}
