// Access, in process: the level of every kind of peer (root, the daemon's user, a member by its
// primary or a supplementary group, anyone else, with and without an allowed group), the groups
// read from a /proc/<pid>/status text and refused when its ids are not the peer's, and what a
// member may not ask of the service — answered `forbidden`, while the same request from the owner
// goes through, up to the maximums that bound everyone.

import Foundation
import HeapCore
@testable import HeapService
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Sends one request of `caller` that has one answer and waits for it.
func handled(_ service: Service, _ request: Request, as caller: Caller = .daemonUser, on connection: ConnectionRuns = ConnectionRuns()) throws -> Response {
    let line = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
    let answered = DispatchSemaphore(value: 0)
    let response = Locked<Response?>(nil)
    service.handle(line: line, cancellations: connection, caller: caller) { reply in
        response.withLock { $0 = reply }
        answered.signal()
    }
    #expect(answered.wait(timeout: .now() + 60) == .success, "no answer to \(request.op)")
    return try #require(response.withLock { $0 })
}

/// A `run` request of a one-line program, changed by `configure`.
private func run(_ configure: (inout Request) -> Void) -> Request {
    var request = Request(id: .number(1), op: "run")
    request.source = "main { print 1 }"
    configure(&request)
    return request
}

@Suite struct AccessTests {
    private let daemonUser: uid_t = 1000
    private let allowed: gid_t = 2000

    @Test func rootAndTheDaemonsUserAreOwnersWhateverTheirGroups() {
        for access in [PeerAccess(allowedGroup: nil, daemonUser: daemonUser), PeerAccess(allowedGroup: allowed, daemonUser: daemonUser)] {
            #expect(access.level(of: PeerIdentity(uid: 0, gid: 0)) == .owner)
            #expect(access.level(of: PeerIdentity(uid: daemonUser, gid: 1000)) == .owner)
            #expect(access.level(of: PeerIdentity(uid: daemonUser, gid: 5, groups: [allowed])) == .owner)
        }
    }

    @Test func aMemberByItsPrimaryOrASupplementaryGroup() {
        let access = PeerAccess(allowedGroup: allowed, daemonUser: daemonUser)
        #expect(access.level(of: PeerIdentity(uid: 1001, gid: allowed)) == .member)
        #expect(access.level(of: PeerIdentity(uid: 1001, gid: 1001, groups: [27, allowed, 3000])) == .member)
    }

    @Test func everyoneElseIsRefused() {
        let access = PeerAccess(allowedGroup: allowed, daemonUser: daemonUser)
        #expect(access.level(of: PeerIdentity(uid: 1001, gid: 1001)) == .refused)
        #expect(access.level(of: PeerIdentity(uid: 1001, gid: 1001, groups: [27, 3000])) == .refused)
        // Without an allowed group, no group lets anyone in.
        let closed = PeerAccess(allowedGroup: nil, daemonUser: daemonUser)
        #expect(closed.level(of: PeerIdentity(uid: 1001, gid: allowed, groups: [allowed])) == .refused)
        #expect(closed.level(of: PeerIdentity(uid: 65534, gid: 65534)) == .refused)
    }

    /// SO_PEERGROUPS's buffer comes back zero-padded: the list ends at the padding, and a root
    /// group (0) is kept only where it cannot be padding (first, with more groups after it).
    @Test func thePeersGroupsEndWhereTheKernelsListEnds() {
        #expect(PeerGroups([27, 2000, 3000]).list == [27, 2000, 3000])
        #expect(PeerGroups([3000, 27]).list == [27, 3000])
        #expect(PeerGroups().list == [])
        #expect(PeerGroups([0, 27]).list == [0, 27])
        // A lone 0 is an empty list: it never makes a peer a member of root's group.
        #expect(PeerGroups([0]).list == [])
        var access = PeerAccess(allowedGroup: 0, daemonUser: 999)
        #expect(access.level(of: PeerIdentity(credentials: PeerCredentials(pid: 1, uid: 1001, gid: 1001), groups: PeerGroups([0]))) == .refused)
        access.allowedGroup = 2000
        #expect(access.level(of: PeerIdentity(credentials: PeerCredentials(pid: 1, uid: 1001, gid: 1001), groups: PeerGroups([27, 2000]))) == .member)
        #expect(access.level(of: PeerIdentity(credentials: PeerCredentials(pid: 1, uid: 1001, gid: 1001), groups: nil)) == .refused)
    }

