// The metrics over HTTP (MetricsServer, NIOHTTP1), in process with short limits: kept-alive
// connections, the answers for other paths, methods and bodies, malformed requests, the idle
// timeout and the connection cap.

import Foundation
@testable import HeapService
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP connection to 127.0.0.1, for speaking HTTP by hand. Reads give up after 10 s.
final class TCPConnection {
    private let descriptor: Int32
    private var pending: [UInt8] = []

    /// The descriptor is set only once connected: an init that throws runs no deinit, so a
    /// failed connect closes its number once (ClientTests says why that matters).
    init(port: Int) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(descriptor)
            throw ClientError.noDaemon("127.0.0.1:\(port)", code)
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// More bytes into `pending`; false when the peer closed (or the read failed or timed out).
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return false }
        pending.append(contentsOf: chunk[..<count])
        return true
    }

    /// The next response: status, headers (names lowercased) and body (Content-Length long, none
    /// for a HEAD); nil when the connection ends first.
    func response(head: Bool = false) -> (status: Int, headers: [String: String], body: String)? {
        let separator = Array("\r\n\r\n".utf8)
        var end: Int?
        while end == nil {
            if pending.count >= 4 {
                end = (0...(pending.count - 4)).first { Array(pending[$0..<($0 + 4)]) == separator }
            }
            if end == nil && !fill() { return nil }
        }
        let lines = String(decoding: pending[..<end!], as: UTF8.self).components(separatedBy: "\r\n")
        pending.removeSubrange(..<(end! + 4))
        guard let status = lines.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = head ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        while pending.count < length { if !fill() { return nil } }
        let body = String(decoding: pending[..<length], as: UTF8.self)
        pending.removeSubrange(..<length)
        return (status, headers, body)
    }

    /// Whether the peer closes the connection (a read returns end of file) within 10 s.
    func closedByPeer() -> Bool {
        var byte: UInt8 = 0
        return read(descriptor, &byte, 1) == 0
    }
}

@Suite struct MetricsHTTPTests {
    func server(_ configure: (inout MetricsServer.Limits) -> Void = { _ in }) throws -> MetricsServer {
        var limits = MetricsServer.Limits()
        configure(&limits)
        return try MetricsServer(service: Service(), address: try SocketAddress(ipAddress: "127.0.0.1", port: 0), limits: limits)
    }

    @Test func oneConnectionServesRequestAfterRequest() throws {
        let metrics = try server()
        defer { metrics.shutdown() }
        let connection = try TCPConnection(port: metrics.port)
        for _ in 0..<3 {
            connection.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try #require(connection.response())
            #expect(answer.status == 200)
            #expect(answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(answer.headers["connection"] == nil)
            #expect(answer.body.contains("# TYPE heapd_requests_total counter"))
        }
        // Pipelined: both answered, in order.
        connection.send("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(connection.response()?.status == 200)
        #expect(connection.response()?.status == 404)
        // Connection: close is honoured.
        connection.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(connection.response()?.headers["connection"] == "close")
        #expect(connection.closedByPeer())
    }

    @Test func otherPathsMethodsAndBodiesAreRefused() throws {
        let metrics = try server { $0.maxBodyBytes = 100 }
        defer { metrics.shutdown() }
        let connection = try TCPConnection(port: metrics.port)
        connection.send("GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(connection.response()?.status == 404)
        connection.send("DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let refused = try #require(connection.response())
        #expect(refused.status == 405)
        #expect(refused.headers["allow"] == "GET, HEAD")
        connection.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try #require(connection.response(head: true))
        #expect(head.status == 200)
        #expect(Int(head.headers["content-length"] ?? "") ?? 0 > 0)
        connection.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "x", count: 1000))
        #expect(connection.response()?.status == 413)
        #expect(connection.closedByPeer())

        let garbled = try TCPConnection(port: metrics.port)
        garbled.send("NOT HTTP AT ALL\r\n\r\n")
        #expect(garbled.response()?.status == 400)
        #expect(garbled.closedByPeer())
    }

    @Test func anIdleConnectionIsClosed() throws {
        let metrics = try server { $0.idleTimeout = .milliseconds(200) }
        defer { metrics.shutdown() }
        let silent = try TCPConnection(port: metrics.port)
        let start = ContinuousClock.now
        #expect(silent.closedByPeer())
        #expect(ContinuousClock.now - start < .seconds(5))
        // Half a request head, then nothing: closed too (NIO's decoder never saw its end).
        let slow = try TCPConnection(port: metrics.port)
        slow.send("GET /metrics HTTP/1.1\r\nHost")
        #expect(slow.closedByPeer())
    }

    @Test func connectionsPastTheCapAreAnswered503AndClosed() throws {
        let metrics = try server { $0.maxConnections = 2 }
        defer { metrics.shutdown() }
        var held = [try TCPConnection(port: metrics.port), try TCPConnection(port: metrics.port)]
        for connection in held {
            connection.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(connection.response()?.status == 200)
        }
        let third = try TCPConnection(port: metrics.port)
        third.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let refused = try #require(third.response())
        #expect(refused.status == 503)
        #expect(refused.headers["connection"] == "close")
        #expect(third.closedByPeer())
        // A place freed is taken again (the count drops as the server sees the close).
        held.removeLast()
        var status = 0
        for _ in 0..<100 where status != 200 {
            let again = try TCPConnection(port: metrics.port)
            again.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            status = again.response()?.status ?? 0
            if status != 200 { usleep(20_000) }
        }
        #expect(status == 200)
        #expect(held.count == 1)
    }

    @Test func theAddressIsAnIPAddressAndAPort() {
        #expect(MetricsServer.address(parsing: "127.0.0.1:9464")?.port == 9464)
        #expect(MetricsServer.address(parsing: "[::1]:9464")?.ipAddress == "::1")
        #expect(MetricsServer.address(parsing: "0.0.0.0:0") != nil)
        for wrong in ["localhost:9464", "127.0.0.1", "127.0.0.1:65536", "::1:9464", "[::1]9464", ":9464", "127.0.0.1:-1", ""] {
            #expect(MetricsServer.address(parsing: wrong) == nil, "\(wrong)")
        }
        #expect(MetricsServer.text(of: MetricsServer.address(parsing: "[::1]:80")!) == "[::1]:80")
    }
}
