// Sessions: `exec`, the interactive shell's op. A session is a named program being written one
// piece at a time: each `exec` adds a declaration (`type`, `fn`, `global`, `param`) or a
// statement, and its variables persist from one exec to the next.
//
// How: the session keeps its program so far (HeapWorkload's SessionProgram: the declarations,
// then a `main` of the statements); an exec runs the whole program again with the new piece
// added (a fresh heap each time, collection manual so that counts and collections repeat
// exactly) and answers with the output the new piece printed.
// A piece that does not parse, check or run is answered with its error and not kept. Programs in
// this language are deterministic for a given seed, so replaying is indistinguishable from
// keeping the heap — and no heap outlives a request.
//
// A session belongs to a user: it is keyed by (uid, name), so another user's `exec` or `reset`
// of the same name reaches a session of its own. This file keeps the sessions; running a piece
// (admission, journal, cancellation) is Service+Exec.swift's.
//
//   states   idle --begin--> running --commit (the piece ran well)--> idle
//                                    --abandon (it failed)---------> idle, or gone when it was new
//            `reset` forgets a session in any state; a piece that was running then is not kept
//   limits   SessionLimits: pieces and the source they add up to, name length, sessions per user
//            (the user's least recently used idle one is dropped for a new one) and in all (the
//            least recently used session idle for `idleEvictionSeconds` is dropped; else `busy`)
//   threads  every method may be called from any thread; the table is behind one lock, held
//            only to look and change, never across a run

import Foundation
import HeapCore
import HeapWorkload
import Synchronization

/// How much the sessions may hold.
public struct SessionLimits: Sendable {
    /// Bytes of one piece.
    public var pieceBytes = 64 << 10
    /// Bytes of all of a session's pieces together.
    public var sourceBytes = 1 << 20
    /// Pieces of one session.
    public var pieces = 1000
    /// Bytes of a session's name.
    public var nameBytes = 128
    /// Sessions of one user.
    public var sessionsPerUser = 16
    /// Sessions of all users.
    public var sessions = 64
    /// How long a session must have been idle before another user's new session may push it out.
    public var idleEvictionSeconds = 600.0

    public init() {}
}

/// A session: its owner and name.
struct SessionKey: Hashable, Sendable {
    var uid: uid_t
    var name: String
}

struct Session {
    var program = SessionProgram()
    /// Bytes of the pieces kept.
    var sourceBytes = 0
    /// Output lines the kept pieces printed, those dropped past max_output_bytes included.
    var printed = 0
    var lastUsed = Date()
    /// The piece running now, by its number (nil: idle).
    var running: Int?
}

/// A piece on its way: the program with it added, and what to keep if it runs well.
struct ExecPiece: Sendable {
    var key: SessionKey
    var number: Int
    /// The session's program with this piece added.
    var program: SessionProgram
    /// Output lines the session printed before this piece (those dropped included).
    var printedBefore: Int
    fileprivate var sourceBytes: Int
}

final class SessionStore: Sendable {
    let limits: SessionLimits
    private let sessions = Locked<[SessionKey: Session]>([:])
    private let nextPiece = Atomic<Int>(0)

    init(limits: SessionLimits = SessionLimits()) {
        self.limits = limits
    }

