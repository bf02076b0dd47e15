// Heap: objects, their types, the mutators that touch them, and the allocator they live in.
//
// The facade that tests, benchmarks and the interpreter use. One per run (or one shared by the
// daemon); its reference-counting policy is fixed when it is created.
//
//   Heap
//     Allocator          blocks (Allocator/)
//     TypeRegistry       types
//     mutator table      id -> mutator storage + its BRC merge queue (one lock, as brc.c's buckets)
//     QSBR               write sequence; mutators' quiescent sequences live in their storage
//     weak table         referent -> its weak references (WeakReferences.swift)
//     global lock        held by the running mutator under the global-lock policy
//
// Thread safety: every method may be called from any thread unless it says otherwise; the
// per-thread work goes through that thread's Mutator.

import CHeapShim
import Synchronization

@usableFromInline
struct HeapCounters: ~Copyable {
    /// Mutators attached now.
    let attachedCount: Atomic<Int>
    /// Attached mutators not in a blocking region (QSBR.swift): the ones that may hold a pointer
    /// loaded without a reference. `onlineCount <= attachedCount`.
    let onlineCount: Atomic<Int>
    /// QSBR's write sequence: advanced when a batch of freed objects is sealed.
    let writeSequence: Atomic<UInt64>
    /// `orphans.count`, mirrored for a lock-free check at every quiescent point.
    let orphanBatchCount: Atomic<Int>
    /// A mutator wants the world stopped (Collector/Safepoints.swift).
    let stopRequested: Atomic<Bool>
    /// Python's gc counts: tracked objects made minus generation-0 objects freed since the last
    /// collection (mutators add theirs in batches); collections of the generation below since
    /// this one's last (Collector/Generations.swift).
    let count0: Atomic<Int>
    let count1: Atomic<Int>
    let count2: Atomic<Int>
    /// count0 above this asks the collector thread for a collection: threshold 0 when automatic
    /// collection is on, Int.max when not (Collector/Heap+GCControl.swift).
    let signalThreshold: Atomic<Int>
    /// A collection has been asked for and the collector has not yet looked: no need to ask again.
    let collectionRequested: Atomic<Bool>
    /// Pacing (Collector/ConcurrentDetection.swift): while a concurrent collection runs, an
    /// allocating mutator waits while count0 is more than `room` above `stallAbove` (Int.max
    /// when none runs); `room` grows as the collection progresses, and `pacingWaiters` counts the
    /// mutators waiting for it to.
    let stallAbove: Atomic<Int>
    let room: Atomic<Int>
    let pacingWaiters: Atomic<Int>
    /// Above 0 while the collecting thread runs program code (finalizers, weak-reference and gc
    /// callbacks): pacing holds no one meanwhile (`Heap.runningProgramCode`).
    let pacingSuspended: Atomic<Int>
    /// `new`'s callers record allocation sites (Diagnostics/AllocationSites.swift).
    @usableFromInline let tracingAllocations: Atomic<Bool>
    /// Some site was ever recorded: dying objects must drop their records.
    let sitesRecorded: Atomic<Bool>
}

struct MutatorRecord {
    /// The mutator's storage, valid while the record is in the table.
    let storage: UnsafeMutablePointer<MutatorStorage>
    /// Objects whose last non-owner release found their shared count at zero (brc.c's
    /// objects_to_merge). Each holds one pending reference.
    var mergeQueue: [UInt] = []
    /// The mutator is detaching and runs no more program code: it owns no unmerged object and
    /// will touch no count again, so whoever would queue an object to it merges it on the spot.
    var isLeaving = false
}

/// `@unchecked Sendable`: mutable state is behind locks (`mutators`, `weakTable`, `orphans`) or
/// atomic (`counters`).
public final class Heap: @unchecked Sendable {
    public let policy: RefCountPolicyKind
    /// Whether hot objects are striped (Striping.swift; biased counting only).
    public let striping: StripingMode
    /// The stripe ids in use (Heap+Striping.swift).
    let stripes = StripeRegistry()
    public let allocator: Allocator
    public let types: TypeRegistry
    /// The built-in type of weak references (WeakReferences.swift).
    public let weakReferenceType: ObjectType

