// Safepoints: where a mutator does the work other threads left it.
//
// `safepoint()` is what the interpreter calls between operations. Budget when there is nothing
// to do: four relaxed loads, one store, one decrement.
//
//   stop the world  a mutator that asked for a pause waits for this one (Collector/Safepoints)
//   merge queue     objects other threads released to zero (biased counting) are merged
//   stripes         objects this mutator found hot are striped, in a pause (Striping.swift)
//   QSBR            the mutator is quiescent: deferred frees that everyone has passed are freed
//   global lock     every `switchInterval` polls, the lock is offered to a waiting mutator

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension Mutator {
    /// Safepoint polls between hand-overs of the global lock.
    static let switchInterval = 1000

    public func safepoint() {
        pollStopRequest()
        if storage.pointee.mergePending.load(ordering: .acquiring) {
            processMergeQueue()
        }
        if _slowPath(!storage.pointee.stripeRequests.isEmpty) {
            processStripeRequests()
        }
        quiescentPoint()
        if storage.pointee.policy == .globalLock {
            storage.pointee.switchCountdown -= 1
            if storage.pointee.switchCountdown <= 0 {
                storage.pointee.switchCountdown = Mutator.switchInterval
                yieldGlobalLock()
            }
        }
    }

    /// Under the global-lock policy, lets another mutator run before continuing.
    public func yieldGlobalLock() {
        guard storage.pointee.policy == .globalLock else { return }
        // Waiting for the lock is a blocking region: a mutator that stops the world while holding
        // it must not wait for this one. The region hands the lock to a waiting mutator, if there
        // is one, and takes it back after (queued behind the others).
        enterBlockingRegion(handingOverGlobalLock: true)
        leaveBlockingRegion(queuedForGlobalLock: true)
    }

    /// Merges every object queued to this mutator (brc.c's _Py_brc_merge_refcounts); returns
    /// whether any was. `leavingIfEmpty` (at detach, Heap.detachCurrentThread): an empty queue
    /// marks the mutator leaving, for good.
    @discardableResult
    func processMergeQueue(leavingIfEmpty: Bool = false) -> Bool {
        assertOnOwnThread()
        let queued = heap.takeMergeQueue(of: id, leavingIfEmpty: leavingIfEmpty)
        for bits in queued { mergeQueued(ObjectRef(bits: bits)!) }
        return !queued.isEmpty
    }

    /// At detach: merges every live object this mutator owns (biased counting), before it leaves
    /// the mutator table and before it passes another quiescent point (again after each drain of
    /// its queue, whose finalizers may make objects). Blocks that died since its
    /// last quiescent point cannot be freed meanwhile (QSBR waits for it), and those that died
    /// before carry the dead bit, visible through the write sequence it read there; the dead bit
    /// (offset 26) is a byte the allocator never writes, so it is safe to test on a block another
    /// thread is freeing, and ownerID is read only on blocks that are not dead.
    func mergeOwnedObjects() {
        assertOnOwnThread()
        guard storage.pointee.policy == .biased else { return }
        let me = id
        withAllocator { $0.forEachBlockOfCurrentThread { block in
            let object = ObjectRef(block)
            guard object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0,
                  object.header.pointee.ownerID.load(ordering: .relaxed) == me,
                  !object.isImmortal
            else { return }
            _ = BiasedCounting.merge(object, extra: 0)
        } }
    }

    /// Merges one queued object, dropping the queue's reference; frees it if that was the last.
    func mergeQueued(_ object: ObjectRef) {
        assertOnOwnThread()
        if BiasedCounting.merge(object, extra: -1) == 0 {
            deallocate(object)
        }
    }
}
