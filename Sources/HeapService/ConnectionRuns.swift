// ConnectionRuns: the runs one connection started, so that they stop when it closes, or when it
// asks (`cancel`); the service keeps one more set, of every run admitted, for `stopRuns`.
//
//   states   open --cancelAll--> closed; a run added to a closed set is cancelled as it is added
//            (its request was still being handled when the connection went away)
//
// Any thread (a lock).

import HeapCore
import HeapWorkload
import Synchronization

public final class ConnectionRuns: Sendable {
    private struct Runs {
        var byTicket: [Int: (id: RequestID?, cancellation: RunCancellation)] = [:]
        var closed = false
    }
    private let runs = Locked(Runs())
    private let next = Atomic<Int>(0)

    public init() {}

    func add(_ cancellation: RunCancellation, id: RequestID?) -> Int {
        // Relaxed: tickets need only be unique.
        let ticket = next.wrappingAdd(1, ordering: .relaxed).newValue
        let closed = runs.withLock { runs in
            runs.byTicket[ticket] = (id, cancellation)
            return runs.closed
        }
        if closed { cancellation.cancel() }
        return ticket
    }

    func remove(_ ticket: Int) {
        _ = runs.withLock { $0.byTicket.removeValue(forKey: ticket) }
    }

    /// Cancels the running run whose request had id `id`; false when there is none.
    func cancel(_ id: RequestID) -> Bool {
        let matching = runs.withLock { $0.byTicket.values.filter { $0.id == id }.map(\.cancellation) }
        for cancellation in matching { cancellation.cancel() }
        return !matching.isEmpty
    }

    /// The client went away (or the daemon is stopping): every run it started stops at its next
    /// poll, and so does every run added from now on.
    public func cancelAll() {
        let running = runs.withLock { runs in
            runs.closed = true
            return Array(runs.byTicket.values)
        }
        for run in running { run.cancellation.cancel() }
    }

    public var count: Int { runs.withLock { $0.byTicket.count } }
}
