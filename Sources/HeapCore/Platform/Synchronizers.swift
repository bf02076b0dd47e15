// Synchronizers: a pthread mutex with a condition variable, and a pthread barrier, each at a fixed
// address (pthread objects must not move) — the waiting primitives of the stop-the-world
// handshake, the global lock, channels and the collector's pause workers. pthread calls, not
// Synchronization or Dispatch, for the reason Lock.swift gives: ThreadSanitizer sees them.
// MutexCondition records its holder in debug builds as Lock does (`assertHeldByCurrentThread`);
// a wait gives the mutex up and takes it back, and so does the record.

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
