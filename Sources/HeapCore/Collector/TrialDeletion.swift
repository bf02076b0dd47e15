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
//   bits 30..0    gc_refs (a count; objects with 2^31 references are not supported)

import Synchronization

/// A list of objects in memory of its own, for the collector's passes over a million objects:
/// no growth checks, no uniqueness checks, no bounds checks on the hot loops. Owned by whoever
/// made it; `deallocate()` frees it.
struct ObjectList {
    let base: UnsafeMutablePointer<ObjectRef>
    let capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
    }

    func deallocate() { base.deallocate() }

    @inline(__always)
    mutating func append(_ object: ObjectRef) {
        precondition(count < capacity, "collector: more objects than the allocator counted")
        (base + count).initialize(to: object)
        count &+= 1
    }

    @inline(__always)
    mutating func popLast() -> ObjectRef? {
        guard count > 0 else { return nil }
        count &-= 1
        return base[count]
    }

    var buffer: UnsafeMutableBufferPointer<ObjectRef> { UnsafeMutableBufferPointer(start: base, count: count) }
}

/// One trial-deletion pass's view of a scratch word.
enum Scratch {
    static let reachable: UInt = 1 << 31
    static let refsMask: UInt = (1 << 31) - 1

    @inline(__always) static func epoch(_ word: UInt) -> UInt { word >> 32 }
}

extension Heap {
    /// A new epoch for a trial-deletion pass (never 0, which new objects' scratch words hold).
    private func nextEpoch() -> UInt {
        collectorEpoch &+= 1
        if collectorEpoch == 0 { collectorEpoch = 1 }
        return UInt(collectorEpoch)
    }

    /// Every live tracked mortal object, with update_refs done on the way: its scratch word holds
    /// the returned epoch and its count. World stopped.
    func collectCandidates() -> (candidates: ObjectList, epoch: UInt) {
        var candidates = ObjectList(capacity: allocator.statistics().liveBlocks)
        let epoch = nextEpoch()
        allocator.forEachAllocatedBlock { block, _ in
            let object = ObjectRef(block)
            let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
            guard bits & GCBits.dead == 0, bits & GCBits.tracked != 0, !object.isImmortal else { return }
            updateRefs(object, epoch: epoch)
            candidates.append(object)
        }
        return (candidates, epoch)
    }

    /// update_refs for one object: scratch := epoch | count.
    @inline(__always)
    private func updateRefs(_ object: ObjectRef, epoch: UInt) {
        object.header.pointee.scratch = epoch << 32 | (UInt(bitPattern: refcount(of: object)) & Scratch.refsMask)
    }

    /// The objects of `set` that nothing outside it references, directly or through its slots.
    /// Pass `epoch` when update_refs is already done for it (collectCandidates); otherwise a new
    /// epoch is taken and update_refs done here. World stopped.
    func findUnreachable(in set: UnsafeMutableBufferPointer<ObjectRef>, epoch: UInt? = nil) -> (unreachable: [ObjectRef], epoch: UInt) {
        let epoch = epoch ?? {
            let fresh = nextEpoch()
            for object in set { updateRefs(object, epoch: fresh) }
            return fresh
        }()
        // subtract_refs
        for object in set {
            forEachReferent(of: object, inEpoch: epoch) { referent in
                referent.header.pointee.scratch &-= 1
            }
        }
        // move_unreachable: mark from the roots; each object is pushed at most once.
        var worklist = ObjectList(capacity: set.count)
        defer { worklist.deallocate() }
        var marked = 0
        for object in set where object.header.pointee.scratch & Scratch.refsMask > 0 {
            guard mark(object) else { continue }
            marked += 1
            worklist.append(object)
            while let next = worklist.popLast() {
                forEachReferent(of: next, inEpoch: epoch) { referent in
                    guard mark(referent) else { return }
                    marked += 1
                    worklist.append(referent)
                }
            }
        }
        // Everything reached (the usual case): no need to look at the set again.
        guard marked < set.count else { return ([], epoch) }
        var unreachable: [ObjectRef] = []
        for object in set where object.header.pointee.scratch & Scratch.reachable == 0 {
            unreachable.append(object)
        }
        return (unreachable, epoch)
    }

    /// Whether `object` was in the set of the pass of `epoch` and found unreachable.
    func isUnreachable(_ object: ObjectRef, epoch: UInt) -> Bool {
        let word = object.header.pointee.scratch
        return Scratch.epoch(word) == epoch && word & Scratch.reachable == 0
    }

    /// Marks `object` reachable; false if it already was.
    @inline(__always)
    private func mark(_ object: ObjectRef) -> Bool {
        let word = object.header.pointee.scratch
        if word & Scratch.reachable != 0 { return false }
        object.header.pointee.scratch = word | Scratch.reachable
        return true
    }

    /// Calls `body` for each slot referent of `object` that is in the pass of `epoch`.
    @inline(__always)
    private func forEachReferent(of object: ObjectRef, inEpoch epoch: UInt, _ body: (ObjectRef) -> Void) {
        let slots = object.slotCount
        var slot = object.slot(0)
        for _ in 0..<slots {
            if let referent = ObjectRef(bits: slot.pointee.load(ordering: .relaxed)),
               Scratch.epoch(referent.header.pointee.scratch) == epoch {
                body(referent)
            }
            slot += 1
        }
    }
}
