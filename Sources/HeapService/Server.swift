// Server: the Unix-socket front of the service (SwiftNIO): one line in, one request; responses
// written back as lines, from whatever thread produced them (a Channel is thread-safe).
//
//   socket file   created by bind; a stale file (nobody listening) is replaced, a live daemon on
//                 the same path is refused; mode 0660 after binding
//   lines         split on "\n"; a line longer than the limit is answered with
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
    /// serving `service`.
    public init(service: Service, socketPath path: String, adopting descriptor: CInt? = nil) throws {
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
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(service: service))
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

/// A request line, or the news that one was too long.
enum RequestLine {
    case text(String)
    case tooLong
}

/// Splits the byte stream into lines of at most `maxLength` bytes.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = RequestLine
    let maxLength: Int
    /// Skipping the rest of an over-long line.
    var discarding = false

    init(maxLength: Int) { self.maxLength = maxLength }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            if discarding {
                buffer.moveReaderIndex(forwardBy: length + 1)
                discarding = false
                return .continue
            }
            let line = buffer.readString(length: length) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            if length > maxLength {
                context.fireChannelRead(wrapInboundOut(.tooLong))
            } else if !line.allSatisfy({ $0 == " " || $0 == "\r" || $0 == "\t" }) {
                context.fireChannelRead(wrapInboundOut(.text(line)))
            }
            return .continue
        }
        if buffer.readableBytes > maxLength {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            if !discarding { context.fireChannelRead(wrapInboundOut(.tooLong)) }
            discarding = true
        }
        return .needMoreData
    }
}

/// Hands lines to the service and writes its responses back.
final class RequestHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = RequestLine
    let service: Service
    let runs = ConnectionRuns()

    init(service: Service) { self.service = service }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let channel = context.channel
        let reply: @Sendable (Response) -> Void = { response in
            guard var json = try? JSONEncoder().encode(response) else { return }
            json.append(UInt8(ascii: "\n"))
            channel.writeAndFlush(channel.allocator.buffer(bytes: json), promise: nil)
        }
        switch unwrapInboundIn(data) {
        case .text(let line): service.handle(line: line, cancellations: runs, reply: reply)
        case .tooLong: service.refuseOversizedLine(reply: reply)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        runs.cancelAll()
        context.fireChannelInactive()
    }
}
