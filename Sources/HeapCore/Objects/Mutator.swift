// Mutator: a thread attached to a heap, and the handle through which it touches objects.
//
// Attaching gives the thread a mutator (and an allocator thread heap); its storage is reachable
// from C thread-local storage (CHeapShim: one `mov %fs:`), and its id is what objects' ownerID
// names under biased counting. Ids are never reused, so an object whose owner detached simply has
// no owner any more: its next non-owner release that would go negative merges it on the spot.
//
// Storage is owned by the mutator's thread; other threads touch only `mergePending` (a hint set
// under the heap's mutator lock) and `quiescentSequence` (QSBR), both atomic. Debug builds check
// the rule at the top of the mutator's slow paths (`assertOnOwnThread`); not on the fast paths.

import CHeapShim
import Synchronization

@usableFromInline
struct MutatorStorage: ~Copyable {
    @usableFromInline let id: UInt32
    @usableFromInline let policy: RefCountPolicyKind
    /// The first header words of the objects this mutator makes (ObjectHeader.swift).
    let newObjectCounts: NewObjectCounts
    /// The Heap, retained while attached (an `Unmanaged` opaque pointer).
    let heap: UnsafeMutableRawPointer
    let allocator: UnsafeMutableRawPointer
    /// The heap's counters (attach count, QSBR sequence), reachable without its reference count.
    @usableFromInline let counters: UnsafeMutablePointer<HeapCounters>
    let weakReferenceTypeID: UInt16
    /// Set (under the heap's mutator lock) when objects wait in this mutator's merge queue.
    let mergePending: Atomic<Bool>
    /// QSBR: the heap's write sequence as of this mutator's last quiescent point.
    let quiescentSequence: Atomic<UInt64>
    /// Freed objects waiting for every mutator to pass a quiescent point (QSBR.swift).
    var deferred: DeferredFrees
    /// Safepoint polls until the global-lock policy hands the lock to another mutator.
    var switchCountdown: Int
    /// Running, parked or blocked (Collector/Safepoints.swift). Changed under `Heap.world`'s mutex,
    /// through `Heap.setWorldStateLocked` (which keeps the count of running mutators).
    var worldState: MutatorWorldState
    /// Tracked objects made minus generation-0 objects freed, not yet added to the heap's
    /// generation-0 count (batched, as CPython batches; Collector/Generations.swift).
    var youngDelta: Int
    /// What a new object's scratch word starts as: 0, or while a concurrent walk runs, the walk's
    /// stamp, so that the walk leaves it out (Collector/ConcurrentDetection.swift). Written by
    /// the collecting thread, read by the owner as it allocates.
    let allocationStamp: Atomic<UInt>
    /// Striping (Striping.swift): this mutator's count per stripe id (`stripeCapacity` entries,
    /// nil until the first striped operation); its hot-object table (nil when the heap does not
    /// stripe) and the non-owner operations left in its window; the objects it asked to stripe,
    /// one reference each. Owner only, but for the stopper of a pause.
    var stripeCounts: UnsafeMutablePointer<StripeCount>?
    var stripeCapacity: Int
    var hotObjects: UnsafeMutablePointer<HotObject>?
    var hotCountdown: Int
    var stripeRequests: [ObjectRef]
    /// Set as it detaches, once its table is merged for good (Mutator.closeStripeCounts).
    var stripeCountsClosed: Bool
}

/// The calling thread's view of the heap. A handle: copies are cheap, and valid from attach to
/// detach on the thread that attached. Every operation must run on that thread.
public struct Mutator {
    @usableFromInline let storage: UnsafeMutablePointer<MutatorStorage>
    /// This mutator's id (what objects it owns carry as ownerID). Stored in the handle too, so that
    /// the owner test compares against a register rather than a load.
    public let id: UInt32

    init(storage: UnsafeMutablePointer<MutatorStorage>) {
        self.storage = storage
        self.id = storage.pointee.id
    }
    public var policy: RefCountPolicyKind { storage.pointee.policy }

    var heap: Heap {
        Unmanaged<Heap>.fromOpaque(storage.pointee.heap).takeUnretainedValue()
    }

    /// Runs `body` with the heap, taking no reference to it. Paths that several threads run often
    /// use this rather than `heap`: a reference taken is an atomic increment and decrement of the
    /// Heap object's count, one cache line every thread writes — and, because the collector
    /// thread holds the heap weakly, through Swift's side table (`swift_retain`'s slow path). In
    /// producer/consumer those were a third of the profile. The mutator keeps the heap alive.
    @inline(__always)
    func withHeap<R>(_ body: (Heap) -> R) -> R {
        Unmanaged<Heap>.fromOpaque(storage.pointee.heap)._withUnsafeGuaranteedRef(body)
    }

    /// Whether this mutator is the one that has stopped the world (it is inside a collection
    /// or `stopTheWorld`), found without taking a reference to the heap.
    public var isInsidePause: Bool {
        withHeap { $0.world.isStopped(by: id) }
    }

