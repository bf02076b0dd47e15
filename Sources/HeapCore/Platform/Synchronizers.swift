// Synchronizers: a pthread mutex with a condition variable, and a pthread barrier, each at a fixed
// address (pthread objects must not move) — the waiting primitives of the stop-the-world
// handshake, the global lock, channels and the collector's pause workers. pthread calls, not
// Synchronization or Dispatch, for the reason Lock.swift gives: ThreadSanitizer sees them.
// MutexCondition records its holder in debug builds as Lock does (`assertHeldByCurrentThread`);
// a wait gives the mutex up and takes it back, and so does the record.

#if canImport(Glibc)
import Glibc
#endif

/// A mutex and a condition variable that go together. `@unchecked Sendable`: both are pthread
/// objects at fixed heap addresses, used only through these methods.
public final class MutexCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let holder = MutexHolder()

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    public func lock() {
        holder.willLock()
        pthread_mutex_lock(mutex)
        holder.didLock()
    }

    public func unlock() {
        holder.willUnlock()
        pthread_mutex_unlock(mutex)
    }

    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        holder.willLock()
        pthread_mutex_lock(mutex)
        holder.didLock()
        defer {
            holder.willUnlock()
            pthread_mutex_unlock(mutex)
        }
        return try body()
    }

    /// Waits for a change; the mutex must be held.
    public func wait() {
        assertHeldByCurrentThread()
        holder.willUnlock()
        pthread_cond_wait(changed, mutex)
        holder.didLock()
    }

    /// Tells every waiter that something changed; the mutex must be held.
    public func broadcast() {
        assertHeldByCurrentThread()
        pthread_cond_broadcast(changed)
    }

    #if DEBUG
    /// Whether the calling thread holds the mutex. Debug builds only: for `assert`s and tests.
    public var isHeldByCurrentThread: Bool { holder.isCurrentThread }
    #endif

    /// Stops the process unless the calling thread holds the mutex, in debug builds; nothing in
    /// release builds.
    @inline(__always)
    public func assertHeldByCurrentThread(_ function: StaticString = #function, file: StaticString = #fileID, line: UInt = #line) {
        #if DEBUG
        assert(holder.isCurrentThread, "heapd: \(function) needs the mutex held by the calling thread", file: file, line: line)
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
