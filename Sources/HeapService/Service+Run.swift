// Service+Run: a `run` request from its plan to its answer, and what runs and exec pieces share.
//
//   order    RunPlan (bad_request, parse_error, check_error) -> RunAdmission.admit (busy) ->
//            journal `started` (not_recorded) -> pool: worker slot -> run -> RunEnding ->
//            journal `finished` -> counters -> slots back -> answer
//   events   a streamed run's output, progress, phase and gc events go to its client as they
//            come; phase and gc events stop at max_events (EventBudget), and the last response
//            counts those dropped
//
// The finished line is on disk before the counters count the run (a client that sees
// `runsFinished` go up finds the line in the journal) and before its client hears of it; the
// worker slots go back after it, so that a run waiting for them (an exclusive one) is journalled
// as finishing after this one.

import Foundation
import HeapCore
import HeapWorkload

extension Service {
    func run(_ request: Request, cancellations: ConnectionRuns, reply: @escaping @Sendable (Response) -> Void) {
        let id = request.id
        var plan: RunPlan
        do throws(CodedError) {
            plan = try RunPlan(request, settings: configuration, sharedHeap: sharedHeap, library: libraryText)
            try admission.admit()
        } catch {
            return fail(reply, id, error)
        }
        let fileName = plan.fileName, policy = plan.configuration.policy.rawValue, params = plan.configuration.params
        // A run the journal cannot record is not run.
        let runNumber: Int?
        do throws(JournalError) {
            runNumber = try journal?.start(file: fileName, policy: policy, params: params)
        } catch {
            admission.leave()
            return fail(reply, id, .notRecorded, "the run was not started: \(error)")
        }
        let events = EventBudget(limit: configuration.maxEvents)
        if plan.stream { streamEvents(of: &plan.configuration, id: id, events: events, reply: reply) }
        let cancellation = RunCancellation()
        plan.configuration.cancellation = cancellation
        // A detached run is not the connection's: it goes on if the client leaves.
        let owner = plan.detach ? ConnectionRuns() : cancellations
        let ticket = owner.add(cancellation, id: id)
        let activeTicket = active.add(cancellation, id: id)
        // Progress feeds the metrics' heap gauge always, and the client when it streams.
        let stream = plan.stream
        plan.configuration.progress = { [runningHeapBytes] progress in
            runningHeapBytes.withLock { $0[activeTicket] = progress.heapBytes }
            guard stream else { return }
            var event = Response(id: id, type: "progress")
            event.progress = progress
            reply(event)
        }
        stats.withLock { $0.runsStarted += 1 }
        let ready = plan
        runQueue.async { [self] in
            let (outcome, slots) = executeInWorkerSlots(ready.program, ready.configuration, exclusive: ready.exclusive)
            owner.remove(ticket)
            if case .success(let result) = outcome { totals.withLock { $0.add(result) } }
            let started = JournalEntry(kind: "finished", run: runNumber ?? 0, time: Date().timeIntervalSince1970, file: fileName,
                                       policy: policy, params: params, version: protocolVersion)
            var ending = RunEnding(outcome, id: id, started: started, answer: .run)
            conclude(&ending, of: "run", runNumber, slots: slots)
            let entry = ending.entry
            logger.info("run \(runNumber ?? 0) \(fileName.clippedForLog(256)) \(policy) \(entry.ok == true ? "ok" : entry.code ?? "failed") \(String(format: "%.3f", entry.wallSeconds ?? 0)) s")
            if events.dropped > 0 { ending.response.droppedEvents = events.dropped }
            reply(ending.response)
            active.remove(activeTicket)
            _ = runningHeapBytes.withLock { $0.removeValue(forKey: activeTicket) }
        }
    }

    /// A streamed run's output, phase and gc events, sent to `reply` as they come (phase and gc
    /// events within `events`).
    private func streamEvents(of configuration: inout RunConfiguration, id: RequestID?, events: EventBudget,
                              reply: @escaping @Sendable (Response) -> Void) {
        configuration.output = { line in
            var event = Response(id: id, type: "output")
            event.line = line
            reply(event)
        }
        configuration.phaseEnded = { name, seconds in
            guard events.take() else { return }
            var event = Response(id: id, type: "phase")
            event.phase = name
            event.seconds = seconds
            reply(event)
        }
        configuration.collected = { result in
            guard events.take() else { return }
            var event = Response(id: id, type: "gc")
            event.collection = CollectionEvent(generation: result.generation, reason: result.reason.rawValue, mode: result.mode.rawValue,
                                               candidates: result.candidates, collected: result.collected,
                                               pauseMilliseconds: Double(result.pauseNanoseconds) / 1e6,
                                               safepointMilliseconds: Double(result.handshakeNanoseconds) / 1e6,
                                               concurrentMilliseconds: Double(result.concurrentNanoseconds) / 1e6,
                                               tentative: result.tentative, validated: result.validated, dropped: result.dropped)
            reply(event)
        }
    }

    // MARK: What runs and exec pieces share

    /// Takes a worker slot (all of them when `exclusive`), runs `checked` in it, and gives its
    /// place in the queue back. The slots go back in `conclude`, once the end is journalled.
    func executeInWorkerSlots(_ checked: CheckedProgram, _ configuration: RunConfiguration,
                              exclusive: Bool) -> (Result<RunResult, DiagnosticList>, slots: Int) {
        let slots = admission.takeSlots(exclusive: exclusive)
        stats.withLock { $0.runsRunning += 1 }
        let outcome: Result<RunResult, DiagnosticList>
        do throws(DiagnosticList) {
            outcome = .success(try Workload.run(checked, configuration: configuration))
        } catch {
            outcome = .failure(error)
        }
        admission.leave()
        return (outcome, slots)
    }

    /// The end of a run or an exec piece (`what`), in this order: its finished line on disk (the
    /// answer says whether it is: `recorded`, `journalError`), the counters, the worker slots
    /// back. The answer then carries the run's number.
    func conclude(_ ending: inout RunEnding, of what: String, _ runNumber: Int?, slots: Int) {
        if let runNumber, let journal {
            do throws(JournalError) {
                try journal.finish(ending.entry)
                ending.response.recorded = true
            } catch {
                ending.response.recorded = false
                ending.response.journalError = error.description
                logger.error("\(what) \(runNumber) was not recorded: \(error)")
            }
        }
        let failed = ending.failed
        stats.withLock { stats in
            stats.runsRunning -= 1
            if failed {
                stats.runsFailed += 1
                stats.errors += 1
            } else {
                stats.runsFinished += 1
            }
        }
        admission.giveBack(slots)
        ending.response.run = runNumber
    }
}