    /// The allocator, without retaining it (hot paths: every thread would write its count).
    @inline(__always)
    func withAllocator<R>(_ body: (Allocator) -> R) -> R {
        Unmanaged<Allocator>.fromOpaque(storage.pointee.allocator)._withUnsafeGuaranteedRef(body)
    }

    /// The calling thread's mutator, if it is attached to some heap.
    public static var current: Mutator? {
        guard let raw = heapd_current_mutator() else { return nil }
        return Mutator(storage: raw.assumingMemoryBound(to: MutatorStorage.self))
    }

    /// Whether the calling thread is this mutator's: its storage is the one in the thread's
    /// thread-local slot (`current`).
    var isOnOwnThread: Bool { heapd_current_mutator() == UnsafeMutableRawPointer(storage) }

    /// The debug-build check of "on the mutator's own thread" (as NIOLoopBound's): its storage
    /// belongs to that thread. An `assert`: nothing in release builds.
    @inline(__always)
    func assertOnOwnThread(_ function: StaticString = #function) {
        assert(isOnOwnThread, "heapd: \(function) must run on the mutator's own thread")
    }
}

// MARK: - Counting (policy switch)

extension Mutator {
    /// Takes one more reference to `object`.
    /// (The default policy is tested first and laid out as the straight path: a `switch` alone
    /// left biased counting's common case jumping over the others.)
    @inlinable @inline(__always)
    public func retain(_ object: ObjectRef) {
        if _fastPath(storage.pointee.policy == .biased) { return BiasedCounting.retain(object, mutatorID: id) }
        switch storage.pointee.policy {
        case .biased: BiasedCounting.retain(object, mutatorID: id)
        case .atomic: AtomicCounting.retain(object, mutatorID: id)
        case .globalLock: GlobalLockCounting.retain(object, mutatorID: id)
        }
    }

    /// Drops one reference to `object`; the last one frees it (and releases its slots) at once.
    @inlinable @inline(__always)
    public func release(_ object: ObjectRef) {
        if releaseReportingDeath(object) { deallocate(object) }
    }

    /// `release` without the deallocation: true when the object died and the caller must free it
    /// (deallocation's worklist frees it instead of recursing).
    /// (`@inlinable`, not only `@usableFromInline`: `release` is inlined into other modules, and
    /// this would otherwise stay a call there — the interpreter paid one per release.)
    @inlinable @inline(__always)
    func releaseReportingDeath(_ object: ObjectRef) -> Bool {
        if _fastPath(storage.pointee.policy == .biased) { return BiasedCounting.release(object, mutator: self) }
        return switch storage.pointee.policy {
        case .biased: BiasedCounting.release(object, mutator: self)
        case .atomic: AtomicCounting.release(object, mutator: self)
        case .globalLock: GlobalLockCounting.release(object, mutator: self)
        }
    }

    @inline(__always)
    func tryRetain(_ object: ObjectRef) -> Bool {
        switch storage.pointee.policy {
        case .biased: BiasedCounting.tryRetain(object, mutatorID: id)
        case .atomic: AtomicCounting.tryRetain(object, mutatorID: id)
        case .globalLock: GlobalLockCounting.tryRetain(object, mutatorID: id)
        }
    }

    /// The object's reference count (local + shared under biased counting); exact when no other
    /// thread is changing it. A striped object's is merged + every mutator's table entry, read
    /// with the world stopped (a pause of its own, unless the caller is inside one).
    public func refcount(_ object: ObjectRef) -> Int {
        guard storage.pointee.policy == .biased, Striping.isStriped(object) else { return storage.pointee.policy.count(object) }
        return withHeap { heap in
            heap.isInsidePause ? heap.refcount(of: object) : heap.stopTheWorld { heap.refcount(of: object) }
        }
    }

    /// Prepares `object` for being handed to another thread (a channel's send). Under biased
    /// counting an object this mutator owns is merged (CPython's _Py_ExplicitMergeRefcount): its
    /// local count folds into the shared one and it has no owner from then on, so the receiver's
    /// last release frees it at once — instead of queueing it back to this thread, which takes
    /// the mutator table's lock, and merging it here at a later safepoint. Other policies, or an
    /// object owned by someone else: nothing to do.
    public func handOff(_ object: ObjectRef) {
        guard storage.pointee.policy == .biased, object.header.pointee.ownerID.load(ordering: .relaxed) == id,
              !object.isImmortal else { return }
        _ = BiasedCounting.merge(object, extra: 0)
    }

    /// Makes `object` immortal: never counted, never freed (as CPython's immortal objects). It
    /// loses its owner too, so that biased counting's owner test alone keeps it off the owner's
    /// fast path. A striped object stops being one (the next pause gives its id back).
    public func makeImmortal(_ object: ObjectRef) {
        object.header.pointee.localCount.store(ObjectHeader.immortalCount, ordering: .relaxed)
        object.header.pointee.ownerID.store(0, ordering: .relaxed)
        object.header.pointee.gcBits.bitwiseOr(GCBits.immortal, ordering: .relaxed)
    }
}
