// Lock: a pthread mutex, and Locked<Value>, a value only reachable under one.
//
// Why not Synchronization's Mutex: on Linux it waits on a futex inside the uninstrumented
// Synchronization library, so ThreadSanitizer sees none of its ordering and reports every access it
// guards as a race (measured here: `swift test --sanitize=thread` flagged each pool and registry
// access). pthread_mutex_lock is intercepted by ThreadSanitizer, so code guarded by `Lock` is
// checked for real. Public: the layers above (the interpreter, the service) lock the same way. Locks here guard slow paths only (a page per 64 KiB of allocation, attach).

#if canImport(Glibc)
import Glibc
#endif

/// `@unchecked Sendable`: the mutex is the synchronisation; it lives at a fixed address (heap
/// memory owned by this object) because a pthread mutex must not move.
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// For locks held across calls (the global-lock policy's mutator lock). Prefer `withLock`.
    public func lock() {
        pthread_mutex_lock(mutex)
    }

    public func unlock() {
        pthread_mutex_unlock(mutex)
    }

    @inline(__always)
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A value reachable only with its lock held. `@unchecked Sendable`: `value` is touched only
/// inside `withLock`.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    private let lock = Lock()
    private var value: Value

    public init(_ value: consuming Value) {
        self.value = value
    }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try lock.withLock { try body(&value) }
    }
}
