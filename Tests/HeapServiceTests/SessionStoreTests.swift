// Exec sessions, in process: the store keyed by (uid, name) with two made-up users, its limits
// (piece bytes, source bytes, pieces, name length, sessions per user and in all), a session busy
// while a piece runs, and a reset in the middle of a piece; then the service's `exec` as two
// users with the same session name, and a piece cancelled by its connection closing.

import Foundation
import HeapCore
@testable import HeapService
import Testing

@Suite struct SessionStoreTests {
    private let alice: uid_t = 1001
    private let bob: uid_t = 1002

    /// Begins `piece` in `key`, which must be accepted.
    private func begin(_ store: SessionStore, _ piece: String, _ key: SessionKey) throws -> ExecPiece {
        switch store.begin(piece, in: key) {
        case .success(let begun): return begun
        case .failure(let failure): throw failure
        }
    }

    private func refusal(_ store: SessionStore, _ piece: String, _ key: SessionKey) -> CodedError? {
        if case .failure(let failure) = store.begin(piece, in: key) { return failure }
        return nil
    }

    @Test func sessionsOfTheSameNameAreEachUsersOwn() throws {
        let store = SessionStore()
        let mine = SessionKey(uid: alice, name: "s"), theirs = SessionKey(uid: bob, name: "s")
        store.commit(try begin(store, "a = 1", mine), printedTotal: 0)
        let other = try begin(store, "print 2", theirs)
        #expect(!other.program.source.contains("a = 1"))
        store.commit(other, printedTotal: 1)
        let next = try begin(store, "print a", mine)
        #expect(next.program.source.contains("a = 1") && !next.program.source.contains("print 2"))
        #expect(next.printedBefore == 0)
        store.abandon(next)
        // Bob's reset is Bob's.
        #expect(store.reset(theirs))
        #expect(!store.reset(theirs))
        #expect(store.names(of: alice) == ["s"])
        #expect(store.names(of: bob) == [])
    }

    @Test func aSessionIsBusyWhileAPieceRunsAndAResetThenDropsIt() throws {
        let store = SessionStore()
        let key = SessionKey(uid: alice, name: "s")
        store.commit(try begin(store, "a = 1", key), printedTotal: 0)
        let running = try begin(store, "b = 2", key)
        #expect(refusal(store, "c = 3", key)?.code == .busy)
        #expect(store.reset(key))
        // The piece that was running when the session was reset is not kept, and leaves nothing.
        store.commit(running, printedTotal: 0)
        #expect(store.names(of: alice) == [])
        let fresh = try begin(store, "print 1", key)
        #expect(!fresh.program.source.contains("a = 1"))
    }

    @Test func aFailedPieceLeavesTheSessionAsItWasAndANewSessionGone() throws {
        let store = SessionStore()
        let key = SessionKey(uid: alice, name: "s")
        store.abandon(try begin(store, "print x", key))
        #expect(store.names(of: alice) == [])
        store.commit(try begin(store, "a = 1", key), printedTotal: 0)
        store.abandon(try begin(store, "print x", key))
        let next = try begin(store, "print a", key)
        #expect(next.program.source == "\nmain {\na = 1\nprint a\n}\n")
    }

    @Test func piecesAndTheirSourceAreBounded() throws {
        var limits = SessionLimits()
        limits.pieceBytes = 16
        limits.sourceBytes = 40
        limits.pieces = 3
        limits.nameBytes = 8
        let store = SessionStore(limits: limits)
        let key = SessionKey(uid: alice, name: "s")
        #expect(refusal(store, "x = \"" + String(repeating: "y", count: 12) + "\"", key)?.message.contains("at most 16 bytes") == true)
        #expect(refusal(store, "a = 1", SessionKey(uid: alice, name: "ninechars"))?.code == .badRequest)
        store.commit(try begin(store, "a = 111111111111", key), printedTotal: 0)    // 16 bytes
        store.commit(try begin(store, "b = 222222222222", key), printedTotal: 0)    // 32
        let tooMuch = try #require(refusal(store, "c = 333333333", key))           // 45 > 40
        #expect(tooMuch.code == .badRequest)
        #expect(tooMuch.message.contains("more than 40 bytes"))
        store.commit(try begin(store, "c = 3", key), printedTotal: 0)               // 37, the third piece
        #expect(refusal(store, "d", key)?.message.contains("3 pieces") == true)
        // Whitespace around a piece does not count.
        #expect(store.reset(key))
        store.commit(try begin(store, "   a = 1   \n\n\n\n\n\n\n\n\n\n\n\n\n", key), printedTotal: 0)
    }

