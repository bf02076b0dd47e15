// Service+Exec: running an `exec` piece as a run — it goes through the same admission (a worker
// slot; `busy` beyond `workers + queueLimit`), is journalled (`started`, then `finished` before
// the answer, file `exec:<session>`), is cancelled when its connection closes or the daemon
// stops, and can be cancelled by its id. The session itself (what is kept, for whom) is
// Sessions.swift's; the program it makes, HeapWorkload's SessionProgram.
//
//   order    validate -> SessionStore.begin -> parse -> admit -> journal start -> pool:
//            worker slot -> run -> commit or abandon -> journal finish -> counters -> slot back
//            -> answer
//   limits   RunPlan.execConfiguration: a fresh heap of at most 256 MiB (or the daemon's
//            default, if lower) for at most 30 s (or the default time limit, if lower), manual
//            collection, and, as every run, max_output_bytes of output (of the whole replay: a
//            piece whose lines are dropped past it is answered the marker and
//            `droppedOutputLines`, RunEnding) and max_threads threads
//
// Every way out after `begin` ends the piece in the store (commit or abandon), and every way out
// after admission gives the admission back.

import Foundation
import HeapCore
import HeapWorkload

extension Service {
    func exec(_ request: Request, caller: Caller, cancellations: ConnectionRuns, reply: @escaping @Sendable (Response) -> Void) {
        let id = request.id
        guard let name = request.session, !name.isEmpty else { return fail(reply, id, .badRequest, "exec needs a session name") }
        let key = SessionKey(uid: caller.uid, name: name)
        if request.reset == true {
            _ = sessions.reset(key)
            return reply(Response(id: id, type: "exec"))
        }
        guard !isDraining else { return refuseWhileDraining(reply, id) }
        guard let text = request.source else { return fail(reply, id, .badRequest, "exec needs the source of one declaration or statement") }
        let piece: ExecPiece
        switch sessions.begin(text, in: key) {
        case .success(let begun): piece = begun
        case .failure(let failure): return fail(reply, id, failure)
        }
        let checked: CheckedProgram
        do throws(CodedError) {
            // The messages alone: places in the replayed session's source would mean nothing.
            checked = try RunPlan.check(piece.program.source, fileName: name) { $0.diagnostics.map(\.message).joined(separator: "\n") }
            try admission.admit()
        } catch {
            sessions.abandon(piece)
            return fail(reply, id, error)
        }
        let file = "exec:" + name
        var configuration = RunPlan.execConfiguration(self.configuration)
        let policy = configuration.policy.rawValue
        let runNumber: Int?
        do throws(JournalError) {
            runNumber = try journal?.start(file: file, policy: policy, params: [:])
        } catch {
            admission.leave()
            sessions.abandon(piece)
            return fail(reply, id, .notRecorded, "the piece was not run: \(error)")
        }
        let cancellation = RunCancellation()
        configuration.cancellation = cancellation
        let ticket = cancellations.add(cancellation, id: id)
        let activeTicket = active.add(cancellation, id: id)
        stats.withLock { $0.runsStarted += 1 }
        let ready = configuration
        runQueue.async { [self] in
            let (outcome, slots) = executeInWorkerSlots(checked, ready, exclusive: false)
            cancellations.remove(ticket)
            let started = JournalEntry(kind: "finished", run: runNumber ?? 0, time: Date().timeIntervalSince1970, file: file,
                                       policy: policy, params: [:], version: protocolVersion)
            var ending = RunEnding(outcome, id: id, started: started, answer: .exec(printedBefore: piece.printedBefore))
            // Kept before the answer: the client's next piece sees this one.
            if case .success(let result) = outcome, result.error == nil {
                sessions.commit(piece, printedTotal: result.printedLines)
            } else {
                sessions.abandon(piece)
            }
            conclude(&ending, of: "exec", runNumber, slots: slots)
            logger.info("exec \(runNumber ?? 0) \(name.clippedForLog(128)) \(ending.entry.ok == true ? "ok" : ending.entry.code ?? "failed")")
            reply(ending.response)
            active.remove(activeTicket)
        }
    }
}
