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
// The supplementary groups are the peer process's own, read from /proc/<pid>/status (`Groups:`),
// not the group database (getgrouplist(3), /etc/group): what a process may do is decided by its
// credentials, so a shell started before the user was added to the group, or one that dropped its
// groups (setpriv --clear-groups, systemd's SupplementaryGroups=), is judged as it is. The status
// file is read as the connection opens and trusted only when its effective uid and gid are the
// ones SO_PEERCRED gave: a peer that exited and whose pid was reused by another user's process
// gets no supplementary groups. A pid reused by a process of the same uid and gid can give only
// groups that the kernel already gave that user's processes.
//
// Pure: `PeerAccess.level(of:)` and `Service.memberRestriction(_:)` decide from their arguments
// (and the daemon's settings); only `PeerIdentity.init(credentials:)` reads /proc, and the server
// calls it on its request pool, never on the event loop (Server+Connection).

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

    /// The peer behind `credentials`, with the supplementary groups of its process now.
    init(credentials: PeerCredentials) {
        let status = try? String(contentsOfFile: "/proc/\(credentials.pid)/status", encoding: .utf8)
        self.init(uid: credentials.uid, gid: credentials.gid,
                  groups: status.flatMap { PeerIdentity.groups(status: $0, uid: credentials.uid, gid: credentials.gid) } ?? [])
    }

    /// The `Groups:` of a /proc/<pid>/status text, or nil when its effective uid or gid (the
    /// second figure of `Uid:` and `Gid:`) is not `uid`/`gid`: not the process that connected.
    static func groups(status: String, uid: uid_t, gid: gid_t) -> [gid_t]? {
        var effectiveUID: uid_t?, effectiveGID: gid_t?, groups: [gid_t]?
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let key = fields.first else { continue }
            let values = fields.dropFirst()
            switch key {
            case "Uid:": effectiveUID = values.dropFirst().first.flatMap { uid_t($0) }
            case "Gid:": effectiveGID = values.dropFirst().first.flatMap { gid_t($0) }
            case "Groups:": groups = values.compactMap { gid_t($0) }
            default: continue
            }
        }
        guard effectiveUID == uid, effectiveGID == gid else { return nil }
        return groups ?? []
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