    /// Marks session `key` running `piece` (creating the session if need be) and returns the
    /// program to run, or the error to answer.
    func begin(_ piece: String, in key: SessionKey) -> Result<ExecPiece, CodedError> {
        let name = key.name
        guard name.utf8.count <= limits.nameBytes else {
            return .failure(CodedError(.badRequest, "a session's name is at most \(limits.nameBytes) bytes"))
        }
        let trimmed = SessionProgram.trimmed(piece)
        guard trimmed.utf8.count <= limits.pieceBytes else {
            return .failure(CodedError(.badRequest, "a piece is at most \(limits.pieceBytes) bytes, not \(trimmed.utf8.count); send a run for a whole program"))
        }
        // Relaxed: only unique, it orders nothing.
        let number = nextPiece.wrappingAdd(1, ordering: .relaxed).newValue
        return sessions.withLock { table -> Result<ExecPiece, CodedError> in
            var session: Session
            if let existing = table[key] {
                session = existing
            } else {
                if let refusal = makeRoom(for: key, in: &table) { return .failure(refusal) }
                session = Session()
            }
            guard session.running == nil else {
                return .failure(CodedError(.busy, "session \(name) is running a piece; send the next once it has answered"))
            }
            guard session.program.pieceCount < limits.pieces else {
                return .failure(CodedError(.badRequest, "session \(name) has \(limits.pieces) pieces; reset it or start another"))
            }
            guard session.sourceBytes + trimmed.utf8.count <= limits.sourceBytes else {
                return .failure(CodedError(.badRequest, "session \(name) would hold more than \(limits.sourceBytes) bytes of source; reset it or start another"))
            }
            var program = session.program
            program.add(trimmed)
            session.running = number
            session.lastUsed = Date()
            table[key] = session
            return .success(ExecPiece(key: key, number: number, program: program, printedBefore: session.printed,
                                      sourceBytes: session.sourceBytes + trimmed.utf8.count))
        }
    }

    /// `piece` ran well and printed `printedTotal` lines in all (those dropped included): the
    /// session keeps it. Nothing happens when the session was reset meanwhile.
    func commit(_ piece: ExecPiece, printedTotal: Int) {
        sessions.withLock { table in
            guard var session = table[piece.key], session.running == piece.number else { return }
            session.program = piece.program
            session.sourceBytes = piece.sourceBytes
            session.printed = printedTotal
            session.running = nil
            session.lastUsed = Date()
            table[piece.key] = session
        }
    }

    /// `piece` failed (or was never run): the session is as it was, and a session that this
    /// piece would have begun is gone.
    func abandon(_ piece: ExecPiece) {
        sessions.withLock { table in
            guard var session = table[piece.key], session.running == piece.number else { return }
            if session.program.pieceCount == 0 {
                table.removeValue(forKey: piece.key)
            } else {
                session.running = nil
                table[piece.key] = session
            }
        }
    }

    /// Forgets session `key`; false when there was none.
    func reset(_ key: SessionKey) -> Bool {
        sessions.withLock { $0.removeValue(forKey: key) != nil }
    }

    /// The names of user `uid`'s sessions.
    func names(of uid: uid_t) -> Set<String> {
        sessions.withLock { Set($0.keys.filter { $0.uid == uid }.map(\.name)) }
    }

    /// Room for a new session of `key`'s user: drops that user's least recently used idle session
    /// when the user has the most allowed, and the least recently used session idle for long
    /// enough when all users together have. The refusal when there is none to drop. Lock held.
    private func makeRoom(for key: SessionKey, in table: inout [SessionKey: Session]) -> CodedError? {
        let own = table.filter { $0.key.uid == key.uid }
        if own.count >= limits.sessionsPerUser {
            guard let oldest = own.filter({ $0.value.running == nil }).min(by: { $0.value.lastUsed < $1.value.lastUsed }) else {
                return CodedError(.busy, "this user's \(limits.sessionsPerUser) sessions are all running a piece")
            }
            table.removeValue(forKey: oldest.key)
        }
        if table.count >= limits.sessions {
            let idleSince = Date().addingTimeInterval(-limits.idleEvictionSeconds)
            guard let oldest = table.filter({ $0.value.running == nil && $0.value.lastUsed <= idleSince })
                .min(by: { $0.value.lastUsed < $1.value.lastUsed }) else {
                return CodedError(.busy, "heapd holds \(limits.sessions) sessions, all in use; reset one or try again later")
            }
            table.removeValue(forKey: oldest.key)
        }
        return nil
    }
}