    let mutators = Locked<[UInt32: MutatorRecord]>([:])
    /// Counters that mutators read on hot paths, in raw memory so that reaching them never
    /// touches the Heap's reference count (a cache line every thread would write). Owned by the
    /// heap, freed in deinit.
    let counters: UnsafeMutablePointer<HeapCounters>
    /// Batches of freed objects left by mutators that detached before they could free them.
    let orphans = Locked<[DeferredBatch]>([])
    let weakTable = Locked<[UInt: [UInt]]>([:])
    /// Where live objects were made, while tracing is on (Diagnostics/AllocationSites.swift).
    public let allocationSites = AllocationSites()
    /// Serialises mutators under the global-lock policy (handed over fairly: GlobalLock.swift).
    let globalLock = GlobalLock()
    /// The stop-the-world handshake's mutex and condition (Collector/Safepoints.swift).
    let world = World()
    /// Thresholds, enable flag, callbacks, save-all garbage, statistics (Collector/Heap+GCControl.swift).
    let collectorState: Locked<CollectorState>
    /// The collector's queue and its wake-up sources; nil when collection is manual.
    private(set) var collectorThread: CollectorThread?
    /// Trial deletion's pass counter (Collector/TrialDeletion.swift). Touched only by the thread
    /// that has stopped the world.
    nonisolated(unsafe) var collectorEpoch: UInt32 = 0
    /// Threads sharing a large walk of the heap in a pause (`CollectorConfiguration.pauseWorkers`).
    let pauseWorkers: Int
    /// Mutators that may validate batches in a validation pause
    /// (`CollectorConfiguration.validationAssists`).
    let validationAssists: Int
    /// The stopper's priority during pauses (Platform/PausePriority.swift).
    let pausePriority: PausePriority
    /// The merge queues' references that the running pause took over (Collector/Safepoints.swift),
    /// for the verifier. Touched only by the thread that has stopped the world.
    nonisolated(unsafe) var pauseHeld: [ObjectRef] = []
    /// One collection at a time, from its first pause to its last release (Collector/Finalization.swift).
    let collectionGate = CollectionGate()
    /// The collector's lists, reused between collections (Collector/TrialDeletion.swift).
    let collectorBuffers = CollectorBuffers()
    /// The concurrent walk's tables, reused between collections, and where mutators that
    /// outpace it wait (Collector/ConcurrentDetection.swift).
    let concurrentDetection = ConcurrentDetection()
    /// A concurrent collection's walk of at most this many pages runs in the pause
    /// (ConcurrentDetection.pausePages); tests set -1 to take the concurrent path every time.
    /// Set before the heap is shared with other threads.
    nonisolated(unsafe) var pauseWalkPages = ConcurrentDetection.pausePages
    /// Mutators that outpace a concurrent walk may walk its pages (CollectionAssists.swift):
    /// at most this many at once. Tests set 0 to keep the walk to the collecting thread. Set
    /// before the heap is shared with other threads.
    nonisolated(unsafe) var walkAssistants = ConcurrentDetection.assistants
    /// How long a mutator parked by a validation pause that shares its batches spins for them
    /// (CollectionAssists.swift). Tests set it long, so that the parked mutator surely joins. Set
    /// before the heap is shared with other threads.
    nonisolated(unsafe) var validationJoinSpinNanoseconds = World.maximumSpinNanoseconds
    let walkPacing = MutexCondition()
    /// Whether pacing's limit is a bridge (Collector/ConcurrentDetection.swift). Under
    /// `walkPacing`'s mutex.
    nonisolated(unsafe) var pacingBridged = false
    /// The running concurrent walk's allocation stamp (0 when none runs), for mutators that
    /// attach while it runs (`MutatorStorage.allocationStamp`).
    let allocationStamp = Atomic<UInt>(0)
    /// Called, outside every lock, for each weak reference whose referent died and that has a
    /// callback (the workload layer runs the callback object).
    public let weakCallback: (@Sendable (Mutator, _ weakReference: ObjectRef, _ callback: ObjectRef) -> Void)?
    /// Called once per object (PEP 442) whose type has a finalizer: by the collector for cyclic
    /// garbage, with the world running (Collector/Finalization.swift), and by the thread whose
    /// release frees an object (Objects/Mutator+Deallocation.swift). It may resurrect the
    /// object by storing it somewhere.
    public let finalizer: (@Sendable (Mutator, ObjectRef) -> Void)?

    /// Where tests force interleavings (TestHooks.swift); nil otherwise. Set before the heap is
    /// shared with other threads.
    nonisolated(unsafe) var testHooks: TestHooks?

    /// Mutator ids are never reused (0 means "no owner").
    private static let nextMutatorID = Atomic<UInt32>(1)

