// Deallocation: what happens when an object's count reaches zero.
//
//   1. weak references to it are cleared (under the weak table's lock), and their callbacks
//      collected;
//   2. its slots are released; a referent that dies in turn is pushed on a worklist threaded
//      through the dead objects' scratch words, never recursed into, so a million-long linked
//      list is freed in constant stack;
//   3. its block goes back to the allocator, through QSBR when other mutators might still be
//      reading its header (QSBR.swift);
//   4. the weak-reference callbacks run, with no lock held.

import Synchronization

extension Mutator {
    /// Frees `object`, whose count just reached zero, and everything only it kept alive.
    @usableFromInline @inline(never)
    func deallocate(_ object: ObjectRef) {
        // Created only when a dying object has weak references (an empty array would still cost
        // a release at the end).
        var callbacks: [(weak: ObjectRef, callback: ObjectRef)]? = nil
        object.header.pointee.scratch = 0
        var worklist = object.bits
        while let dead = ObjectRef(bits: worklist) {
            worklist = dead.header.pointee.scratch
            // PEP 442: a finalizer runs once, before anything is torn down, and may resurrect.
            if dead.header.pointee.flags & ObjectFlags.hasFinalizer != 0,
               dead.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.finalized == 0, !finalizeOnDeath(dead) {
                continue
            }
            if dead.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.hasWeakReferences != 0 {
                var found = callbacks ?? []
                heap.clearWeakReferences(to: dead, mutator: self, callbacks: &found)
                callbacks = found
            }
            if dead.header.pointee.typeID == storage.pointee.weakReferenceTypeID {
                heap.forgetWeakReference(dead)
            }
            for index in 0..<dead.slotCount {
                let bits = dead.slot(index).pointee.load(ordering: .relaxed)
                guard let referent = ObjectRef(bits: bits) else { continue }
                if releaseReportingDeath(referent) {
                    referent.header.pointee.scratch = worklist
                    worklist = referent.bits
                }
            }
            markDead(dead)
            freeBlock(dead)
        }
        if let callbacks { runWeakCallbacks(callbacks) }
    }

    /// Counts a young death and sets the dead bit (a load and a store, not an RMW: nothing else
    /// writes a dead object's bits).
    @inline(__always)
    private func markDead(_ dead: ObjectRef) {
        let bits = dead.header.pointee.gcBits.load(ordering: .relaxed)
        if bits & (GCBits.tracked | GCBits.generationMask) == GCBits.tracked { noteYoungObjectFreed() }
        dead.header.pointee.gcBits.store(bits | GCBits.dead, ordering: .relaxed)
    }

    /// Frees cyclic garbage the collector found, with the world stopped: its weak references were
    /// cleared, its finalizer has run, and its references to live objects were released; its own
    /// count is not looked at (only other garbage references it). The block goes straight back
    /// to the allocator: no mutator is inside a load now (loads never span a safepoint), so none
    /// can be holding its address without a reference, and QSBR has nothing to wait for.
    func freeCollectedGarbage(_ object: ObjectRef) {
        if object.header.pointee.typeID == storage.pointee.weakReferenceTypeID {
            heap.forgetWeakReference(object)
        }
        markDead(object)
        withAllocator { $0.deallocateTrusted(object.address, isSmall: object.isSmall) }
    }

    /// Runs the finalizer of an object whose count just reached zero: marks it finalized, gives
    /// the finalizer a reference for the length of the call, and takes it back. False when the
    /// finalizer resurrected the object (it is referenced again and must not be freed).
    @inline(never)
    private func finalizeOnDeath(_ object: ObjectRef) -> Bool {
        guard let finalizer = heap.finalizer else { return true }
        let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
        object.header.pointee.gcBits.store(bits | GCBits.finalized, ordering: .relaxed)
        let worklist = object.header.pointee.scratch
        retain(object)
        finalizer(self, object)
        let died = releaseReportingDeath(object)
        object.header.pointee.scratch = worklist
        return died
    }

    /// Runs the callbacks collected while clearing weak references (no lock held), and drops the
    /// references the collection took.
    func runWeakCallbacks(_ callbacks: [(weak: ObjectRef, callback: ObjectRef)]) {
        for (weak, callback) in callbacks {
            heap.weakCallback?(self, weak, callback)
            release(callback)
            release(weak)
        }
    }
}
