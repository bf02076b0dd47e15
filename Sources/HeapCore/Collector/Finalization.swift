// Finalization: tearing down cyclic garbage in CPython's order (gc.c, PEP 442).
//
//   1. clear the weak references to garbage; keep the callbacks of those weak references that
//      are not garbage themselves (they run last, with no lock held and the world resumed)
//   2. run each finalizer once (mark `finalized`; never again for that object)
//   3. if any finalizer ran, look again: trial deletion restricted to the garbage; whatever is
//      referenced from outside it now was resurrected, and stays alive with all it reaches
//   4. take a reference to every remaining garbage object, empty its slots (releasing what they
//      held), then drop the reference: counts reach zero and blocks are freed by the ordinary
//      deallocation path. Biased objects are merged first (their owners are parked), so that these
//      releases by the collecting thread free at zero instead of queueing to an owner.

import Synchronization

/// What `Heap.collect()` reports.
public struct CollectionResult: Sendable, Equatable {
    /// Tracked objects examined.
    public var candidates: Int
    /// Pages walked to find them (young collections walk only pages marked young).
    public var pagesWalked: Int
    /// Unreachable objects found (what Python's gc.collect() returns).
    public var unreachable: Int
    /// Of those, resurrected by a finalizer and kept alive.
    public var resurrected: Int
    /// Finalizers run.
    public var finalized: Int
}

extension Heap {
    /// Collects `generation` (2, the default, is a full collection; Python's gc.collect(g)):
    /// stops the world, finds cyclic garbage by trial deletion over the tracked objects of that
    /// generation and younger, tears it down, moves the survivors one generation up, resumes the
    /// world and runs weak-reference callbacks. The caller must be a mutator of this heap.
    @discardableResult
    public func collect(generation: Int = 2) -> CollectionResult {
        require((0...2).contains(generation), "heapd: collect(generation: \(generation)): generations are 0, 1 and 2")
        guard let me = Mutator.current else { misuse("heapd: collect() from a thread that is not a mutator") }
        var callbacks: [(weak: ObjectRef, callback: ObjectRef)] = []
        let result = stopTheWorld { collectStopped(generation, by: me, callbacks: &callbacks) }
        me.runWeakCallbacks(callbacks)
        return result
    }

    /// Python's gc.get_stats(): per generation.
    public var generationStats: [GenerationStats] {
        statistics.withLock { $0 }
    }

    private func collectStopped(_ generation: Int, by me: Mutator, callbacks: inout [(weak: ObjectRef, callback: ObjectRef)]) -> CollectionResult {
        let (candidates, candidateEpoch, pages) = collectCandidates(generation: generation)
        defer { candidates.deallocate() }
        clearEmptiedMarks(pages, collecting: generation)
        let target = promotionTarget(of: generation)
        var (garbage, epoch) = findUnreachable(in: candidates.buffer, epoch: candidateEpoch, promotingTo: target)
        var result = CollectionResult(candidates: candidates.count, pagesWalked: pages.count, unreachable: garbage.count, resurrected: 0, finalized: 0)
        resetCounts(afterCollecting: generation)
        defer {
            statistics.withLock {
                $0[generation].collections += 1
                $0[generation].collected += result.unreachable
            }
        }
        guard !garbage.isEmpty else { return result }

        // 1. Weak references to garbage.
        let isGarbage: (ObjectRef) -> Bool = { self.isUnreachable($0, epoch: epoch) }
        for object in garbage where object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.hasWeakReferences != 0 {
            clearWeakReferences(to: object, mutator: me, callbacks: &callbacks, isGarbage: isGarbage)
        }

        // 2. Finalizers, once per object.
        let finalizable = Set(types.all.filter(\.type.hasFinalizer).map(\.type.id))
        if let finalizer, !finalizable.isEmpty {
            for object in garbage where finalizable.contains(object.typeID) {
                let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
                guard bits & GCBits.finalized == 0 else { continue }
                object.header.pointee.gcBits.store(bits | GCBits.finalized, ordering: .relaxed)
                finalizer(me, object)
                result.finalized += 1
            }
        }

        // 3. Resurrection: trial deletion again, over the garbage alone.
        if result.finalized > 0 {
            let still = garbage.withUnsafeMutableBufferPointer { findUnreachable(in: $0, promotingTo: target).unreachable }
            result.resurrected = garbage.count - still.count
            garbage = still
        }

        // 4. Break the cycles.
        if policy == .biased {
            for object in garbage where object.header.pointee.ownerID.load(ordering: .relaxed) != me.id {
                _ = BiasedCounting.merge(object, extra: 0)
            }
        }
        for object in garbage { me.retain(object) }
        for object in garbage {
            for index in 0..<object.slotCount {
                if let referent = ObjectRef(bits: object.slot(index).pointee.exchange(0, ordering: .relaxed)) {
                    me.release(referent)
                }
            }
        }
        for object in garbage { me.release(object) }
        return result
    }
}