    /// A heap; `typeCapacity` bounds its type registry (TypeRegistry.swift), the weak-reference
    /// type included.
    public init(policy: RefCountPolicyKind = .biased,
                allocator configuration: AllocatorConfiguration = AllocatorConfiguration(),
                weakCallback: (@Sendable (Mutator, ObjectRef, ObjectRef) -> Void)? = nil,
                finalizer: (@Sendable (Mutator, ObjectRef) -> Void)? = nil,
                collector: CollectorConfiguration = CollectorConfiguration(),
                typeCapacity: Int = TypeRegistry.maximumTypes,
                striping: StripingMode = .off) {
        self.policy = policy
        self.striping = striping
        self.allocator = Allocator(configuration: configuration)
        self.types = TypeRegistry(capacity: typeCapacity)
        // In angle brackets, as no type a program declares can be named (a workload's `type
        // weakref` is a type of its own).
        self.weakReferenceType = types.register(name: "<weakref>", slots: ["callback"], payloadBytes: 8)
        self.weakCallback = weakCallback
        self.finalizer = finalizer
        self.pauseWorkers = collector.pauseWorkers
        self.validationAssists = collector.validationAssists
        self.pausePriority = PausePriority(boost: collector.pausePriorityBoost)
        counters = .allocate(capacity: 1)
        let state = CollectorState(automatic: collector.automatic, thresholds: collector.thresholds, mode: collector.mode)
        collectorState = Locked(state)
        counters.initialize(to: HeapCounters(attachedCount: Atomic(0), onlineCount: Atomic(0), writeSequence: Atomic(1), orphanBatchCount: Atomic(0), stopRequested: Atomic(false),
                                             count0: Atomic(0), count1: Atomic(0), count2: Atomic(0),
                                             signalThreshold: Atomic(state.signalThreshold), collectionRequested: Atomic(false),
                                             stallAbove: Atomic(Int.max), room: Atomic(0), pacingWaiters: Atomic(0), pacingSuspended: Atomic(0),
                                             tracingAllocations: Atomic(false), sitesRecorded: Atomic(false)))
        if collector.automatic {
            collectorThread = CollectorThread(heap: self, idleInterval: collector.idleInterval)
        }
    }

    deinit {
        let attached = counters.pointee.attachedCount.load(ordering: .relaxed)
        require(attached == 0, "heapd: Heap deinitialised with \(attached) mutator(s) still attached")
        collectorThread?.cancel()
        counters.deinitialize(count: 1)
        counters.deallocate()
    }

    /// Number of mutators attached now.
    public var attachedMutators: Int { counters.pointee.attachedCount.load(ordering: .relaxed) }

    // MARK: Attach and detach

    /// Attaches the calling thread: it gets a mutator (and an allocator thread heap), optionally
    /// pinned to `cpu`. Under the global-lock policy the call waits for the lock and the mutator
    /// holds it until it detaches or yields at a safepoint.
    @discardableResult
    public func attachCurrentThread(pinningTo cpu: Int? = nil) -> Mutator {
        require(heapd_current_mutator() == nil, "heapd: this thread already has a mutator; detach it first")
        if policy == .globalLock { globalLock.acquire() }
        allocator.attachCurrentThread(pinningTo: cpu)
        let id = Heap.nextMutatorID.wrappingAdd(1, ordering: .relaxed).oldValue
        require(id < Striping.owner, "heapd: mutator ids exhausted")
        let stripes = policy == .biased && striping == .adaptive
        let hotObjects: UnsafeMutablePointer<HotObject>? = stripes ? .allocate(capacity: Striping.hotSlots) : nil
        hotObjects?.initialize(repeating: HotObject(address: 0, operations: 0), count: Striping.hotSlots)
        let storage = UnsafeMutablePointer<MutatorStorage>.allocate(capacity: 1)
        storage.initialize(to: MutatorStorage(
            id: id, policy: policy, newObjectCounts: NewObjectCounts.make(for: policy, mutatorID: id),
            heap: Unmanaged.passRetained(self).toOpaque(),
            allocator: Unmanaged.passUnretained(allocator).toOpaque(),
            counters: counters,
            weakReferenceTypeID: UInt16(weakReferenceType.id),
            mergePending: Atomic(false),
            quiescentSequence: Atomic(counters.pointee.writeSequence.load(ordering: .acquiring)),
            deferred: DeferredFrees(),
            switchCountdown: Mutator.switchInterval,
            worldState: .blocked,
            youngDelta: 0,
            allocationStamp: Atomic(allocationStamp.load(ordering: .acquiring)),
            stripeCounts: nil, stripeCapacity: 0, hotObjects: hotObjects, hotCountdown: Striping.hotWindow,
            stripeRequests: [], stripeCountsClosed: false))
        // A thread that attaches while the world is stopped waits for it to resume; it is counted
        // running once it is in the table (Collector/Safepoints.swift).
        world.withLock {
            waitWhileStoppedLocked()
            mutators.withLock { $0[id] = MutatorRecord(storage: storage) }
            setWorldStateLocked(storage, to: .running)
        }
        // Sequentially consistent: pairs with the load in `freeBlock` (see QSBR.swift).
        counters.pointee.attachedCount.wrappingAdd(1, ordering: .sequentiallyConsistent)
        counters.pointee.onlineCount.wrappingAdd(1, ordering: .sequentiallyConsistent)
        heapd_set_current_mutator(UnsafeMutableRawPointer(storage), id)
        return Mutator(storage: storage)
    }

