// QSBR: quiescent-state-based reclamation, as CPython's qsbr.c.
//
// A mutator reading a slot another thread may overwrite can touch the header of an object that
// has just died (Mutator+Objects). So while another mutator may be reading, a dead object's
// block is not returned to the allocator at once: it waits until every attached mutator has
// passed a quiescent point (a safepoint poll, where it holds no unprotected pointer).
//
//   writeSequence          heap-wide, advanced (RMW) when a batch of dead objects is sealed;
//                          the new value is the batch's goal
//   quiescentSequence      per mutator: the write sequence it saw at its last quiescent point
//                          (`QSBR.offline` inside a blocking region)
//   a batch may be freed   when every attached mutator's quiescentSequence >= its goal
//
// Dead objects are threaded through their scratch words (a reader never writes there), 128 to a
// batch; a batch is sealed when it is full (or at detach), not at every quiescent point, so that
// a mutator freeing one object between safepoints does not pay a sequence RMW and a scan of the
// mutator table for each. Each mutator keeps the smallest quiescent sequence it last scanned
// (`DeferredFrees.safe`) and scans again only when its oldest batch's goal is past it.
//
// Blocks are freed at once when no other mutator can be reading: when this one is the only one
// online (`HeapCounters.onlineCount`: attached and not in a blocking region — a blocked mutator
// holds no pointer at all, and the collector's mutator is blocked for a concurrent walk).
// The count is read with sequential consistency, pairing with the increment a mutator makes
// when it attaches or leaves a blocking region before it loads any slot: either it is seen
// here, or its loads see the slot already overwritten. Under the global-lock policy no two
// mutators run at once, so nothing is deferred either.

import Synchronization

struct DeferredBatch {
    let goal: UInt64
    /// First object of the batch, threaded through scratch words.
    let head: UInt
}

struct DeferredFrees {
    var pending: UInt = 0
    var pendingCount = 0
    /// Sealed batches, oldest (smallest goal) first.
    var batches: [DeferredBatch] = []
    /// The smallest quiescent sequence of the last scan: batches with goals up to it may go.
    var safe: UInt64 = 0
    /// Objects waiting, pending or in batches: `held == pendingCount + Σ batch sizes`.
    var held = 0

    static let batchSize = 128
}

enum QSBR {
    /// A mutator's quiescent sequence while it is in a blocking region (CPython's qsbr detach).
    static let offline = UInt64.max
}

extension Mutator {
    /// Goes offline for QSBR: a blocked mutator never holds reclamation back (entering a
    /// blocking region, after a last quiescent point).
    func goOfflineForReclamation() {
        guard storage.pointee.quiescentSequence.load(ordering: .relaxed) != QSBR.offline else { return }
        storage.pointee.quiescentSequence.store(QSBR.offline, ordering: .releasing)
        // After its last touch of an object (an RMW orders it): from here others free at once.
        storage.pointee.counters.pointee.onlineCount.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }

    /// Comes back online: from here on, blocks freed by others wait for this mutator again.
    /// Sequentially consistent: pairs with the loads in `minimumQuiescentSequence`.
    func comeOnlineForReclamation() {
        guard storage.pointee.quiescentSequence.load(ordering: .relaxed) == QSBR.offline else { return }
        // Before any slot load: pairs with the load in `freeBlock`.
        storage.pointee.counters.pointee.onlineCount.wrappingAdd(1, ordering: .sequentiallyConsistent)
        let sequence = storage.pointee.counters.pointee.writeSequence.load(ordering: .acquiring)
        storage.pointee.quiescentSequence.store(sequence, ordering: .sequentiallyConsistent)
    }

    /// Returns a dead object's block to the allocator, now or after a grace period.
    @inline(__always)
    func freeBlock(_ object: ObjectRef) {
        if storage.pointee.policy == .globalLock || isOnlyMutatorOnline {
            withAllocator { $0.deallocateTrusted(object.address, isSmall: object.isSmall) }
            if _slowPath(storage.pointee.deferred.held != 0) { freeEveryDeferred() }
            return
        }
        object.header.pointee.scratch = storage.pointee.deferred.pending
        storage.pointee.deferred.pending = object.bits
        storage.pointee.deferred.pendingCount += 1
        storage.pointee.deferred.held += 1
        if storage.pointee.deferred.pendingCount >= DeferredFrees.batchSize { sealDeferredBatch() }
    }

    /// No other mutator is online: none can be holding a pointer it loaded without a reference.
    /// Sequentially consistent: pairs with the increment in `comeOnlineForReclamation` and
    /// `attachCurrentThread` (top of the file).
    @inline(__always)
    private var isOnlyMutatorOnline: Bool {
        storage.pointee.counters.pointee.onlineCount.load(ordering: .sequentiallyConsistent) <= 1
    }

    /// Frees everything this mutator deferred, found alone online: each mutator that was online
    /// when one of them died has since gone offline or detached — past a quiescent point, with
    /// no pointer kept — and each that came online since loaded its slots after they changed.
    @inline(never)
    private func freeEveryDeferred() {
        freeChain(storage.pointee.deferred.pending)
        storage.pointee.deferred.pending = 0
        storage.pointee.deferred.pendingCount = 0
        for batch in storage.pointee.deferred.batches { freeChain(batch.head) }
        storage.pointee.deferred.batches.removeAll(keepingCapacity: true)
        storage.pointee.deferred.held = 0
    }

