// HeapVerifier: checks every object, with the world stopped.
//
// Stopped means no mutator runs while it does (joined, or parked behind a barrier), and every
// mutator has passed a safepoint since its last operation, so merge queues are empty or counted.
//
//   allocator     Allocator.verify() is clean
//   no dangling   every slot of a live object, and every root, names a live object (not a free
//                 block, not a dead object waiting for QSBR)
//   counts        for every live mortal object: refcount == roots naming it + slots naming it
//                 + entries for it in merge queues (each holds one pending reference) + the
//                 queue references the running pause took over (`pauseHeld`) + pending stripe
//                 requests; a striped object's refcount is merged + Σ mutators' table entries
//   weak refs     a weak reference names a live object or nothing
//   page marks    a tracked object of generation 0 or 1 in a page lies in a page that carries that
//                 generation's mark (Collector/Generations.swift): young collections find it
//                 so, and the teardown's epoch test (`isUnreachable`) tells garbage from an object
//                 a pass only touched by it. Not while a collection runs: it clears its pages'
//                 marks before it walks them and marks them again as it promotes.

import Synchronization

extension Heap {
    /// Every broken invariant; empty when the heap is sound. `roots` are the references the
    /// program holds outside the heap's objects (its variables), with multiplicity.
    public func verify(roots: [ObjectRef]) -> [String] {
        var problems = allocator.verify()
        var live = Set<UInt>()
        let checksMarks = !collectionGate.isHeldByAnyone
        let (young, middle) = (CandidateFilter(collecting: 0), CandidateFilter(collecting: 1))
        allocator.forEachAllocatedBlock(inPagesMarked: nil) { block, page in
            let object = ObjectRef(block)
            let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
            guard bits & GCBits.dead == 0 else { return }
            live.insert(object.bits)
            guard checksMarks, let page else { return }
            let generation: UInt8? = young.admits(gcBits: bits) ? 0 : middle.admits(gcBits: bits) ? 1 : nil
            if let generation, page.pointee.generationMarks.load(ordering: .relaxed) & 1 << generation == 0 {
                problems.append("\(object) (\(types.name(of: object.typeID))) is of generation \(generation) in a page without that generation's mark")
            }
        }
        var expected: [UInt: Int] = [:]
        for root in roots {
            if !live.contains(root.bits) { problems.append("root \(root) is not a live object") }
            expected[root.bits, default: 0] += 1
        }
        for bits in live {
            let object = ObjectRef(bits: bits)!
            for index in 0..<object.slotCount {
                let target = object.slot(index).pointee.load(ordering: .acquiring)
                guard target != 0 else { continue }
                if !live.contains(target) {
                    problems.append("\(object) slot \(index) names \(ObjectRef(bits: target)!), which is not a live object")
                }
                expected[target, default: 0] += 1
            }
            if object.typeID == weakReferenceType.id {
                let referent = object.payload.assumingMemoryBound(to: Atomic<UInt>.self).pointee.load(ordering: .acquiring)
                if referent != 0 && !live.contains(referent) {
                    problems.append("weak reference \(object) names \(ObjectRef(bits: referent)!), which is not a live object")
                }
            }
        }
        for queue in mutators.withLock({ $0.values.map(\.mergeQueue) }) {
            for bits in queue { expected[bits, default: 0] += 1 }
        }
        // Queue references a pause took over, dropped when it ends (Collector/Safepoints.swift).
        for object in pauseHeld { expected[object.bits, default: 0] += 1 }
        // Objects a mutator asked to stripe, one reference each (Objects/Striping.swift).
        for object in stripeRequestReferences() { expected[object.bits, default: 0] += 1 }
        for bits in live {
            let object = ObjectRef(bits: bits)!
            if object.isImmortal { continue }
            let count = refcount(of: object)
            let references = expected[bits] ?? 0
            if count != references {
                problems.append("\(object) (\(types.name(of: object.typeID))) has count \(count) but \(references) references")
            }
        }
        return problems
    }

    /// The count of `object` under this heap's policy (world stopped): a striped object's
    /// merged count plus every mutator's table entry.
    func refcount(of object: ObjectRef) -> Int {
        policy == .biased && Striping.isStriped(object) ? stripedCount(object) : policy.count(object)
    }

    /// Live objects per type name. Called by a mutator of this heap (outside a pause), it stops
    /// the world for the walk, so that neither other mutators nor the collector thread change
    /// pages under it; otherwise the caller must make sure nothing runs (no mutator attached).
    public func liveObjectsByType() -> [String: Int] {
        if let me = Mutator.current, me.heap === self, !isInsidePause {
            return stopTheWorld { countLiveObjectsByType() }
        }
        return countLiveObjectsByType()
    }

    private func countLiveObjectsByType() -> [String: Int] {
        var counts: [String: Int] = [:]
        // By id: ids given back leave holes (TypeRegistry.swift).
        let names = Dictionary(uniqueKeysWithValues: types.all.map { ($0.type.id, $0.name) })
        allocator.forEachAllocatedBlock { block, _ in
            let object = ObjectRef(block)
            guard object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0 else { return }
            counts[names[object.typeID] ?? "?", default: 0] += 1
        }
        return counts
    }

    /// Tracked live objects per generation — [generation 0, 1, 2, frozen] — walked as
    /// `liveObjectsByType` walks (the world stopped when a mutator of this heap asks).
    public func trackedObjectsByGeneration() -> [Int] {
        func count() -> [Int] {
            var counts = [0, 0, 0, 0]
            allocator.forEachAllocatedBlock { block, _ in
                let bits = ObjectRef(block).header.pointee.gcBits.load(ordering: .relaxed)
                guard bits & GCBits.dead == 0, bits & GCBits.tracked != 0 else { return }
                if bits & GCBits.frozen != 0 { counts[3] += 1; return }
                counts[Int((bits & GCBits.generationMask) >> GCBits.generationShift)] += 1
            }
            return counts
        }
        if let me = Mutator.current, me.heap === self, !isInsidePause {
            return stopTheWorld { count() }
        }
        return count()
    }
}
