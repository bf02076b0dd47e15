// MetricsServer: `metrics_listen = "ADDRESS:PORT"` (or `heapd --metrics-listen`) — the metrics
// over HTTP for a Prometheus scraper, parsed and written by SwiftNIO's HTTP/1.1 codec (NIOHTTP1).
//
//   request                    answer
//   GET or HEAD /metrics[?…]   200, the text exposition (Service.metricsText)
//   another method on it       405, Allow: GET, HEAD
//   another path               404
//   a body over 8 KiB          413, then closed
//   malformed HTTP             400 (NIO's error handler), then closed
//   past maxConnections        503, then closed (one request read and answered, no more)
//
// Connections are kept alive between requests (a scraper reuses one) and closed after
// `idleTimeout` without a byte read or written, unless an answer is being made; at most
// `maxConnections` are served at once. Requests on one connection are answered in order (NIO's
// pipelining handler holds the next until the answer before it has ended). The text is made on a
// Dispatch queue, not on the event loop: it reads allocator statistics and may take a census of
// the shared heap.
//
// The address is an IP address and a port, never a name: binding it needs no resolver (no
// AF_NETLINK socket, no /etc/hosts), so the unit's drop-in for metrics needs only AF_INET and
// AF_INET6 (systemd/heapd-metrics.conf). Where Internet sockets are forbidden (the unit's
// RestrictAddressFamilies=AF_UNIX without that drop-in) socket(2) fails with EAFNOSUPPORT, and
// the server says so (`internetSocketsForbidden`) instead of a bare errno.

import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class MetricsServer: Sendable {
    public struct Limits: Sendable {
        /// A connection with nothing read or written for this long is closed.
        public var idleTimeout: TimeAmount = .seconds(30)
        /// Connections served at once; one more is answered 503 and closed.
        public var maxConnections = 16
        /// The most request-body bytes taken (GET has none); past them, 413.
        public var maxBodyBytes = 8192

        public init() {}
    }

    /// Why the server could not start.
    public enum Failure: Error, CustomStringConvertible {
        /// socket(2) refused the address family (EAFNOSUPPORT): a seccomp filter such as
        /// systemd's RestrictAddressFamilies=, or a kernel without IPv6.
        case internetSocketsForbidden(String)
        case cannotListen(String, any Error)

        public var description: String {
            switch self {
            case .internetSocketsForbidden(let address):
                "metrics_listen is \(address), but this process may not open Internet sockets (socket(2) failed with EAFNOSUPPORT). "
                    + "Under systemd, heapd.service allows only Unix sockets (RestrictAddressFamilies=AF_UNIX): install the metrics drop-in "
                    + "(heapd-metrics.conf, docs/service.md) to allow AF_INET and AF_INET6, or remove metrics_listen"
            case .cannotListen(let address, let error):
                "cannot serve metrics on \(address): \(error)"
            }
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// The port it listens on (useful when asked for port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Listens on `address` (SocketAddress(ipAddress:port:), Settings' `metrics_listen`).
    public init(service: Service, address: SocketAddress, limits: Limits = Limits()) throws(Failure) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let open = OpenConnections()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let admitted = open.enter(limit: limits.maxConnections)
                channel.closeFuture.whenComplete { _ in if admitted { open.leave() } }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(allTimeout: limits.idleTimeout))
                    try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try pipeline.addHandler(MetricsHTTPHandler(service: service, admitted: admitted, limits: limits))
                }
            }
        do {
            channel = try bootstrap.bind(to: address).wait()
        } catch {
            try? group.syncShutdownGracefully()
            if let failure = error as? IOError, failure.errnoCode == EAFNOSUPPORT {
                throw .internetSocketsForbidden(MetricsServer.text(of: address))
            }
            throw .cannotListen(MetricsServer.text(of: address), error)
        }
        self.group = group
    }

    public func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// `address` as metrics_listen writes it: 127.0.0.1:9464, [::1]:9464.
    static func text(of address: SocketAddress) -> String {
        let host = address.ipAddress ?? "?"
        return (host.contains(":") ? "[\(host)]" : host) + ":\(address.port ?? 0)"
    }

    /// `ADDRESS:PORT` with an IPv4 address, or `[IPv6]:PORT`; nil for anything else (a host name
    /// included: see the header).
    public static func address(parsing text: String) -> SocketAddress? {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            host = parts[0]
            port = parts[1]
        }
        guard let number = Int(port), (0...65535).contains(number) else { return nil }
        return try? SocketAddress(ipAddress: String(host), port: number)
    }
}

/// The connections being served, against `Limits.maxConnections`.
private final class OpenConnections: Sendable {
    private let count = Atomic<Int>(0)

    /// Counts a new connection in if there is room; false (not counted) when there is not.
    func enter(limit: Int) -> Bool {
        // Relaxed: the count guards no other memory, only how many connections are served.
        let before = count.wrappingAdd(1, ordering: .relaxed).oldValue
        if before < limit { return true }
        count.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func leave() {
        count.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// Answers one connection's requests, in order (the table at the top of this file). Not
/// Sendable: every stored property belongs to the channel's event loop; the text made on a
/// Dispatch queue comes back through NIOLoopBound.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let service: Service
    /// False past `maxConnections`: the request is answered 503 and the connection closed.
    private let admitted: Bool
    private let limits: MetricsServer.Limits
    private var context: ChannelHandlerContext?
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    /// An answer is being made off the loop: an idle event must not close the connection.
    private var answering = false

    init(service: Service, admitted: Bool, limits: MetricsServer.Limits) {
        self.service = service
        self.admitted = admitted
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let chunk):
            guard let head else { return }
            bodyBytes += chunk.readableBytes
            if bodyBytes > limits.maxBodyBytes {
                self.head = nil
                respond(to: head, .payloadTooLarge, "a request body is at most \(limits.maxBodyBytes) bytes\n", keepAlive: false)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            answer(head)
        }
    }

    private func answer(_ head: HTTPRequestHead) {
        guard admitted else {
            return respond(to: head, .serviceUnavailable, "heapd serves \(limits.maxConnections) metrics connections at most; try again later\n",
                           keepAlive: false)
        }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == "/metrics" else { return respond(to: head, .notFound, "not found: GET /metrics\n", keepAlive: head.isKeepAlive) }
        guard head.method == .GET || head.method == .HEAD else {
            return respond(to: head, .methodNotAllowed, "only GET and HEAD /metrics\n", keepAlive: head.isKeepAlive, allow: true)
        }
        guard let context else { return }
        answering = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop), loop = context.eventLoop, service = service
        DispatchQueue.global().async {
            let text = service.metricsText()
            loop.execute {
                bound.value.answering = false
                bound.value.respond(to: head, .ok, text, keepAlive: head.isKeepAlive)
            }
        }
    }

    private func respond(to request: HTTPRequestHead, _ status: HTTPResponseStatus, _ body: String, keepAlive: Bool, allow: Bool = false) {
        guard let context else { return }
        let buffer = context.channel.allocator.buffer(string: body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(buffer.readableBytes)")
        if allow { headers.add(name: "Allow", value: "GET, HEAD") }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if request.version.major == 1 && request.version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if !answering { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
