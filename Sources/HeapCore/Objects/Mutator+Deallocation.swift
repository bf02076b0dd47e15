// Deallocation: what happens when an object's count reaches zero, in CPython's order
// (subtype_dealloc):
//
//   0. it is marked dead at once (`GCBits.dead`): from here on the collector does not take it as
//      a candidate, so a collection that runs while it waits — inside a finalizer or callback
//      run for an object before it — neither frees it nor counts its references as internal
//   1. a finalizer its type has runs once (PEP 442), with the object alive again for the call;
//      if it was resurrected, it stops here
//   2. weak references to it are cleared (under the weak table's lock), and the callbacks of
//      those still alive run at once, with no lock held, before anything below
//   3. its slots are released; a referent that dies in turn is marked dead and pushed on a
//      worklist threaded through the dead objects' scratch words, never recursed into, so a
//      million-long linked list is freed in constant stack
//   4. its block goes back to the allocator, through QSBR when other mutators might still be
//      reading its header (QSBR.swift)
//
// Steps 1 and 2 run program code, which reaches safepoints: objects on the worklist wait there
// marked dead, with their slots still holding their referents. So does the loop itself, every
// `pollInterval` objects (a stop request only: a pause need not wait for a cascade that frees a
// million-node tree to end; nothing else runs there, and a collection skips dead objects and
// counts their slots' references as from outside).

import Synchronization

extension Mutator {
    /// Frees `object`, whose count just reached zero, and everything only it kept alive.
    @usableFromInline @inline(never)
    func deallocate(_ object: ObjectRef) {
        assertOnOwnThread()
        markDead(object)
        object.header.pointee.scratch = 0
        var worklist = object.bits
        var freed = 0
        while let dead = ObjectRef(bits: worklist) {
            freed &+= 1
            if freed & (Mutator.pollInterval - 1) == 0 { pollStopRequest() }
            worklist = dead.header.pointee.scratch
            // A resurrected object leaves the list with a clean scratch word.
            dead.header.pointee.scratch = 0
            if Heap.hasFinalizerToRun(dead), !finalizeOnDeath(dead) {
                continue
            }
            if dead.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.hasWeakReferences != 0 {
                var callbacks: [(weak: ObjectRef, callback: ObjectRef)] = []
                heap.testHooks?.dyingWithWeakReferences?(dead)
                heap.clearWeakReferences(to: dead, mutator: self, callbacks: &callbacks)
                if !callbacks.isEmpty { runWeakCallbacks(callbacks) }
            }
            if dead.header.pointee.typeID == storage.pointee.weakReferenceTypeID {
                heap.testHooks?.weakReferenceDying?(dead)
                heap.forgetWeakReference(dead)
            }
            for index in 0..<dead.slotCount {
                let bits = dead.slot(index).pointee.load(ordering: .relaxed)
                guard let referent = ObjectRef(bits: bits) else { continue }
                if releaseReportingDeath(referent) {
                    markDead(referent)
                    referent.header.pointee.scratch = worklist
                    worklist = referent.bits
                }
            }
            noteFreed(dead)
            forgetAllocationSite(dead)
            freeBlock(dead)
        }
    }

    /// A deallocation cascade polls for a stop request every this many objects (a power of 2).
    static let pollInterval = 1024

    /// Sets the dead bit (a load and a store, not an RMW: nothing else writes the bits of an
    /// object that nothing references).
    @inline(__always)
    func markDead(_ object: ObjectRef) {
        let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
        object.header.pointee.gcBits.store(bits | GCBits.dead, ordering: .relaxed)
    }

    /// Takes a freed tracked object, of any generation, off the young count (free-threaded
    /// CPython's record_deallocation), so that allocations balanced by frees do not trigger
    /// collections.
    @inline(__always)
    private func noteFreed(_ object: ObjectRef) {
        if object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.tracked != 0 { noteYoungObjectFreed() }
    }

    /// Frees cyclic garbage the collector found, with the world stopped: its weak references were
    /// cleared, its finalizer has run, it is marked dead (the teardown's test of which referents
    /// are garbage too), and its references to live objects were released; its own
    /// count is not looked at (only other garbage references it). The block goes straight back
    /// to the allocator: no mutator is inside a load now (loads never span a safepoint), so none
    /// can be holding its address without a reference, and QSBR has nothing to wait for.
    /// Blocks of other threads' pages go in `batch`, one push a run of one page's blocks
    /// (flushed by the caller).
    func freeCollectedGarbage(_ object: ObjectRef, batching batch: inout RemoteFreeBatch) {
        assert(isInsidePause || heap.collectionGate.isHeldByAnyone,
               "heapd: freeCollectedGarbage needs the world stopped by this mutator, or a collection running (its own, or one it assists)")
        if object.header.pointee.typeID == storage.pointee.weakReferenceTypeID {
            heap.forgetWeakReference(object)
        }
        assert(object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead != 0, "heapd: collected garbage not marked dead")
        noteFreed(object)
        forgetAllocationSite(object)
        withAllocator { $0.deallocateTrusted(object.address, isSmall: object.isSmall, batching: &batch) }
    }

    /// Runs the finalizer of an object whose count just reached zero (marked dead): marks it
    /// finalized and alive again, gives the finalizer a reference for the length of the call,
    /// and takes it back. False when the finalizer resurrected the object (it is referenced
    /// again and must not be freed); true, with the object marked dead again, otherwise.
    @inline(never)
    private func finalizeOnDeath(_ object: ObjectRef) -> Bool {
        guard let finalizer = heap.finalizer else { return true }
        let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
        object.header.pointee.gcBits.store((bits | GCBits.finalized) & ~GCBits.dead, ordering: .relaxed)
        retain(object)
        heap.runningProgramCode { finalizer(self, object) }
        guard releaseReportingDeath(object) else { return false }
        markDead(object)
        return true
    }

    /// Runs the callbacks collected while clearing weak references (no lock held), and drops the
    /// references the collection took.
    func runWeakCallbacks(_ callbacks: [(weak: ObjectRef, callback: ObjectRef)]) {
        guard !callbacks.isEmpty else { return }
        heap.runningProgramCode {
            for (weak, callback) in callbacks {
                heap.weakCallback?(self, weak, callback)
                release(callback)
                release(weak)
            }
        }
    }
}