    /// Detaches the calling thread's mutator: merges every object it still owns (their owner
    /// becomes 0, so other threads count them on the shared word alone) and what waits in its
    /// queue, until neither is left (objects queued after that are merged by whoever queues
    /// them), hands freed objects that others might still be reading to the heap, leaves the
    /// mutator table and detaches its allocator thread heap.
    public func detachCurrentThread() {
        guard let mutator = Mutator.current, mutator.storage.pointee.heap == Unmanaged.passUnretained(self).toOpaque() else {
            misuse("heapd: detachCurrentThread on a thread with no mutator of this heap")
        }
        let storage = mutator.storage
        // Everything that touches the heap happens before the mutator leaves the table: until
        // then it counts as running, so no pause can start while it works.
        mutator.pollStopRequest()
        mutator.dropStripeRequests()
        // Merging a queued object can free it and run its finalizer here: program code that makes
        // objects this mutator owns and counts them, and gets more objects queued. So: merge
        // what it owns, drain the queue, and again, until a round finds the queue empty; only
        // then may other threads merge its objects on the spot (brc.c's _Py_brc_remove_thread).
        repeat {
            mutator.mergeOwnedObjects()
        } while mutator.processMergeQueue(leavingIfEmpty: true)
        // After the last release this mutator makes (the merges above can free objects).
        mutator.closeStripeCounts()
        mutator.leaveAndHandOffDeferredFrees()
        heapd_set_current_mutator(nil, 0)
        allocator.detachCurrentThread()
        world.withLock {
            // Blocked first, so that it leaves the running count (waking a stopper that waits
            // for it) while it is still in the table.
            setWorldStateLocked(storage, to: .blocked)
            mutators.withLock { _ = $0.removeValue(forKey: mutator.id) }
        }
        if policy == .globalLock { globalLock.release() }
        storage.deinitialize(count: 1)
        storage.deallocate()
        Unmanaged.passUnretained(self).release()
    }

    // MARK: Biased counting's merge queues (brc.c)

    /// Queues `object` (its shared word just became `queued`) to its owner. If the owner has
    /// detached, merges it here instead; returns true when that merge found it dead.
    func queueToOwner(_ object: ObjectRef) -> Bool {
        let owner = object.header.pointee.ownerID.load(ordering: .relaxed)
        let queued = mutators.withLock { table -> Bool in
            guard owner != 0, let record = table[owner], !record.isLeaving else { return false }
            table[owner]!.mergeQueue.append(object.bits)
            table[owner]!.storage.pointee.mergePending.store(true, ordering: .releasing)
            return true
        }
        if queued { return false }
        return BiasedCounting.merge(object, extra: -1) == 0
    }

    /// Takes mutator `id`'s merge queue. `leavingIfEmpty` (its detach): an empty queue marks it
    /// leaving instead, in the same critical section, so no object is queued to it after that.
    func takeMergeQueue(of id: UInt32, leavingIfEmpty leaving: Bool = false) -> [UInt] {
        mutators.withLock { table in
            guard table[id] != nil else { return [] }
            table[id]!.storage.pointee.mergePending.store(false, ordering: .relaxed)
            let queued = table[id]!.mergeQueue
            if queued.isEmpty {
                if leaving { table[id]!.isLeaving = true }
            } else {
                table[id]!.mergeQueue.removeAll(keepingCapacity: true)
            }
            return queued
        }
    }
}
