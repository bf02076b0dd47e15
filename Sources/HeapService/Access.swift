// Access: who may use heapd, and what each may ask of it. A connection's peer is known by the
// credentials the kernel took at connect(2) (SO_PEERCRED: pid, effective uid and gid) and by its
// supplementary groups; from them comes one level, for the whole connection:
//
//   peer                                              level     may
//   root, or the daemon's own user                    owner     everything, with runs' limits up
//                                                               to the max_* settings
//   gid or a supplementary group is allow_group       member    ping, stats, runs and execs within
//                                                               the daemon's defaults, gc status
//                                                               and collect; not shutdown, config,
//                                                               detached or exclusive runs, limits
//                                                               above the defaults, or changes to
//                                                               the shared heap's collector
//   anyone else                                       refused   one `forbidden` error, then closed
//
// Limits are bounded twice: every caller's by the maximums (max_heap_limit_mib,
// max_time_limit_seconds, max_threads: a `bad_request`, Request+Validation.swift), and a
// member's, first, by the defaults (heap_limit_mib, time_limit_seconds: `forbidden`), which are
// never above the maximums (ServiceConfiguration(settings:)).
//
// The supplementary groups are the ones the kernel took with the credentials at connect(2)
// (SO_PEERGROUPS, Linux 4.13), not the group database (getgrouplist(3), /etc/group): what a
// process may do is decided by its credentials, so a shell started before the user was added to
// the group, or one that dropped its groups (setpriv --clear-groups, systemd's
// SupplementaryGroups=), is judged as it is. They come from the connection itself, so nothing of
// the peer's process is read: heapd needs no view of other users' /proc entries (the unit hides
// them, ProtectProc=invisible), and a peer that exited and whose pid was reused cannot lend
// heapd another process's groups.
//
// Pure: `PeerAccess.level(of:)` and `Service.memberRestriction(_:)` decide from their arguments
// (and the daemon's settings); the server reads the credentials and groups off the connection
// (Server+Connection).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Linux's `struct ucred` (SO_PEERCRED), which Glibc's Swift module does not show (it needs
/// _GNU_SOURCE): pid, uid, gid, in that order.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: pid_t = 0
    public var uid: uid_t = 0
    public var gid: gid_t = 0

    public init() {}

    public init(pid: pid_t, uid: uid_t, gid: gid_t) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// A peer as the access decision sees it.
public struct PeerIdentity: Sendable, Equatable {
    public var uid: uid_t
    public var gid: gid_t
    /// Supplementary groups.
    public var groups: [gid_t]

    public init(uid: uid_t, gid: gid_t, groups: [gid_t] = []) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// The peer behind `credentials`, with the supplementary groups SO_PEERGROUPS gave.
    init(credentials: PeerCredentials, groups: PeerGroups?) {
        self.init(uid: credentials.uid, gid: credentials.gid, groups: groups?.list ?? [])
    }
}

/// SO_PEERGROUPS's answer: the peer's supplementary groups, sorted, in a buffer of room for
/// `capacity` (a peer in more groups is seen with none, getsockopt failing with ERANGE: its
/// primary group still counts). NIO zeroes the buffer and does not say how much the kernel
/// filled, so the list ends at the first 0 after the start; a group 0 (root's) can come only
/// first, the list being sorted, and is kept when more groups follow it. A lone 0 cannot be told
/// from an empty list and is taken for one: the peer is then denied, never let in, by it.
public struct PeerGroups: Sendable {
    public static let capacity = 4096
    var buffer = InlineArray<4096, gid_t>(repeating: 0)

    public init() {}

    init(_ groups: [gid_t]) {
        for (index, group) in groups.sorted().prefix(PeerGroups.capacity).enumerated() { buffer[index] = group }
    }

    /// The groups, without the zeroes that pad the buffer.
    var list: [gid_t] {
        guard buffer[0] != 0 || buffer[1] != 0 else { return [] }
        var groups: [gid_t] = []
        for index in 0..<PeerGroups.capacity {
            let group = buffer[index]
            if group == 0 && index > 0 { break }
            groups.append(group)
        }
        return groups
    }
}

/// Who may connect: the daemon's own user and root always; members of `allowedGroup` too, with
/// less (Service.memberRestriction).
public struct PeerAccess: Sendable {
    public var allowedGroup: gid_t?
    /// The daemon's own user.
    public var daemonUser: uid_t

    public init(allowedGroup: gid_t? = nil, daemonUser: uid_t = getuid()) {
        self.allowedGroup = allowedGroup
        self.daemonUser = daemonUser
    }

    public enum Level: Sendable { case owner, member, refused }

    /// Root and the daemon's own user: known from the uid alone, without the peer's groups.
    public func isOwner(uid: uid_t) -> Bool {
        uid == 0 || uid == daemonUser
    }

    /// The level of `peer` (the table at the top of this file).
    public func level(of peer: PeerIdentity) -> Level {
        if isOwner(uid: peer.uid) { return .owner }
        guard let allowedGroup else { return .refused }
        return peer.gid == allowedGroup || peer.groups.contains(allowedGroup) ? .member : .refused
    }
}

/// Who sent a request: sessions are per user, and members are held to the daemon's defaults.
public struct Caller: Sendable, Equatable {
    public var uid: uid_t
    /// Root or the daemon's own user (PeerAccess.Level.owner).
    public var isOwner: Bool

    public init(uid: uid_t, isOwner: Bool) {
        self.uid = uid
        self.isOwner = isOwner
    }

    /// The daemon's own user: what an in-process caller (a test, the embedded service) is.
    public static var daemonUser: Caller { Caller(uid: getuid(), isOwner: true) }
}

extension Service {
    /// Why a member of the allowed group may not make `request` (the `forbidden` error's
    /// message); nil when it may. Owners may make any request (within the maximums that bound
    /// everyone's, Request+Validation.swift).
    func memberRestriction(_ request: Request) -> String? {
        let group = "members of the allowed group"
        switch Op(rawValue: request.op) {
        case .shutdown: return "only the daemon's own user or root may shut it down"
        case .config: return "only the daemon's own user or root may read its configuration"
        case .run:
            if request.detach == true { return "\(group) may not start detached runs" }
            if request.exclusive == true { return "\(group) may not start exclusive runs" }
            if let mebibytes = request.heapLimitMiB, mebibytes > configuration.defaultHeapLimitMiB {
                return "\(group) may ask for a heapLimitMiB of at most \(configuration.defaultHeapLimitMiB) (the daemon's default), not \(mebibytes)"
            }
            if let seconds = request.timeLimitSeconds, seconds > configuration.defaultTimeLimitSeconds {
                return "\(group) may ask for a timeLimitSeconds of at most \(configuration.defaultTimeLimitSeconds) (the daemon's default), not \(seconds)"
            }
            if request.trace == true && request.heap == "shared" {
                return "\(group) may not turn on the shared heap's allocation tracing (trace with heap shared)"
            }
            return nil
        case .report:
            if request.trace != nil { return "\(group) may read the shared heap's report; turning its tracing on or off is for the daemon's own user or root" }
            return nil
        case .gc:
            guard let action = request.action.flatMap(GCAction.init(rawValue:)), action.changesCollector else { return nil }
            return "\(group) may read (status) and collect the shared heap; '\(action.rawValue)' changes its collector, which only the daemon's own user or root may do"
        default: return nil
        }
    }
}
