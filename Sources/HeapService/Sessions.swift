// Sessions: `exec`, the interactive shell's op. A session is a named program being written one
// piece at a time: each `exec` adds a declaration (`type`, `fn`, `global`, `param`) or a
// statement, and its variables persist from one exec to the next.
//
// How: the session keeps its declarations and the statements of its `main` so far; an exec runs
// the whole program again with the new piece added (a fresh heap each time, collection manual so
// that counts and collections repeat exactly) and answers with the output the new piece printed.
// A piece that does not parse, check or run is answered with its error and not kept. Programs in
// this language are deterministic for a given seed, so replaying is indistinguishable from
// keeping the heap — and no heap outlives a request.
//
//   limits   64 sessions (the least recently used one is dropped), 1,000 pieces and 1 MiB of
//            source each; each replay runs under the limits the service passes (its heap, time
//            and output bounds)

import Foundation
import HeapCore
import HeapWorkload

/// A piece's failure: the error response to send.
struct ExecFailure: Error {
    var response: Response
}

struct Session {
    var declarations: [String] = []
    var statements: [String] = []
    /// Output lines the kept pieces printed.
    var printed = 0
    var lastUsed = Date()
}

/// `@unchecked Sendable`: `sessions` is locked; one exec at a time per session (the lock is held
/// across its run: a shell types one line at a time).
final class SessionStore: @unchecked Sendable {
    static let maximumSessions = 64
    static let maximumPieces = 1000
    static let maximumSourceBytes = 1 << 20
    private let sessions = Locked<[String: Session]>([:])
    private let execLock = Lock()

    /// Runs `piece` in session `name` under `limits` (its heap, time, output and thread bounds);
    /// the new output lines, or the response to send as an error.
    func exec(_ piece: String, in name: String, limits: RunConfiguration) -> Result<[String], ExecFailure> {
        execLock.withLock {
            var session = sessions.withLock { $0[name] } ?? Session()
            guard session.declarations.count + session.statements.count < SessionStore.maximumPieces else {
                return .failure(ExecFailure(response: .error(nil, "bad_request", "session \(name) has \(SessionStore.maximumPieces) pieces; start another")))
            }
            let trimmed = piece.trimmingCharacters(in: .whitespacesAndNewlines)
            let isDeclaration = ["type ", "fn ", "global ", "param "].contains { trimmed.hasPrefix($0) }
            var candidate = session
            if isDeclaration { candidate.declarations.append(trimmed) } else { candidate.statements.append(trimmed) }
            let source = candidate.declarations.joined(separator: "\n") + "\nmain {\n" + candidate.statements.joined(separator: "\n") + "\n}\n"
            guard source.utf8.count <= SessionStore.maximumSourceBytes else {
                return .failure(ExecFailure(response: .error(nil, "bad_request", "session \(name) would hold more than \(SessionStore.maximumSourceBytes) bytes of source; start another")))
            }
            let checked: CheckedProgram
            do throws(DiagnosticList) {
                checked = try Program.parse(source: source, fileName: name)
            } catch {
                let syntax = error.diagnostics.contains { $0.code.rawValue.hasPrefix("E1") || $0.code.rawValue.hasPrefix("E2") }
                return .failure(ExecFailure(response: .error(nil, syntax ? "parse_error" : "check_error", error.diagnostics.map(\.message).joined(separator: "\n"))))
            }
            var configuration = limits
            configuration.collector = .manual
            let result: RunResult
            do throws(DiagnosticList) {
                result = try Workload.run(checked, configuration: configuration)
            } catch {
                return .failure(ExecFailure(response: .error(nil, "bad_request", error.rendered())))
            }
            if let error = result.error {
                var response = Response.error(nil, Service.code(for: error.code), error.message)
                if Service.code(for: error.code) == "run_error" { response.detail = error.code.rawValue }
                return .failure(ExecFailure(response: response))
            }
            let lines = Array(result.output.dropFirst(session.printed))
            candidate.printed = result.output.count
            candidate.lastUsed = Date()
            session = candidate
            sessions.withLock { table in
                table[name] = session
                if table.count > SessionStore.maximumSessions, let oldest = table.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
                    table.removeValue(forKey: oldest)
                }
            }
            return .success(lines)
        }
    }

    /// Forgets session `name`; false when there was none.
    func reset(_ name: String) -> Bool {
        sessions.withLock { $0.removeValue(forKey: name) != nil }
    }
}
