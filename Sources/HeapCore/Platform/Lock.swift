// Lock: a pthread mutex, and Locked<Value>, a value only reachable under one.
//
// Why not Synchronization's Mutex: on Linux it waits on a futex inside the uninstrumented
// Synchronization library, so ThreadSanitizer sees none of its ordering and reports every access it
// guards as a race (measured here: `swift test --sanitize=thread` flagged each pool and registry
// access). pthread_mutex_lock is intercepted by ThreadSanitizer, so code guarded by `Lock` is
// checked for real. Public: the layers above (the interpreter, the service) lock the same way. Locks here guard slow paths only (a page per 64 KiB of allocation, attach).
//
// Debug builds (SwiftPM defines DEBUG) also record which thread holds each lock, so that a
// function whose prose says "lock held" can assert it (`assertHeldByCurrentThread`, as mimalloc's
// mi_assert_internal), and locking a lock the calling thread already holds stops with a message
// instead of deadlocking. Release builds have neither the record nor its stores: `MutexHolder` is
// then an empty struct whose methods compile to nothing, and lock/unlock are the pthread calls.

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Which thread holds a mutex (debug builds only; see the file comment).
struct MutexHolder: ~Copyable {
    #if DEBUG
    /// The holder's pthread_t; 0 (no thread's) when free. Atomic so that ThreadSanitizer sees no
    /// race; relaxed, because a thread can find its own id here only if it stored it itself
    /// (program order), and any other value, however stale, tells it the same: not the holder.
    private let thread = Atomic<pthread_t>(0)

    var isCurrentThread: Bool { thread.load(ordering: .relaxed) == pthread_self() }

    /// Before locking: the caller must not hold the mutex already (a default pthread mutex
    /// deadlocks on a second lock by its holder).
    @inline(__always)
    func willLock() {
        assert(!isCurrentThread, "heapd: a lock taken again by the thread that holds it (that deadlocks)")
    }

    @inline(__always)
    func didLock() { thread.store(pthread_self(), ordering: .relaxed) }

    @inline(__always)
    func willUnlock() { thread.store(0, ordering: .relaxed) }
    #else
    @inline(__always) func willLock() {}
    @inline(__always) func didLock() {}
    @inline(__always) func willUnlock() {}
    #endif
}

/// `@unchecked Sendable`: the mutex is the synchronisation; it lives at a fixed address (heap
/// memory owned by this object) because a pthread mutex must not move.
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let holder = MutexHolder()

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
        holder.willLock()
        pthread_mutex_lock(mutex)
        holder.didLock()
    }

    public func unlock() {
        holder.willUnlock()
        pthread_mutex_unlock(mutex)
    }

    @inline(__always)
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

    /// Waits on `condition` with this lock, which the caller holds (MutexCondition checks): the
    /// wait gives the lock up and takes it back, and so does the debug record of the holder.
    func wait(on condition: UnsafeMutablePointer<pthread_cond_t>) {
        holder.willUnlock()
        pthread_cond_wait(condition, mutex)
        holder.didLock()
    }

    #if DEBUG
    /// Whether the calling thread holds the lock. Debug builds only: for `assert`s and tests.
    public var isHeldByCurrentThread: Bool { holder.isCurrentThread }
    #endif

    /// Stops the process unless the calling thread holds the lock, in debug builds; nothing in
    /// release builds. For the top of functions whose comment says the lock is held.
    @inline(__always)
    public func assertHeldByCurrentThread(_ function: StaticString = #function, file: StaticString = #fileID, line: UInt = #line) {
        #if DEBUG
        assert(holder.isCurrentThread, "heapd: \(function) needs the lock held by the calling thread", file: file, line: line)
        #endif
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
