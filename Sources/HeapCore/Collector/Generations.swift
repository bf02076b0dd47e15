// Generations: Python's gc counts, promotion of survivors, and finding young objects.
//
//   generation  in gcBits (2 bits): 0 at creation; a survivor of a collection of generation g
//               moves to min(g + 1, 2)
//   count0      tracked objects made minus generation-0 objects freed since the last collection
//               (each mutator batches its changes, 32 at a time, into the heap's counter)
//   count1      collections of generation 0 since the last collection of generation 1
//   count2      collections of generation 1 since the last collection of generation 2
//
// Young objects are found without a shared list: every page carries generation marks (bit g: it
// may hold objects of generation g). A mutator sets bit 0 of the page it allocates a tracked
// object in; a collection of generation g < 2 walks only pages with one of bits 0...g set, and
// afterwards leaves on them the bit of the generation its survivors moved to (bit 2 is never
// set: a collection of generation 2 walks every page). Large objects (more than 8 KiB) have no page and are always
// walked; they are few.

import Synchronization

extension Mutator {
    static let youngBatch = 32

    /// A tracked object was made: mark its page young and count it. Every `youngBatch` objects
    /// this is a safepoint (`flushYoungDelta`), so the object must be complete.
    @inline(__always)
    func noteYoungObject(_ block: UnsafeMutableRawPointer, isSmall: Bool) {
        if isSmall {
            Arena.page(containing: UInt(bitPattern: block)).pointee.markGeneration(0)
        }
        storage.pointee.youngDelta &+= 1
        if storage.pointee.youngDelta >= Mutator.youngBatch { flushYoungDelta() }
    }

    /// A tracked generation-0 object died.
    @inline(__always)
    func noteYoungObjectFreed() {
        storage.pointee.youngDelta &-= 1
        if storage.pointee.youngDelta <= -Mutator.youngBatch { flushYoungDelta(poll: false) }
    }

    /// Adds the batch to count0; asks the collector thread for a collection when that crosses
    /// threshold 0. A safepoint only when `poll`: the freeing path flushes too, in the middle of a
    /// deallocation, where the world must not stop.
    ///
    /// count0 may go below zero, as in free-threaded CPython: the young garbage a collection frees
    /// is taken off the count that collection has just reset, so the next collection waits for
    /// that many more objects. That batches cycle churn (the collections' fixed costs are paid
    /// once per tens of thousands of objects rather than once per 700), but left alone the batches
    /// grow by about a threshold each time, without bound; so count0 stays above
    /// -`youngDebtFactor` × threshold (2,000,000 two-object cycles: 75 collections and a peak
    /// of 30–35 MiB unbounded; without the debt at all, 2,300 collections and twice the time).
    @inline(never)
    func flushYoungDelta(poll: Bool = true) {
        assertOnOwnThread()
        let counters = storage.pointee.counters
        let delta = storage.pointee.youngDelta
        let count0 = counters.pointee.count0.wrappingAdd(delta, ordering: .relaxed).newValue
        storage.pointee.youngDelta = 0
        let threshold = counters.pointee.signalThreshold.load(ordering: .relaxed)
        if count0 > threshold, !counters.pointee.collectionRequested.exchange(true, ordering: .relaxed) {
            heap.collectorThread?.signal()
        } else if delta < 0, threshold <= Int.max / Mutator.youngDebtFactor, count0 < -Mutator.youngDebtFactor * threshold {
            limitYoungDebt(to: -Mutator.youngDebtFactor * threshold)
        }
        if poll {
            if count0 > counters.pointee.stallAbove.load(ordering: .relaxed) { waitForConcurrentWalk() }
            pollStopRequest()
        }
    }

    static let youngDebtFactor = 16

    /// Raises count0 to `floor` if it is below (other mutators may be adding meanwhile).
    private func limitYoungDebt(to floor: Int) {
        let counters = storage.pointee.counters
        var current = counters.pointee.count0.load(ordering: .relaxed)
        while current < floor {
            let (exchanged, original) = counters.pointee.count0.compareExchange(expected: current, desired: floor, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

extension Heap {
    /// Python's gc.get_count(): (count0, count1, count2). The calling mutator's own batch is
    /// included; other mutators' latest few allocations may not be yet.
    public var count: (Int, Int, Int) {
        Mutator.current?.flushYoungDelta(poll: false)
        return (max(counters.pointee.count0.load(ordering: .relaxed), 0),
                counters.pointee.count1.load(ordering: .relaxed),
                counters.pointee.count2.load(ordering: .relaxed))
    }

    /// The generation of a tracked object (0, 1 or 2).
    public func generation(of object: ObjectRef) -> Int {
        Int((object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.generationMask) >> GCBits.generationShift)
    }

    /// Moves `object` to `generation` and marks its page for it (generation 2 needs no mark: a
    /// full collection walks every page). World stopped.
    func moveWorldStopped(_ object: ObjectRef, toGeneration generation: UInt8) {
        assertWorldStopped()
        let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
        object.header.pointee.gcBits.store((bits & ~GCBits.generationMask) | generation << GCBits.generationShift, ordering: .relaxed)
        if generation < 2 && object.isSmall { Arena.page(containing: object.bits).pointee.markGeneration(generation) }
    }

    /// Page marks a collection of `generation` looks at (nil: every page).
    func pageMarks(collecting generation: Int) -> UInt8? {
        generation >= 2 ? nil : UInt8((1 << (generation + 1)) - 1)
    }

    /// The generation the survivors of a collection of `generation` move to.
    func promotionTarget(of generation: Int) -> UInt8 {
        UInt8(min(generation + 1, 2))
    }

    /// Clears, on the pages a collection of `generation` walked, the marks of the generations it
    /// empties (0...g, or 0 and 1 after a full one). Survivors mark their pages again as they are
    /// promoted (TrialDeletion's `mark`). Before marking: with the world stopped, or in a
    /// concurrent collection before the page is read (an object allocated after that marks its
    /// page again).
    func clearEmptiedMarks(_ pages: [UnsafeMutablePointer<Page>], collecting generation: Int) {
        let cleared = ~UInt8((1 << promotionTarget(of: generation)) - 1)
        for page in pages { page.pointee.generationMarks.bitwiseAnd(cleared, ordering: .relaxed) }
    }

    /// The counts after a collection of `generation` (CPython's gc_collect_main): the young
    /// count and those of the generations collected restart; the next one's count goes up. Every
    /// mutator's pending batch is dropped with count0 (they are parked). World stopped.
    func resetCounts(afterCollecting generation: Int) {
        assertWorldStopped()
        for record in mutators.withLock({ Array($0.values) }) { record.storage.pointee.youngDelta = 0 }
        counters.pointee.count0.store(0, ordering: .relaxed)
        if generation >= 1 { counters.pointee.count1.store(0, ordering: .relaxed) }
        if generation >= 2 { counters.pointee.count2.store(0, ordering: .relaxed) }
        switch generation {
        case 0: counters.pointee.count1.wrappingAdd(1, ordering: .relaxed)
        case 1: counters.pointee.count2.wrappingAdd(1, ordering: .relaxed)
        default: break
        }
    }
}
