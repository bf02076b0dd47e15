// Synchronizers: a pthread mutex with a condition variable, and a pthread barrier, each at a fixed
// address (pthread objects must not move) — the waiting primitives of the stop-the-world
// handshake, the global lock, channels and the collector's pause workers. pthread calls, not
// Synchronization or Dispatch, for the reason Lock.swift gives: ThreadSanitizer sees them.
// MutexCondition records its holder in debug builds as Lock does (`assertHeldByCurrentThread`);
// a wait gives the mutex up and takes it back, and so does the record.
//
// And `AdaptiveSpin`, the bounded busy-wait to try before a condition wait when the wait is
// usually short: a futex sleep and wake-up costs some microseconds to tens of microseconds, and
// up to a scheduler tick (4 ms) on a CPU that another process keeps busy.

import CHeapShim
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A mutex and a condition variable that go together: a `Lock` (which keeps the debug record of
/// its holder) and a pthread condition variable. `@unchecked Sendable`: the condition variable is
/// a pthread object at a fixed heap address, used only through these methods.
public final class MutexCondition: @unchecked Sendable {
    private let mutex = Lock()
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        changed.deallocate()
    }

    public func lock() { mutex.lock() }

    public func unlock() { mutex.unlock() }

    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        try mutex.withLock(body)
    }

    /// Waits for a change; the mutex must be held.
    public func wait() {
        assertHeldByCurrentThread()
        mutex.wait(on: changed)
    }

    /// Tells every waiter that something changed; the mutex must be held.
    public func broadcast() {
        assertHeldByCurrentThread()
        pthread_cond_broadcast(changed)
    }

    #if DEBUG
    /// Whether the calling thread holds the mutex. Debug builds only: for `assert`s and tests.
    public var isHeldByCurrentThread: Bool { mutex.isHeldByCurrentThread }
    #endif

    /// Stops the process unless the calling thread holds the mutex, in debug builds; nothing in
    /// release builds.
    @inline(__always)
    public func assertHeldByCurrentThread(_ function: StaticString = #function, file: StaticString = #fileID, line: UInt = #line) {
        #if DEBUG
        assert(mutex.isHeldByCurrentThread, "heapd: \(function) needs the mutex held by the calling thread", file: file, line: line)
        #endif
    }
}

/// A reusable barrier for `parties` threads.
public final class Barrier: @unchecked Sendable {
    private let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)

    public init(parties: Int) {
        pthread_barrier_init(barrier, nil, UInt32(parties))
    }

    deinit {
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }

    public func wait() { _ = pthread_barrier_wait(barrier) }
}

/// A spin-then-block wait's spin, with a budget that adapts to whether spinning pays: halved,
/// down to `minimum`, after a spin that ran out; `minimum` longer, up to `maximum`, after one that
/// saw its condition come true (a condition already true at the first poll says nothing, and
/// changes nothing). Spinning pays when the thread awaited runs on another CPU; when it waits for
/// the spinner's own CPU, every nanosecond spun delays it, and the budget falls to `minimum`
/// quickly and climbs back slowly.
///
/// No `sched_yield` in the spin: on this project's machines (Linux 6.18, EEVDF) each yield with
/// another task runnable on the CPU pushes the yielder's deadline a whole slice later, and a spin
/// that yielded at each poll left mutators unscheduled for ticks when threads outnumbered CPUs
/// (mutators' pauses of 3.4–3.7 ms at the median, against 14 µs without the yields).
struct AdaptiveSpin: ~Copyable {
    let minimum: UInt64
    let maximum: UInt64
    /// The next spin's budget in nanoseconds. Relaxed loads and stores: a hint, which any thread
    /// that spins may update; a lost update costs one spin of the wrong length.
    private let budget: Atomic<UInt64>

    init(minimumNanoseconds: UInt64, maximumNanoseconds: UInt64) {
        minimum = minimumNanoseconds
        maximum = maximumNanoseconds
        budget = Atomic(maximumNanoseconds)
    }

    /// The next spin's budget, in nanoseconds.
    var nanoseconds: UInt64 { budget.load(ordering: .relaxed) }

    /// Spins until `condition()` holds or the budget runs out; returns whether it held, having
    /// adapted the budget. The caller falls back on a condition wait when it returns false.
    func spin(until condition: () -> Bool) -> Bool {
        if condition() { return true }
        let now = budget.load(ordering: .relaxed)
        let held = spinWait(upTo: now, until: condition)
        budget.store(held ? min(now &+ minimum, maximum) : max(now / 2, minimum), ordering: .relaxed)
        return held
    }
}

/// Polls `condition` until it holds or about `nanoseconds` have passed; returns whether it held.
/// Between polls the CPU's spin-wait hint (`heapd_cpu_relax`), which lets a sibling hyperthread
/// run; `condition` must be cheap (an atomic load) and is called on the calling thread only.
func spinWait(upTo nanoseconds: UInt64, until condition: () -> Bool) -> Bool {
    if condition() { return true }
    let deadline = monotonicClockNanoseconds() &+ nanoseconds
    repeat {
        for _ in 0..<spinRelaxesPerPoll { heapd_cpu_relax() }
        if condition() { return true }
    } while monotonicClockNanoseconds() < deadline
    return condition()
}

/// Spin-wait hints between two polls of `spinWait`'s condition: some 170 ns on the project's
/// Zen 2 machines (`pause` takes about 21 ns there).
private let spinRelaxesPerPoll = 8

/// CLOCK_MONOTONIC in nanoseconds (the collector's `monotonicNanoseconds` is a layer up).
@inline(__always)
private func monotonicClockNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
