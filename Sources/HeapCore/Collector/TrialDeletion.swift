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
// list to maintain on the allocation path. Marks live in gcBits (candidate, reachable) and are
// cleared before the pause ends.

import Synchronization

/// One collection's garbage, between finding it and tearing it down.
struct GarbageSet {
    var objects: [ObjectRef]
    /// Candidates examined.
    var candidates: Int
}

extension Heap {
    /// Every live tracked mortal object, marked `candidate`. World stopped.
    func collectCandidates() -> [ObjectRef] {
        var candidates: [ObjectRef] = []
        allocator.forEachAllocatedBlock { block, _ in
            let object = ObjectRef(block)
            let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
            guard bits & GCBits.dead == 0, bits & GCBits.tracked != 0, !object.isImmortal else { return }
            object.header.pointee.gcBits.store(bits | GCBits.candidate, ordering: .relaxed)
            candidates.append(object)
        }
        return candidates
    }

    /// Splits `set` (all marked `candidate`) into what is referenced from outside it, directly or
    /// through its slots (returned second, marked `reachable`), and what is not (returned first).
    /// World stopped.
    func partitionUnreachable(_ set: [ObjectRef]) -> (unreachable: [ObjectRef], reachable: [ObjectRef]) {
        // update_refs
        for object in set {
            object.header.pointee.scratch = UInt(bitPattern: refcount(of: object))
        }
        // subtract_refs
        for object in set {
            forEachCandidateReferent(of: object) { referent in
                referent.header.pointee.scratch &-= 1
            }
        }
        // move_unreachable: mark from the roots
        var worklist: [ObjectRef] = []
        for object in set where Int(bitPattern: object.header.pointee.scratch) > 0 {
            mark(object, &worklist)
        }
        while let object = worklist.popLast() {
            forEachCandidateReferent(of: object) { referent in
                if referent.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.reachable == 0 {
                    mark(referent, &worklist)
                }
            }
        }
        var unreachable: [ObjectRef] = []
        var reachable: [ObjectRef] = []
        for object in set {
            if object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.reachable != 0 {
                reachable.append(object)
            } else {
                unreachable.append(object)
            }
        }
        return (unreachable, reachable)
    }

    private func mark(_ object: ObjectRef, _ worklist: inout [ObjectRef]) {
        let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
        if bits & GCBits.reachable != 0 { return }
        object.header.pointee.gcBits.store(bits | GCBits.reachable, ordering: .relaxed)
        worklist.append(object)
    }

    /// Calls `body` for each slot referent of `object` that is a candidate.
    @inline(__always)
    private func forEachCandidateReferent(of object: ObjectRef, _ body: (ObjectRef) -> Void) {
        for index in 0..<object.slotCount {
            guard let referent = ObjectRef(bits: object.slot(index).pointee.load(ordering: .relaxed)) else { continue }
            if referent.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.candidate != 0 {
                body(referent)
            }
        }
    }

    /// Clears the collector's marks from `objects`. World stopped.
    func clearMarks(_ objects: [ObjectRef]) {
        let marks = GCBits.candidate | GCBits.reachable
        for object in objects {
            let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
            object.header.pointee.gcBits.store(bits & ~marks, ordering: .relaxed)
        }
    }
}