    @Test func aUserWithTheMostSessionsLosesTheirLeastRecentlyUsedOne() throws {
        var limits = SessionLimits()
        limits.sessionsPerUser = 2
        let store = SessionStore(limits: limits)
        for name in ["one", "two"] { store.commit(try begin(store, "a = 1", SessionKey(uid: alice, name: name)), printedTotal: 0) }
        store.commit(try begin(store, "b = 1", SessionKey(uid: bob, name: "one")), printedTotal: 0)
        usleep(2_000)
        store.commit(try begin(store, "print a", SessionKey(uid: alice, name: "one")), printedTotal: 0)  // "two" is now the older
        store.commit(try begin(store, "a = 1", SessionKey(uid: alice, name: "three")), printedTotal: 0)
        #expect(store.names(of: alice) == ["one", "three"])
        #expect(store.names(of: bob) == ["one"])
        // None to drop while both of Alice's run a piece.
        let first = try begin(store, "a = 2", SessionKey(uid: alice, name: "one"))
        let second = try begin(store, "a = 2", SessionKey(uid: alice, name: "three"))
        #expect(refusal(store, "a = 1", SessionKey(uid: alice, name: "four"))?.code == .busy)
        store.abandon(first)
        store.abandon(second)
    }

    @Test func whenAllAreInUseANewSessionWaitsAndAnIdleOneMakesRoom() throws {
        var limits = SessionLimits()
        limits.sessions = 2
        limits.idleEvictionSeconds = 3600
        let store = SessionStore(limits: limits)
        store.commit(try begin(store, "a = 1", SessionKey(uid: alice, name: "s")), printedTotal: 0)
        store.commit(try begin(store, "a = 1", SessionKey(uid: bob, name: "s")), printedTotal: 0)
        // Another user's recent session is not pushed out.
        let refused = try #require(refusal(store, "a = 1", SessionKey(uid: 1003, name: "s")))
        #expect(refused.code == .busy)
        #expect(store.names(of: alice) == ["s"] && store.names(of: bob) == ["s"])
        // One idle long enough is.
        limits.idleEvictionSeconds = 0
        let patient = SessionStore(limits: limits)
        patient.commit(try begin(patient, "a = 1", SessionKey(uid: alice, name: "s")), printedTotal: 0)
        usleep(2_000)
        patient.commit(try begin(patient, "a = 1", SessionKey(uid: bob, name: "s")), printedTotal: 0)
        _ = try begin(patient, "a = 1", SessionKey(uid: 1003, name: "s"))
        #expect(patient.names(of: alice) == [])
        #expect(patient.names(of: bob) == ["s"])
    }

    // MARK: Through the service

    private func exec(_ service: Service, _ piece: String, session: String = "s", as caller: Caller,
                      on connection: ConnectionRuns = ConnectionRuns()) throws -> Response {
        var request = Request(id: .number(1), op: "exec")
        request.session = session
        request.source = piece
        return try handled(service, request, as: caller, on: connection)
    }

    @Test func twoUsersExecInSessionsOfTheSameNameWithoutSeeingEachOther() throws {
        let service = Service()
        let first = Caller(uid: alice, isOwner: false), second = Caller(uid: bob, isOwner: false)
        #expect(try exec(service, "a = 40", as: first).lines == [])
        #expect(try exec(service, "print a", as: second).code == "check_error")
        #expect(try exec(service, "a = 2", as: second).lines == [])
        #expect(try exec(service, "print a + 2", as: first).lines == ["42"])
        #expect(try exec(service, "print a + 2", as: second).lines == ["4"])
        var reset = Request(id: .number(2), op: "exec")
        reset.session = "s"
        reset.reset = true
        #expect(try handled(service, reset, as: second).type == "exec")
        #expect(try exec(service, "print a", as: first).lines == ["40"])
        #expect(try exec(service, "print a", as: second).code == "check_error")
    }

    @Test func aPieceOfAConnectionThatClosedIsCancelled() throws {
        let service = Service()
        let connection = ConnectionRuns()
        connection.cancelAll()                 // the client has gone while its request was handled
        let response = try exec(service, "while 1 { }", as: .daemonUser, on: connection)
        #expect(response.code == "cancelled")
        #expect(service.statistics.runsFailed == 1)
        #expect(service.statistics.runsRunning == 0)
        #expect(try exec(service, "print 1", as: .daemonUser).lines == ["1"])
    }
}

extension CodedError: CustomStringConvertible {
    public var description: String { "\(code.rawValue): \(message)" }
}
