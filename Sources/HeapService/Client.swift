// Client: a blocking connection to heapd, for heapctl and the tests — send a request line, read
// response lines.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum ClientError: Error, CustomStringConvertible {
    case noDaemon(String, Int32)
    case closed
    case timedOut
    /// The process serving the path runs as this user (nil: it could not be told), which the
    /// client does not trust with its programs.
    case untrustedServer(String, uid_t?)

    public var description: String {
        switch self {
        case .noDaemon(let path, let code):
            "cannot reach heapd at \(path) (\(String(cString: strerror(code)))); start it with `heapd --socket \(path)` (or `swift run heapd`), or run with --embedded"
        case .closed: "heapd closed the connection"
        case .timedOut: "heapd did not answer in time"
        case .untrustedServer(let path, let uid):
            "the process serving \(path) runs as \(uid.map { "uid \($0)\(getpwuid($0).map { " (" + String(cString: $0.pointee.pw_name) + ")" } ?? "")" } ?? "an unknown user"), not as root, you or the system heapd's user; nothing was sent to it"
        }
    }
}

/// One connection. Not thread-safe: one user at a time.
public final class Client {
    private let descriptor: Int32
    private var pending: [UInt8] = []

    /// Connects to `path`; with `timeout`, a connect (a full backlog), a send or a read that
    /// waits longer than it throws `timedOut`.
    public init(socketPath path: String, timeout: Duration? = nil) throws {
        descriptor = try Client.connect(path, timeout: timeout)
    }

    /// A descriptor connected to `path`, or the error; a descriptor that does not connect is
    /// closed here. Before `descriptor` is set, so that an init that throws has no deinit: a
    /// second close(2) of the number — by then, perhaps, another thread's file — would be a bug.
    static func connect(_ path: String, timeout: Duration?) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ClientError.noDaemon(path, errno) }
        if let timeout {
            var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
            if limit.tv_sec == 0 && limit.tv_usec == 0 { limit.tv_usec = 1 }      // 0 would mean "no timeout"
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            // A Unix socket's connect(2) waits on the send timeout when the listener's backlog is full.
            setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(descriptor)
            if code == EAGAIN || code == EINPROGRESS { throw ClientError.timedOut }
            throw ClientError.noDaemon(path, code)
        }
        return descriptor
    }

    deinit {
        Glibc.close(descriptor)
    }

    /// Who serves the other end (SO_PEERCRED): the process that called listen(2) on the socket —
    /// heapd, or systemd (root) when it made the socket for heapd. Nil when it cannot be told.
    public func serverCredentials() -> PeerCredentials? {
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0,
              length == socklen_t(MemoryLayout<PeerCredentials>.size) else { return nil }
        return credentials
    }

    /// Sends one line (a newline is added).
    public func send(_ line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            // send with MSG_NOSIGNAL, not write: a heapd that has gone away must give an error
            // here (EPIPE), not a SIGPIPE that kills the client.
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw ClientError.timedOut }
            guard written > 0 else { throw ClientError.closed }
            offset += written
        }
    }

    public func send(_ request: Request) throws {
        try send(String(decoding: try JSONEncoder().encode(request), as: UTF8.self))
    }

    /// The next response line.
    public func receiveLine() throws -> String {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw ClientError.timedOut }
            guard count > 0 else { throw ClientError.closed }
            pending.append(contentsOf: chunk[..<count])
        }
    }

    public func receive() throws -> Response {
        try JSONDecoder().decode(Response.self, from: Data(try receiveLine().utf8))
    }

    /// The default socket path, as heapd chooses it.
    public static func defaultSocketPath() -> String {
        defaultSocketPath(environment: ProcessInfo.processInfo.environment, uid: getuid())
    }

    static func defaultSocketPath(environment: [String: String], uid: uid_t) -> String {
        if uid == 0 { return systemSocketPath }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/heapd.sock" }
        return privateSocketDirectory(uid: uid) + "/heapd.sock"
    }

    /// Where a user's heapd puts its socket when there is no XDG_RUNTIME_DIR: a directory only
    /// that user may enter (heapd makes it, or refuses one that is not: SocketFile).
    public static func privateSocketDirectory(uid: uid_t) -> String {
        "/tmp/heapd-\(uid)"
    }

    /// The socket of the heapd that systemd runs (systemd/heapd.socket).
    public static let systemSocketPath = "/run/heapd/heapd.sock"

    /// Where a client looks for heapd when it is given no socket: $HEAPD_SOCKET when set; else
    /// the user's own heapd's socket (`defaultSocketPath`) when it exists; else the system one
    /// when that exists (a user of the heapd group reaching the service); else the user's own,
    /// so that the error names where heapd would listen.
    public static func clientSocketPath() -> String {
        clientSocketPath(environment: ProcessInfo.processInfo.environment, uid: getuid()) {
            FileManager.default.fileExists(atPath: $0)
        }
    }

    static func clientSocketPath(environment: [String: String], uid: uid_t, exists: (String) -> Bool) -> String {
        if let chosen = environment["HEAPD_SOCKET"], !chosen.isEmpty { return chosen }
        let own = defaultSocketPath(environment: environment, uid: uid)
        if !exists(own) && exists(systemSocketPath) { return systemSocketPath }
        return own
    }
}
