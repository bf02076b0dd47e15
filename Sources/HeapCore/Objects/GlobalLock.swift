// GlobalLock: the global-lock policy's lock, handed over fairly (CPython's GIL with forced
// switching, ceval_gil.c).
//
// A plain pthread mutex is not fair: a holder that unlocks at its switch interval and locks
// again at once nearly always wins against a thread the unlock only began to wake, so the other
// mutators — and the collector thread, which needs the lock to attach — could wait for seconds.
// Here a holder that yields while someone waits hands the lock over: it returns only once
// another thread has taken it (or nobody waits any more), and it is queued behind it at once.
//
//   held          someone holds the lock                                 } all under `condition`
//   waiting       threads in acquire() that do not hold it yet           }
//   acquisitions  times the lock was taken (a yielder waits for a change) }

/// `@unchecked Sendable`: every field is read and written under `condition`'s mutex.
final class GlobalLock: @unchecked Sendable {
    private let condition = MutexCondition()
    private var held = false
    private var waiting = 0
    private var acquisitions: UInt64 = 0

    /// Waits until the lock is free, then takes it. `queued`: the caller already counts as
    /// waiting (`releaseQueueing` counted it).
    func acquire(queued: Bool = false) {
        condition.lock()
        if !queued { waiting += 1 }
        while held { condition.wait() }
        waiting -= 1
        held = true
        acquisitions &+= 1
        // A yielder may be waiting for this acquisition.
        condition.broadcast()
        condition.unlock()
    }

    /// Lets go of the lock.
    func release() {
        condition.lock()
        held = false
        if waiting > 0 { condition.broadcast() }
        condition.unlock()
    }

    /// A yield's first half: lets go of the lock, counts the caller as waiting for it again, and,
    /// if anyone else was waiting, returns only once one of them has taken it. The caller must
    /// call `acquire(queued: true)` next. Counting the caller before it lets go means the new
    /// holder's next yield hands the lock back even if the caller has not woken up yet (counted
    /// only in `acquire`, a holder whose switch interval is shorter than a wake-up kept the lock
    /// for many intervals: 116,000 polls against 50,000 in GlobalLockTests).
    ///
    /// No deadlock: only the holder yields, so at most one thread at a time is between its
    /// hand-over and its `acquire`, and whoever takes the lock from it has ended that wait.
    func releaseQueueing() {
        condition.lock()
        held = false
        let others = waiting
        waiting += 1
        if others > 0 {
            let before = acquisitions
            condition.broadcast()
            while acquisitions == before { condition.wait() }
        }
        condition.unlock()
    }
}