    @Test func aMemberIsHeldToTheDefaultsAndTheOwnerIsNot() throws {
        var configuration = ServiceConfiguration()
        configuration.defaultHeapLimitMiB = 64
        configuration.defaultTimeLimitSeconds = 20
        let service = Service(configuration: configuration)
        let member = Caller(uid: 1001, isOwner: false)
        let refused: [(Request, String)] = [
            (run { $0.heapLimitMiB = 65 }, "heapLimitMiB of at most 64"),
            (run { $0.timeLimitSeconds = 20.5 }, "timeLimitSeconds of at most 20"),
            (run { $0.detach = true }, "detached"),
            (run { $0.exclusive = true }, "exclusive"),
            (Request(id: .number(2), op: "shutdown"), "shut it down"),
            (Request(id: .number(3), op: "config"), "configuration"),
        ]
        for (request, reason) in refused {
            let response = try handled(service, request, as: member)
            #expect(response.code == "forbidden", "\(request.op)")
            #expect(response.message?.contains(reason) == true, "\(response.message ?? "")")
            #expect(response.id == request.id)
        }
        // Within the defaults a member runs; the owner may go past them.
        #expect(try handled(service, run { $0.heapLimitMiB = 64; $0.timeLimitSeconds = 20 }, as: member).result?.output == ["1"])
        #expect(try handled(service, run { _ in }, as: member).result?.ok == true)
        #expect(try handled(service, run { $0.heapLimitMiB = 128; $0.timeLimitSeconds = 60; $0.exclusive = true }).result?.ok == true)
        #expect(try handled(service, Request(id: .number(4), op: "config")).type == "config")
    }

    /// Everyone is bounded by the maximums (bad_request); a member, first, by the defaults
    /// (forbidden), so that it is told the bound that holds for it.
    @Test func theOwnerIsHeldToTheMaximumsAndAMemberToTheDefaults() throws {
        var configuration = ServiceConfiguration()
        configuration.defaultHeapLimitMiB = 64
        configuration.maxHeapLimitMiB = 128
        configuration.defaultTimeLimitSeconds = 20
        configuration.maxTimeLimitSeconds = 40
        let service = Service(configuration: configuration)
        let member = Caller(uid: 1001, isOwner: false)
        let cases: [(Request, Caller, String, String)] = [
            (run { $0.heapLimitMiB = 100 }, member, "forbidden", "heapLimitMiB of at most 64"),
            (run { $0.heapLimitMiB = 200 }, member, "forbidden", "heapLimitMiB of at most 64"),
            (run { $0.heapLimitMiB = 200 }, .daemonUser, "bad_request", "heapLimitMiB is 1 to 128 (the daemon's max_heap_limit_mib)"),
            (run { $0.timeLimitSeconds = 30 }, member, "forbidden", "timeLimitSeconds of at most 20"),
            (run { $0.timeLimitSeconds = 50 }, member, "forbidden", "timeLimitSeconds of at most 20"),
            (run { $0.timeLimitSeconds = 50 }, .daemonUser, "bad_request", "at most 40.0 (the daemon's max_time_limit_seconds)"),
            (run { $0.heapLimitMiB = 0 }, member, "bad_request", "heapLimitMiB is 1 to 128"),
        ]
        for (request, caller, code, reason) in cases {
            let response = try handled(service, request, as: caller)
            #expect(response.code == code, "\(request.heapLimitMiB ?? 0) \(request.timeLimitSeconds ?? 0) \(caller.isOwner)")
            #expect(response.message?.contains(reason) == true, "\(response.message ?? "")")
        }
        #expect(try handled(service, run { $0.heapLimitMiB = 128; $0.timeLimitSeconds = 40 }).result?.ok == true)
        #expect(try handled(service, run { $0.heapLimitMiB = 64; $0.timeLimitSeconds = 20 }, as: member).result?.ok == true)
    }

    @Test func aMemberMayReadAndCollectTheSharedHeapButNotChangeItsCollector() throws {
        let service = Service()
        let member = Caller(uid: 1001, isOwner: false)
        func gc(_ action: String?, _ configure: (inout Request) -> Void = { _ in }) -> Request {
            var request = Request(id: .number(1), op: "gc")
            request.action = action
            configure(&request)
            return request
        }
        #expect(try handled(service, gc(nil), as: member).gc?.enabled == true)
        #expect(try handled(service, gc("status"), as: member).type == "gc")
        #expect(try handled(service, gc("collect"), as: member).gc?.collected != nil)
        let changes = [gc("disable"), gc("enable"), gc("threshold") { $0.thresholds = [5] }, gc("collector") { $0.collector = "stop-the-world" },
                       gc("freeze"), gc("unfreeze")]
        for request in changes {
            let response = try handled(service, request, as: member)
            #expect(response.code == "forbidden", "\(request.action ?? "")")
            #expect(response.message?.contains("'\(request.action!)'") == true)
        }
        // Nothing changed; the owner may change it.
        let status = try #require(try handled(service, gc("status")).gc)
        #expect(status.enabled && status.thresholds == [700, 10, 10] && status.collector == "concurrent" && status.frozen == 0)
        #expect(try handled(service, gc("threshold") { $0.thresholds = [5] }).gc?.thresholds == [5, 10, 10])
        // A bad action is a bad request for everyone.
        #expect(try handled(service, gc("sweep"), as: member).code == "bad_request")
    }
}
