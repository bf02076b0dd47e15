// RunAdmission: which runs (and exec pieces) heapd takes, and when each may execute.
//
//   queue       a run is admitted when fewer than `workers + queueLimit` are admitted and not
//               yet ended; else it is refused at once (`busy`) — a client is never made to wait
//               for a place in the queue
//   slots       an admitted run executes once it holds a worker slot: at most `workers` at once
//   exclusive   an exclusive run takes every slot, so it executes alone; exclusive runs take
//               theirs one at a time (under `exclusiveEntry`), so that two of them cannot each
//               hold part of the pool and wait for the rest for ever
//
//   admitted ≤ workers + queueLimit;   slots held ≤ workers
//
// A run's life here: admit → takeSlots (blocks) → execute → leave (it no longer counts against
// the queue) → giveBack(slots), once its end is journalled. A run admitted and then not run
// (the journal refused it) leaves without taking slots. Any thread; takeSlots blocks its caller
// (a thread of the run pool, never the event loop).

import Dispatch
import HeapCore
import Synchronization

final class RunAdmission: Sendable {
    let workers: Int
    let queueLimit: Int
    /// Runs admitted and not yet ended.
    private let admitted = Atomic<Int>(0)
    private let slots: DispatchSemaphore
    private let exclusiveEntry = Lock()

    init(workers: Int, queueLimit: Int) {
        precondition(workers >= 1 && queueLimit >= 0, "a pool needs a worker")
        self.workers = workers
        self.queueLimit = queueLimit
        slots = DispatchSemaphore(value: workers)
    }

    /// Counts a run in, or refuses it (`busy`) when the queue is full.
    func admit() throws(CodedError) {
        // Relaxed: the count is a bound, not a guard of other memory.
        guard admitted.wrappingAdd(1, ordering: .relaxed).newValue <= workers + queueLimit else {
            admitted.wrappingSubtract(1, ordering: .relaxed)
            throw CodedError(.busy, "\(workers) runs are running and \(queueLimit) waiting; try again later")
        }
    }

    /// An admitted run has ended, or will not run: its place in the queue goes back.
    func leave() {
        admitted.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Waits for a worker slot, or for all of them when `exclusive`; returns how many are held.
    func takeSlots(exclusive: Bool) -> Int {
        guard exclusive else {
            slots.wait()
            return 1
        }
        exclusiveEntry.withLock { for _ in 0..<workers { slots.wait() } }
        return workers
    }

    /// Gives back what `takeSlots` returned.
    func giveBack(_ count: Int) {
        for _ in 0..<count { slots.signal() }
    }
}
