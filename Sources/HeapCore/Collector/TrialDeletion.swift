// TrialDeletion: finding cyclic garbage, as CPython's gc.c, with the world stopped.
//
//   update_refs      every candidate's scratch word := its reference count
//   subtract_refs    for every slot of a candidate naming a candidate: that one's scratch -= 1
//   move_unreachable a candidate with scratch > 0 is referenced from outside the set (a root);
//                    everything reachable from a root through slots is reachable; the rest is
//                    cyclic garbage
//
// No root scanning and no write barrier: references from outside the candidate set — mutators'
// variables, older objects — are exactly what the counts hold beyond the set's own slots. The
// counts are exact because the world is stopped and the merge queues were drained.
//
// Candidates are the live, tracked (has slots), mortal objects. Objects are found by walking the
// allocator's pages (free-threaded CPython walks its mimalloc heaps the same way), so there is no
// list to maintain on the allocation path.
//
// All of a pass's state lives in each candidate's scratch word, so nothing needs clearing after:
//
//   bits 63..32   the pass's epoch: the object is in this pass's set iff it matches
//   bit  31       reachable
//   bits 30..0    2^30 + gc_refs (biased, so that decrements that arrive before the object's
//                 count is added cannot wrap; counts of 2^30 and more are not supported)
//
// A full collection folds update_refs and subtract_refs into its walk of the heap, so the heap
// is read twice (walk, mark) rather than three times: the walk adds each object's count to its
// own scratch word and subtracts one from each referent's, whichever comes first.

import Synchronization

/// A list of objects in memory of its own, for the collector's passes over a million objects:
/// no growth checks, no uniqueness checks, no bounds checks on the hot loops. Owned by whoever
/// made it; `deallocate()` frees it.
struct ObjectList {
    private(set) var base: UnsafeMutablePointer<ObjectRef>
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
    }

    /// A list in `capacity` entries of another list's memory from `base` (never deallocated).
    init(in base: UnsafeMutablePointer<ObjectRef>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    func deallocate() { base.deallocate() }

    @inline(__always)
    mutating func append(_ object: ObjectRef) {
        // A precondition, not an assert: a write past the end would land in the allocator's
        // memory in a release build. One compare and a never-taken branch per object.
        precondition(count < capacity, "heapd: collector list of \(capacity) objects overflowed")
        (base + count).initialize(to: object)
        count &+= 1
    }

    /// Appends, moving to memory twice as large when full (for lists of unknown length).
    @inline(__always)
    mutating func appendGrowing(_ object: ObjectRef) {
        if count == capacity { grow() }
        (base + count).initialize(to: object)
        count &+= 1
    }

    @inline(never)
    private mutating func grow() {
        var larger = ObjectList(capacity: capacity * 2)
        larger.base.moveInitialize(from: base, count: count)
        larger.count = count
        deallocate()
        self = larger
    }

    @inline(__always)
    mutating func popLast() -> ObjectRef? {
        guard count > 0 else { return nil }
        count &-= 1
        return base[count]
    }

    var buffer: UnsafeMutableBufferPointer<ObjectRef> { UnsafeMutableBufferPointer(start: base, count: count) }
}

/// Lists the collector reuses from one collection to the next. A fresh multi-megabyte buffer costs
/// a page fault per 4 KiB on first touch (2,048 for a million candidates) and a munmap after; in
/// this VM that was a third of the walk of a million objects. What is kept is at most what the
/// largest collection needed (8 bytes per candidate, plus the shared walk's outboxes); the heap
/// frees it. Touched only by the thread that has stopped the world.
final class CollectorBuffers: @unchecked Sendable {
    private var spare: [ObjectList] = []

    /// An empty list with room for at least `capacity` objects.
    func take(capacity: Int) -> ObjectList {
        // The smallest that is large enough, so that a small request never takes a large list.
        if let index = spare.indices.filter({ spare[$0].capacity >= capacity }).min(by: { spare[$0].capacity < spare[$1].capacity }) {
            return spare.remove(at: index)
        }
        // None large enough: the largest spare one is replaced by one that is, with room to grow
        // (young collections often grow a little each time; a list made for each would fault
        // its pages in every time).
        if let index = spare.indices.max(by: { spare[$0].capacity < spare[$1].capacity }) {
            spare.remove(at: index).deallocate()
        }
        return ObjectList(capacity: capacity + capacity / 2)
    }

