// MetricsServer: `heapd --metrics-listen HOST:PORT` — the metrics over HTTP for a Prometheus
// scraper: GET /metrics answers the text exposition, anything else 404; one request per
// connection (Connection: close). The text is made on a Dispatch queue, not on the event loop
// (it reads allocator statistics and may take a census of the shared heap).

import Dispatch
import NIOCore
import NIOPosix

public final class MetricsServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// The port it listens on (useful when asked for port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    public init(service: Service, host: String, port: Int) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(service: service))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
    }

    public func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// Reads a request head (up to its blank line) and answers it, once. Not Sendable: `head` and
/// `answered` belong to the channel's event loop.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let service: Service
    private var head = ""
    private var answered = false

    init(service: Service) { self.service = service }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var buffer = unwrapInboundIn(data)
        head += buffer.readString(length: buffer.readableBytes) ?? ""
        guard head.contains("\r\n\r\n") || head.contains("\n\n") || head.utf8.count > 8192 else { return }
        answered = true
        let requestLine = head.split(separator: "\n").first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        let found = parts.count >= 2 && parts[0] == "GET" && (parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?"))
        let channel = context.channel, service = service
        DispatchQueue.global().async {
            let body = found ? service.metricsText() : "not found: GET /metrics\n"
            let status = found ? "200 OK" : "404 Not Found"
            let response = "HTTP/1.1 \(status)\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
            channel.writeAndFlush(channel.allocator.buffer(string: response)).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
