// Service+Exec: running an `exec` piece as a run — it goes through the same admission (a worker
// slot; `busy` beyond `workers + queueLimit`), is journalled (`started`, then `finished` before
// the answer, file `exec:<session>`), is cancelled when its connection closes or the daemon
// stops, and can be cancelled by its id. The session itself (what is kept, for whom) is
// Sessions.swift's.
//
//   order    validate -> SessionStore.begin -> parse -> admit -> journal start -> pool:
//            worker slot -> run -> commit or abandon -> journal finish -> slot back -> answer
//   limits   a piece runs on a fresh heap of at most 256 MiB (or the daemon's default, if lower)
//            for at most 30 s (or the default time limit, if lower), with manual collection,
//            and, as every run, keeps max_output_bytes of output and spawns max_threads threads
//
// Every way out after `begin` ends the piece in the store (commit or abandon), and every way out
// after admission gives the admission back.

import Foundation
import HeapCore
import HeapWorkload

extension Service {
    /// The most an exec piece may use: its heap (MiB) and time (s), when the defaults are larger.
    static let execHeapLimitMiB = 256
    static let execTimeLimitSeconds = 30.0

    func exec(_ request: Request, caller: Caller, cancellations: ConnectionRuns, reply: @escaping @Sendable (Response) -> Void) {
        let id = request.id
        guard let name = request.session, !name.isEmpty else { return fail(reply, id, "bad_request", "exec needs a session name") }
        let key = SessionKey(uid: caller.uid, name: name)
        if request.reset == true {
            _ = sessions.reset(key)
            return reply(Response(id: id, type: "exec"))
        }
        guard !isDraining else { return refuseWhileDraining(reply, id) }
        guard let text = request.source else { return fail(reply, id, "bad_request", "exec needs the source of one declaration or statement") }
        let piece: ExecPiece
        switch sessions.begin(text, in: key) {
        case .success(let begun): piece = begun
        case .failure(let failure):
            return fail(reply, id, failure.response.code ?? "bad_request", failure.response.message ?? "")
        }
        let checked: CheckedProgram
        switch Service.parse(piece.source, fileName: name) {
        case .success(let program): checked = program
        case .failure(let diagnostics):
            sessions.abandon(piece)
            let syntax = diagnostics.diagnostics.contains { $0.code.rawValue.hasPrefix("E1") || $0.code.rawValue.hasPrefix("E2") }
            return fail(reply, id, syntax ? "parse_error" : "check_error", diagnostics.diagnostics.map(\.message).joined(separator: "\n"))
        }
        guard admitted.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.workers + configuration.queueLimit else {
            admitted.wrappingSubtract(1, ordering: .relaxed)
            sessions.abandon(piece)
            return fail(reply, id, "busy", "\(configuration.workers) runs are running and \(configuration.queueLimit) waiting; try again later")
        }
        let file = "exec:" + name
        let policy = configuration.defaultPolicy ?? RefCountPolicyKind.biased.rawValue
        let runNumber: Int?
        do throws(JournalError) {
            runNumber = try journal?.start(file: file, policy: policy, params: [:])
        } catch {
            admitted.wrappingSubtract(1, ordering: .relaxed)
            sessions.abandon(piece)
            return fail(reply, id, "not_recorded", "the piece was not run: \(error)")
        }
        var runConfiguration = RunConfiguration()
        if let chosen = RefCountPolicyKind(rawValue: policy) { runConfiguration.policy = chosen }
        runConfiguration.collector = .manual
        runConfiguration.timeLimit = .milliseconds(Int(min(configuration.defaultTimeLimitSeconds, Service.execTimeLimitSeconds) * 1000))
        runConfiguration.heapLimitBytes = min(configuration.defaultHeapLimitMiB, Service.execHeapLimitMiB) << 20
        runConfiguration.maxOutputBytes = configuration.maxOutputBytes
        runConfiguration.maxThreads = configuration.maxThreads
        let cancellation = RunCancellation()
        runConfiguration.cancellation = cancellation
        let ticket = cancellations.add(cancellation, id: id)
        let activeTicket = active.add(cancellation, id: id)
        stats.withLock { $0.runsStarted += 1 }
        let ready = runConfiguration
        runQueue.async { [self] in
            let (outcome, slots) = executeInWorkerSlots(checked, ready, exclusive: false)
            cancellations.remove(ticket)
            var entry = JournalEntry(kind: "finished", run: runNumber ?? 0, time: Date().timeIntervalSince1970, file: file,
                                     policy: policy, params: [:], version: protocolVersion)
            var response: Response
            switch outcome {
            case .failure(let diagnostics):
                sessions.abandon(piece)
                response = .error(id, "bad_request", diagnostics.rendered())
                entry.ok = false
                entry.code = "bad_request"
            case .success(let result):
                if let error = result.error {
                    sessions.abandon(piece)
                    let code = Service.code(for: error.code)
                    response = .error(id, code, error.message)
                    if code == "run_error" { response.detail = error.code.rawValue }
                    entry.code = error.code.rawValue
                    entry.message = error.message
                } else {
                    // Kept before the answer: the client's next piece sees this one.
                    sessions.commit(piece, printedTotal: result.output.count)
                    response = Response(id: id, type: "exec")
                    response.lines = Array(result.output.dropFirst(piece.printedBefore))
                }
                entry.noteEnd(of: result)
            }
            stats.withLock {
                if entry.ok == true { $0.runsFinished += 1 } else { $0.runsFailed += 1; $0.errors += 1 }
            }
            if let runNumber { recordFinished(entry, of: "exec \(runNumber)", in: &response) }
            for _ in 0..<slots { workerSlots.signal() }
            logger.info("exec \(runNumber ?? 0) \(name) \(entry.ok == true ? "ok" : entry.code ?? "failed")")
            response.run = runNumber
            reply(response)
            active.remove(activeTicket)
        }
    }
}
