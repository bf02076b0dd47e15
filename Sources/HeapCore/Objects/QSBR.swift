// QSBR: quiescent-state-based reclamation, as CPython's qsbr.c.
//
// A mutator reading a slot another thread may overwrite can touch the header of an object that
// has just died (Mutator+Objects). So while more than one mutator is attached, a dead object's
// block is not returned to the allocator at once: it waits until every attached mutator has
// passed a quiescent point (a safepoint poll, where it holds no unprotected pointer).
//
//   writeSequence          heap-wide, advanced (RMW) when a batch of dead objects is sealed;
//                          the new value is the batch's goal
//   quiescentSequence      per mutator: the write sequence it saw at its last quiescent point
//   a batch may be freed   when every attached mutator's quiescentSequence >= its goal
//
// Dead objects are threaded through their scratch words (a reader never writes there), 128 to a
// batch. With one mutator attached there is no other reader, so blocks are freed at once: the
// attach count is read with sequential consistency, pairing with the increment in
// `attachCurrentThread`, so a mutator that attaches and then loads a slot is either seen here or
// sees the slot already overwritten. Under the global-lock policy no two mutators run at once,
// so nothing is deferred either.

import Synchronization

struct DeferredBatch {
    let goal: UInt64
    /// First object of the batch, threaded through scratch words.
    let head: UInt
}

struct DeferredFrees {
    var pending: UInt = 0
    var pendingCount = 0
    var batches: [DeferredBatch] = []

    static let batchSize = 128

    var isEmpty: Bool { pending == 0 && batches.isEmpty }
}

enum QSBR {
    /// A mutator's quiescent sequence while it is in a blocking region (CPython's qsbr detach).
    static let offline = UInt64.max
}

extension Mutator {
    /// Goes offline for QSBR: a blocked mutator never holds reclamation back (entering a
    /// blocking region, after a last quiescent point).
    func goOfflineForReclamation() {
        storage.pointee.quiescentSequence.store(QSBR.offline, ordering: .releasing)
    }

    /// Comes back online: from here on, blocks freed by others wait for this mutator again.
    /// Sequentially consistent: pairs with the loads in `minimumQuiescentSequence`.
    func comeOnlineForReclamation() {
        let sequence = storage.pointee.counters.pointee.writeSequence.load(ordering: .acquiring)
        storage.pointee.quiescentSequence.store(sequence, ordering: .sequentiallyConsistent)
    }

    /// Returns a dead object's block to the allocator, now or after a grace period.
    @inline(__always)
    func freeBlock(_ object: ObjectRef) {
        if storage.pointee.policy == .globalLock || storage.pointee.counters.pointee.attachedCount.load(ordering: .sequentiallyConsistent) <= 1 {
            withAllocator { $0.deallocateTrusted(object.address, isSmall: object.isSmall) }
            return
        }
        object.header.pointee.scratch = storage.pointee.deferred.pending
        storage.pointee.deferred.pending = object.bits
        storage.pointee.deferred.pendingCount += 1
        if storage.pointee.deferred.pendingCount >= DeferredFrees.batchSize { sealDeferredBatch() }
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
    /// the deferred batches that every mutator has now moved past.
    public func quiescentPoint() {
        assertOnOwnThread()
        announceQuiescence()
        let counters = storage.pointee.counters
        if storage.pointee.deferred.isEmpty && counters.pointee.orphanBatchCount.load(ordering: .relaxed) == 0 { return }
        let heap = self.heap
        sealDeferredBatch()
        let safe = heap.minimumQuiescentSequence()
        var kept: [DeferredBatch] = []
        for batch in storage.pointee.deferred.batches {
            if batch.goal <= safe { freeChain(batch.head) } else { kept.append(batch) }
        }
        storage.pointee.deferred.batches = kept
        for batch in heap.takeOrphanBatches(upTo: safe) { freeChain(batch.head) }
    }

    /// The first half of a quiescent point: this mutator holds no pointer it loaded before now,
    /// said to the others; what it may free in consequence is left for a later quiescent point.
    @inline(__always)
    func announceQuiescence() {
        assertOnOwnThread()
        let counters = storage.pointee.counters
        // Release pairs with the acquire loads in `minimumQuiescentSequence`.
        storage.pointee.quiescentSequence.store(counters.pointee.writeSequence.load(ordering: .acquiring), ordering: .releasing)
    }

    private func freeChain(_ head: UInt) {
        var cursor = head
        while let object = ObjectRef(bits: cursor) {
            cursor = object.header.pointee.scratch
            withAllocator { $0.deallocateTrusted(object.address, isSmall: object.isSmall) }
        }
    }

    /// At detach: leaves the attached count and hands what cannot be freed yet to the heap, for
    /// another mutator's quiescent point; the last mutator to leave frees everything. Both happen
    /// under the orphans' lock, so that the last one to leave sees every batch the others left.
    func leaveAndHandOffDeferredFrees() {
        assertOnOwnThread()
        sealDeferredBatch()
        let mine = storage.pointee.deferred.batches
        storage.pointee.deferred.batches = []
        let counters = storage.pointee.counters
        let heap = self.heap
        let ready = heap.orphans.withLock { orphans -> [DeferredBatch] in
            orphans.append(contentsOf: mine)
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
