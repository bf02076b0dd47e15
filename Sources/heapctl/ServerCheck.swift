// ServerCheck: heapctl sends programs only to a server it trusts. Before the first request it asks
// the kernel who serves the socket (SO_PEERCRED on the connection: the process that called
// listen(2)) and goes on only when that is
//
//   root                 a system heapd, or systemd holding the socket for one (socket activation)
//   this user            the user's own heapd
//   the user `heapd`     on the system socket (/run/heapd/heapd.sock) only: the system heapd's
//                        user (systemd/heapd.service, User=heapd)
//
// Anything else is refused (ClientError.untrustedServer, exit 3): another user could have put a
// socket where heapctl looks, to read the programs sent to it.

import Foundation
import HeapService
#if canImport(Glibc)
import Glibc
#endif

enum ServerCheck {
    /// The system heapd's user.
    static let systemUserName = "heapd"

    /// Whether a client of uid `user` may send programs to a server of uid `server` on
    /// `socketPath`; `systemUser` is the uid of the system heapd's user, if there is one.
    static func trusts(server: uid_t, user: uid_t, socketPath: String, systemUser: uid_t?) -> Bool {
        if server == 0 || server == user { return true }
        let onSystemSocket = URL(fileURLWithPath: socketPath).standardized.path == Client.systemSocketPath
        return onSystemSocket && systemUser != nil && server == systemUser
    }

    /// A connection to `path` whose server is trusted; ClientError otherwise. With `timeout`,
    /// every wait on it (connect, send, each read) gives up after that long (`timedOut`).
    static func connect(_ path: String, timeout: Duration? = nil) throws -> Client {
        let client = try Client(socketPath: path, timeout: timeout)
        guard let server = client.serverCredentials() else { throw ClientError.untrustedServer(path, nil) }
        let systemUser = getpwnam(systemUserName).map { $0.pointee.pw_uid }
        guard trusts(server: server.uid, user: getuid(), socketPath: path, systemUser: systemUser) else {
            throw ClientError.untrustedServer(path, server.uid)
        }
        return client
    }
}