    /// Keeps `list`'s memory for a later `take`.
    func give(_ list: ObjectList) {
        var list = list
        list.count = 0
        spare.append(list)
    }

    deinit {
        for list in spare { list.deallocate() }
    }
}

/// One trial-deletion pass's view of a scratch word.
enum Scratch {
    static let reachable: UInt = 1 << 31
    static let refsMask: UInt = (1 << 31) - 1
    static let bias: UInt = 1 << 30
    /// The first epoch (Heap.nextEpoch).
    static let firstEpoch: UInt32 = 1 << 31

    /// `word`, restarted at zero gc_refs if it belongs to another epoch.
    @inline(__always) static func current(_ word: UInt, epoch: UInt) -> UInt {
        Scratch.epoch(word) == epoch ? word : epoch << 32 | bias
    }

    /// gc_refs > 0: referenced from outside the set.
    @inline(__always) static func isRoot(_ word: UInt) -> Bool { word & refsMask > bias }

    @inline(__always) static func epoch(_ word: UInt) -> UInt { word >> 32 }
}

extension Heap {
    /// A new epoch for a trial-deletion pass. Epochs have their top bit set (2^31 ... 2^32 - 1),
    /// so that no scratch word left holding an address (a user-space address is below 2^47, its
    /// high half below 2^15) or 0 (new objects) can pass for one. When the counter wraps, every
    /// live object's scratch word is reset first, so that a word written 2^31 passes ago cannot
    /// pass for the new epoch either. World stopped.
    func nextEpoch() -> UInt {
        assertWorldStopped()
        if collectorEpoch == UInt32.max {
            resetScratchWords()
            collectorEpoch = Scratch.firstEpoch
        } else {
            collectorEpoch = max(collectorEpoch &+ 1, Scratch.firstEpoch)
        }
        return UInt(collectorEpoch)
    }

    /// Zeroes the scratch word of every live object (a dead one's holds a worklist or QSBR link).
    /// World stopped.
    private func resetScratchWords() {
        allocator.forEachAllocatedBlock { block, _ in
            let object = ObjectRef(block)
            if object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0 { object.header.pointee.scratch = 0 }
        }
    }

    /// update_refs for one object: scratch := epoch | bias + count - `held` (references that
    /// the collector itself holds, which are not from outside the set).
    @inline(__always)
    private func updateRefs(_ object: ObjectRef, epoch: UInt, lessHeld held: Int) {
        let word = (epoch << 32 | Scratch.bias) &+ (UInt(bitPattern: refcount(of: object) &- held) & Scratch.refsMask)
        object.scratchWord.pointee.store(word, ordering: .relaxed)
    }

    /// The objects of `set` that nothing outside it references, directly or through its slots;
    /// the others (survivors) move to generation `target`. Pass `epoch` when update_refs and
    /// subtract_refs are already done for it (collectCandidates); otherwise a new epoch is taken
    /// and both are done here (`countReferences`). `roots`, when given, are the objects of the
    /// set with gc_refs > 0 (a shared walk lists them), so that the set need not be scanned for
    /// them. World stopped.
    func findUnreachable(in set: UnsafeMutableBufferPointer<ObjectRef>, epoch: UInt? = nil, roots: UnsafeMutableBufferPointer<ObjectRef>? = nil,
                         promotingTo target: UInt8, lessHeld held: Int = 0) -> (unreachable: [ObjectRef], epoch: UInt) {
        assertWorldStopped()
        let epoch = epoch ?? {
            let fresh = nextEpoch()
            countReferences(in: set, epoch: fresh, lessHeld: held, lessPauseHeld: false)
            return fresh
        }()
        var worklist = collectorBuffers.take(capacity: set.count)
        defer { collectorBuffers.give(worklist) }
        return (unreachable(in: set, epoch: epoch, roots: roots, promotingTo: target, worklist: &worklist), epoch)
    }

