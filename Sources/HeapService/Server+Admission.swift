// Server+Admission: how many connections may be held, and which ones are.
//
//   peers     who may connect at all is Access.swift's decision, taken as the connection opens
//             (Server+Connection); a refused peer is sent one `forbidden` line and closed at once,
//             whether or not it has sent anything, and never reaches the table
//   caps      admitted connections ≤ max_connections, and each user's ≤ max_connections_per_user
//             (uid by SO_PEERCRED); the connection over a cap is sent one `too_many_connections`
//             line and closed at once
//   stopping  once the server stops (Server.shutdown) nothing more is admitted — a peer whose
//             look-up was still going is sent `shutting_down` — and the connections admitted so
//             far are handed to the server once, to be let finish
//
// Invariant: |channels| == Σ byUser[uid], and a user with no connection has no entry.

import NIOCore
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
        case stopping
    }

    private struct Admitted {
        /// By the channel's identity (each is held here, so identities are not reused).
        var channels: [ObjectIdentifier: any Channel] = [:]
        var byUser: [uid_t: Int] = [:]
        var stopping = false
    }

    let limits: ConnectionLimits
    private let admitted = Mutex(Admitted())

    init(limits: ConnectionLimits) { self.limits = limits }

    /// Counts `channel`, a connection of `uid`, in, unless a cap is reached or the server stops.
    func admit(_ channel: any Channel, uid: uid_t) -> Admission {
        admitted.withLock { admitted in
            if admitted.stopping { return .stopping }
            if admitted.channels.count >= limits.maxConnections { return .overTotal }
            if admitted.byUser[uid, default: 0] >= limits.maxConnectionsPerUser { return .overUser }
            admitted.channels[ObjectIdentifier(channel)] = channel
            admitted.byUser[uid, default: 0] += 1
            return .admitted
        }
    }

    /// An admitted connection of `uid` closed.
    func release(_ channel: any Channel, uid: uid_t) {
        admitted.withLock { admitted in
            let removed = admitted.channels.removeValue(forKey: ObjectIdentifier(channel))
            let left = admitted.byUser[uid, default: 0] - 1
            admitted.byUser[uid] = left > 0 ? left : nil
            assert(removed != nil && left >= 0)
        }
    }

    /// The server is stopping: admits nothing from now on, and returns the connections admitted
    /// until now.
    func stop() -> [any Channel] {
        admitted.withLock { admitted in
            admitted.stopping = true
            return Array(admitted.channels.values)
        }
    }
}