    private func sealDeferredBatch() {
        assertOnOwnThread()
        guard storage.pointee.deferred.pending != 0 else { return }
        // Acquiring-and-releasing: the batch's deaths happen-before any mutator's quiescent
        // point that reads the new sequence.
        let goal = storage.pointee.counters.pointee.writeSequence.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        storage.pointee.deferred.batches.append(DeferredBatch(goal: goal, head: storage.pointee.deferred.pending))
        storage.pointee.deferred.pending = 0
        storage.pointee.deferred.pendingCount = 0
    }

    /// Marks this mutator quiescent (it holds no pointer obtained without a reference), and frees
    /// the deferred batches that every mutator has now moved past. Budget with no sealed batch
    /// and no orphans: two loads, a store, two tests.
    public func quiescentPoint() {
        assertOnOwnThread()
        announceQuiescence()
        if storage.pointee.deferred.held == 0 && storage.pointee.counters.pointee.orphanBatchCount.load(ordering: .relaxed) == 0 { return }
        reclaimDeferred()
    }

    /// Frees the sealed batches (own, then orphaned) whose goals every mutator has passed,
    /// scanning the mutators' sequences only when the oldest goal is past the last scan's.
    @inline(never)
    private func reclaimDeferred() {
        if storage.pointee.deferred.held != 0 && isOnlyMutatorOnline { freeEveryDeferred() }
        withHeap { heap in
            let oldest = storage.pointee.deferred.batches.first?.goal ?? 0
            if oldest > storage.pointee.deferred.safe || heap.hasOrphanBatches {
                storage.pointee.deferred.safe = heap.minimumQuiescentSequence()
            }
            let safe = storage.pointee.deferred.safe
            var ready = 0
            for batch in storage.pointee.deferred.batches {
                guard batch.goal <= safe else { break }
                storage.pointee.deferred.held -= freeChain(batch.head)
                ready += 1
            }
            storage.pointee.deferred.batches.removeFirst(ready)
            for batch in heap.takeOrphanBatches(upTo: safe) { freeChain(batch.head) }
        }
    }

    /// The first half of a quiescent point: this mutator holds no pointer it loaded before now,
    /// said to the others; what it may free in consequence is left for a later quiescent point.
    @inline(__always)
    func announceQuiescence() {
        assertOnOwnThread()
        // Offline, it would come back online without counting itself in `onlineCount`.
        assert(storage.pointee.quiescentSequence.load(ordering: .relaxed) != QSBR.offline,
               "heapd: a quiescent point inside a blocking region")
        let counters = storage.pointee.counters
        // Release pairs with the acquire loads in `minimumQuiescentSequence`.
        storage.pointee.quiescentSequence.store(counters.pointee.writeSequence.load(ordering: .acquiring), ordering: .releasing)
    }

    /// Frees a chain of dead objects linked through their scratch words; returns how many.
    @discardableResult
    private func freeChain(_ head: UInt) -> Int {
        var cursor = head
        var freed = 0
        while let object = ObjectRef(bits: cursor) {
            cursor = object.header.pointee.scratch
            withAllocator { $0.deallocateTrusted(object.address, isSmall: object.isSmall) }
            freed += 1
        }
        return freed
    }

    /// At detach: leaves the attached count and hands what cannot be freed yet to the heap, for
    /// another mutator's quiescent point; the last mutator to leave frees everything. Both happen
    /// under the orphans' lock, so that the last one to leave sees every batch the others left.
    func leaveAndHandOffDeferredFrees() {
        assertOnOwnThread()
        if storage.pointee.deferred.held != 0 && isOnlyMutatorOnline { freeEveryDeferred() }
        sealDeferredBatch()
        let mine = storage.pointee.deferred.batches
        storage.pointee.deferred.batches = []
        storage.pointee.deferred.held = 0
        let counters = storage.pointee.counters
        let heap = self.heap
        let ready = heap.orphans.withLock { orphans -> [DeferredBatch] in
            orphans.append(contentsOf: mine)
            if storage.pointee.quiescentSequence.load(ordering: .relaxed) != QSBR.offline {
                counters.pointee.onlineCount.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            }
            let remaining = counters.pointee.attachedCount.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
            let ready = remaining == 0 ? orphans : []
            if remaining == 0 { orphans.removeAll() }
            counters.pointee.orphanBatchCount.store(orphans.count, ordering: .relaxed)
            return ready
        }
        for batch in ready { freeChain(batch.head) }
    }
}

extension Heap {
    /// The smallest quiescent sequence over attached mutators (the write sequence if none).
    /// The sequence every mutator has passed. A mutator in a blocking region is offline
    /// (`QSBR.offline`, the largest value) and holds nothing back: it holds no pointer at all.
    /// Sequentially consistent: pairs with the store a mutator makes when it comes back online
    /// (`leaveBlockingRegion`), so that either this load sees it or its later slot loads see
    /// every slot cleared before the batches this pass frees were sealed.
    func minimumQuiescentSequence() -> UInt64 {
        let current = counters.pointee.writeSequence.load(ordering: .acquiring)
        return mutators.withLock { table in
            table.values.reduce(current) { min($0, $1.storage.pointee.quiescentSequence.load(ordering: .sequentiallyConsistent)) }
        }
    }

    var hasOrphanBatches: Bool {
        counters.pointee.orphanBatchCount.load(ordering: .relaxed) > 0
    }

    func takeOrphanBatches(upTo safe: UInt64) -> [DeferredBatch] {
        guard hasOrphanBatches else { return [] }
        return orphans.withLock { orphans in
            let ready = orphans.filter { $0.goal <= safe }
            orphans.removeAll { $0.goal <= safe }
            counters.pointee.orphanBatchCount.store(orphans.count, ordering: .relaxed)
            return ready
        }
    }
}