    /// update_refs and subtract_refs for the pass of `epoch` over `set`. `held` is the number of
    /// references to each object of the set that the collector holds itself (Finalization's
    /// hold), taken off its count; with `lessPauseHeld`, so are the merge queues' references
    /// that the pause holds (Finalization's subtractPauseHeld). World stopped, by the caller or
    /// by the stopper it assists (CollectionAssists.swift): this writes the scratch words of the
    /// set only, so passes over disjoint sets may run side by side.
    func countReferences(in set: UnsafeMutableBufferPointer<ObjectRef>, epoch: UInt, lessHeld held: Int, lessPauseHeld: Bool) {
        assertWorldStoppedForCollection()
        for object in set { updateRefs(object, epoch: epoch, lessHeld: held) }
        for object in set {
            forEachReferent(of: object, inEpoch: epoch) { referent in
                let word = referent.scratchWord
                word.pointee.store(word.pointee.load(ordering: .relaxed) &- 1, ordering: .relaxed)
            }
        }
        if lessPauseHeld { subtractPauseHeld(inEpoch: epoch) }
    }

    /// move_unreachable for the pass of `epoch` over `set` (update_refs and subtract_refs done):
    /// marks from the roots, each object pushed at most once onto `worklist` (room for the set),
    /// and returns what it did not reach. The same rule as `countReferences` for who may call.
    func unreachable(in set: UnsafeMutableBufferPointer<ObjectRef>, epoch: UInt, roots: UnsafeMutableBufferPointer<ObjectRef>?,
                     promotingTo target: UInt8, worklist: inout ObjectList) -> [ObjectRef] {
        assertWorldStoppedForCollection()
        var marked = 0
        for object in roots ?? set where Scratch.isRoot(object.scratchWord.pointee.load(ordering: .relaxed)) {
            guard mark(object, promotingTo: target) else { continue }
            marked += 1
            worklist.append(object)
            while let next = worklist.popLast() {
                forEachReferent(of: next, inEpoch: epoch) { referent in
                    guard mark(referent, promotingTo: target) else { return }
                    marked += 1
                    worklist.append(referent)
                }
            }
        }
        // Everything reached (the usual case): no need to look at the set again.
        guard marked < set.count else { return [] }
        var unreachable: [ObjectRef] = []
        unreachable.reserveCapacity(set.count - marked)
        for object in set where object.scratchWord.pointee.load(ordering: .relaxed) & Scratch.reachable == 0 {
            unreachable.append(object)
        }
        return unreachable
    }

    /// Whether `object` was in the set of the pass of `epoch` and found unreachable.
    func isUnreachable(_ object: ObjectRef, epoch: UInt) -> Bool {
        let word = object.scratchWord.pointee.load(ordering: .relaxed)
        return Scratch.epoch(word) == epoch && word & Scratch.reachable == 0
    }

    /// Marks `object` reachable and moves it to generation `target` (every survivor is marked
    /// exactly once, so promotion costs no pass of its own); false if it was marked already.
    @inline(__always)
    private func mark(_ object: ObjectRef, promotingTo target: UInt8) -> Bool {
        let word = object.scratchWord.pointee.load(ordering: .relaxed)
        if word & Scratch.reachable != 0 { return false }
        object.scratchWord.pointee.store(word | Scratch.reachable, ordering: .relaxed)
        let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
        let moved = (bits & ~GCBits.generationMask) | target << GCBits.generationShift
        if moved != bits { object.header.pointee.gcBits.store(moved, ordering: .relaxed) }
        // Generation 2 needs no page mark: a full collection walks every page.
        if target < 2 && object.isSmall {
            Arena.page(containing: object.bits).pointee.markGeneration(target)
        }
        return true
    }

    /// Calls `body` for each slot referent of `object` that is in the pass of `epoch`.
    @inline(__always)
    private func forEachReferent(of object: ObjectRef, inEpoch epoch: UInt, _ body: (ObjectRef) -> Void) {
        let slots = object.slotCount
        var slot = object.slot(0)
        for _ in 0..<slots {
            if let referent = ObjectRef(bits: slot.pointee.load(ordering: .relaxed)),
               Scratch.epoch(referent.scratchWord.pointee.load(ordering: .relaxed)) == epoch {
                body(referent)
            }
            slot += 1
        }
    }
}
