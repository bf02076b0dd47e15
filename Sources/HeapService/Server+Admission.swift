// Server+Admission: how many connections may be held at once.
//
//   peers   who may connect at all is Access.swift's decision, taken as the connection opens
//           (Server+Connection); a refused peer is sent one `forbidden` line and closed at once,
//           whether or not it has sent anything, and never reaches the table
//   caps    admitted connections ≤ max_connections, and each user's ≤ max_connections_per_user
//           (uid by SO_PEERCRED); the connection over a cap is sent one `too_many_connections`
//           line and closed at once. Invariant: total == Σ byUser[uid], and a user with no
//           connection has no entry

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The admitted connections, in all and per user. Any thread (a lock).
final class ConnectionTable: Sendable {
    enum Admission: Equatable {
        case admitted
        case overTotal
        case overUser
    }

    let limits: ConnectionLimits
    private let counts = Mutex<(total: Int, byUser: [uid_t: Int])>((0, [:]))

    init(limits: ConnectionLimits) { self.limits = limits }

    /// Counts a connection of `uid` in, unless a cap is reached.
    func admit(uid: uid_t) -> Admission {
        counts.withLock { counts in
            if counts.total >= limits.maxConnections { return .overTotal }
            if counts.byUser[uid, default: 0] >= limits.maxConnectionsPerUser { return .overUser }
            counts.total += 1
            counts.byUser[uid, default: 0] += 1
            return .admitted
        }
    }

    /// An admitted connection of `uid` closed.
    func release(uid: uid_t) {
        counts.withLock { counts in
            counts.total -= 1
            let left = counts.byUser[uid, default: 0] - 1
            counts.byUser[uid] = left > 0 ? left : nil
            assert(counts.total >= 0 && left >= 0)
        }
    }
}
