// Server+Admission: who may hold a connection, and how many may.
//
//   peers   SO_PEERCRED when the connection opens: root and the daemon's own user are owners;
//           members of --allow-group may connect but not shut down (the group file is read on
//           the request pool, never on the event loop); anyone else is sent one `forbidden`
//           line and closed at once, whether or not it has sent anything
//   caps    admitted connections ≤ max_connections, and each user's ≤ max_connections_per_user;
//           the connection over a cap is sent one `too_many_connections` line and closed at
//           once. Invariant: total == Σ byUser[uid], and a user with no connection has no entry

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Who may connect (SO_PEERCRED): the daemon's own user and root always; members of
/// `allowedGroup` too, but not for `shutdown`.
public struct PeerAccess: Sendable {
    public var allowedGroup: gid_t?

    public init(allowedGroup: gid_t? = nil) { self.allowedGroup = allowedGroup }

    public enum Level: Sendable { case owner, member, refused }

    /// Root and the daemon's own user: known without a look-up.
    static func isOwner(uid: uid_t) -> Bool {
        uid == 0 || uid == getuid()
    }

    /// May read the group and user databases (NSS: files, or a directory service): call it off
    /// the event loop.
    func level(uid: uid_t, gid: gid_t) -> Level {
        if PeerAccess.isOwner(uid: uid) { return .owner }
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
