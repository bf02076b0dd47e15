// Heap+Striping: the heap's stripe ids, and what a pause does with them (Striping.swift has the
// per-thread side).
//
//   every pause   after the merge queues: each attached mutator's table is added into the merged
//                 counts and zeroed (`mergeStripes`), so that from here the pause's counts are
//                 exact; then, per stripe:
//                   merged count 0      dead: unstriped with one reference that the pause holds
//                                       (as it holds a merge queue's), dropped after the pause,
//                                       which frees it by the ordinary path (finalizer, weak
//                                       references, slots)
//                   idle `idlePauses`   unstriped: a merged, ownerless object again; id reused
//   a stripe      a pause of its own, asked for at a safepoint (`stripe`): count := local + shared,
//                 ownerID := Striping.owner, localCount := id
//   garbage       a striped object the collector finds to be cyclic garbage is unstriped before
//                 its teardown (Finalization.swift), so that the teardown sees an ordinary object
//
// Invariant: an id that is free has entry 0 in every mutator's table (unstriping happens only
// just after the tables are merged, in a pause).

import Synchronization

/// The stripe ids in use. `objects` and `idle` are written only with the world stopped; a
/// running mutator reads `objects` (its detach), which no pause overlaps. The figures are atomic,
/// for reading from anywhere.
final class StripeRegistry: @unchecked Sendable {
    /// id → the striped object's address (0: a free id); id 0 is never used.
    private var objects: [UInt] = [0]
    /// id → pauses in a row that found no operation on it.
    private var idle: [Int] = [0]
    private var freeIDs: [Int] = []
    /// Objects striped now, striped since the heap was made, unstriped as they cooled, and freed
    /// by a pause that found their merged count at 0.
    let current = Atomic<Int>(0)
    let striped = Atomic<Int>(0)
    let cooled = Atomic<Int>(0)
    let freed = Atomic<Int>(0)

    /// The striped object with stripe id `id`.
    func object(withID id: Int) -> ObjectRef {
        ObjectRef(bits: objects[id])!
    }

    /// A free id for `object`, or nil when all `Striping.maximumStripes` are in use. World stopped.
    fileprivate func take(for object: ObjectRef) -> Int? {
        let id: Int
        if let reused = freeIDs.popLast() {
            id = reused
        } else {
            guard objects.count < Striping.maximumStripes else { return nil }
            id = objects.count
            objects.append(0)
            idle.append(0)
        }
        objects[id] = object.bits
        idle[id] = 0
        current.wrappingAdd(1, ordering: .relaxed)
        striped.wrappingAdd(1, ordering: .relaxed)
        return id
    }

    /// Gives `id` back. World stopped.
    fileprivate func give(_ id: Int) {
        objects[id] = 0
        freeIDs.append(id)
        current.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Every id in use. World stopped.
    fileprivate var ids: [Int] { objects.indices.filter { objects[$0] != 0 } }

    /// One more pause with no operation on `id` (false: it had some); the idle pauses in a row.
    fileprivate func noteIdle(_ id: Int, _ isIdle: Bool) -> Int {
        idle[id] = isIdle ? idle[id] + 1 : 0
        return idle[id]
    }
}

/// What striping did in a heap (`Heap.stripingStatistics`).
public struct StripingStatistics: Sendable, Equatable {
    /// Objects striped now.
    public var current: Int
    /// Objects striped since the heap was made (an object striped, cooled and striped again
    /// counts twice).
    public var striped: Int
    /// Unstriped because their operations stopped.
    public var cooled: Int
    /// Freed by a pause that found no reference left.
    public var freed: Int
}

extension Heap {
    public var stripingStatistics: StripingStatistics {
        StripingStatistics(current: stripes.current.load(ordering: .relaxed), striped: stripes.striped.load(ordering: .relaxed),
                           cooled: stripes.cooled.load(ordering: .relaxed), freed: stripes.freed.load(ordering: .relaxed))
    }

    /// The top of the file's "every pause": returns the dead stripes, each now an ordinary merged
    /// object holding the one reference the pause drops after it. World stopped, merge queues
    /// drained.
    func mergeStripes() -> [ObjectRef] {
        assertWorldStopped()
        guard stripes.current.load(ordering: .relaxed) > 0 else { return [] }
        var touched = Set<Int>()
        mutators.withLock { table in
            for record in table.values {
                let storage = record.storage
                guard let counts = storage.pointee.stripeCounts else { continue }
                for id in 1..<storage.pointee.stripeCapacity where counts[id].operations != 0 {
                    touched.insert(id)
                    if counts[id].delta != 0 {
                        let object = stripes.object(withID: id)
                        object.header.pointee.shared.wrappingAdd(counts[id].delta << SharedState.shift, ordering: .relaxed)
                    }
                    counts[id] = StripeCount(delta: 0, operations: 0)
                }
            }
        }
        var dead: [ObjectRef] = []
        for id in stripes.ids {
            let object = stripes.object(withID: id)
            // Made immortal since (Mutator.makeImmortal): no longer counted, no longer striped.
            guard Striping.isStriped(object) else {
                stripes.give(id)
                continue
            }
            let count = SharedState.count(object.header.pointee.shared.load(ordering: .relaxed))
            assert(count >= 0, "heapd: striped \(object) has merged count \(count)")
            if count == 0 {
                unstripe(object, count: 1)
                stripes.freed.wrappingAdd(1, ordering: .relaxed)
                dead.append(object)
            } else if stripes.noteIdle(id, !touched.contains(id)) >= Striping.idlePauses {
                unstripe(object, count: count)
                stripes.cooled.wrappingAdd(1, ordering: .relaxed)
            }
        }
        return dead
    }

    /// Stripes each of `requested` that is not striped yet (each is held by its request). World
    /// stopped, tables merged (a pause's body).
    func stripe(_ requested: [ObjectRef]) {
        assertWorldStopped()
        guard policy == .biased, striping == .adaptive else { return }
        for object in requested where !Striping.isStriped(object) && !object.isImmortal {
            let header = object.header
            assert(SharedState.state(header.pointee.shared.load(ordering: .relaxed)) != SharedState.queued,
                   "heapd: a queued object outside the merge queues in a pause")
            guard let id = stripes.take(for: object) else { return }
            let count = BiasedCounting.count(object)
            header.pointee.localCount.store(UInt32(id), ordering: .relaxed)
            header.pointee.ownerID.store(Striping.owner, ordering: .relaxed)
            header.pointee.shared.store(count << SharedState.shift | SharedState.merged, ordering: .relaxed)
        }
    }

    /// Makes striped `object` an ordinary merged object with `count` references, and frees its id.
    /// World stopped, tables merged.
    private func unstripe(_ object: ObjectRef, count: Int) {
        let id = Striping.id(of: object)
        let header = object.header
        header.pointee.shared.store(count << SharedState.shift | SharedState.merged, ordering: .relaxed)
        header.pointee.localCount.store(0, ordering: .relaxed)
        header.pointee.ownerID.store(0, ordering: .relaxed)
        stripes.give(id)
    }

    /// Unstripes the striped objects of `garbage` (the collector's, in the pause that found it:
    /// tables merged), so that its teardown sees ordinary objects.
    func unstripe(garbage: [ObjectRef]) {
        assertWorldStopped()
        guard stripes.current.load(ordering: .relaxed) > 0 else { return }
        for object in garbage where Striping.isStriped(object) {
            unstripe(object, count: BiasedCounting.count(object))
        }
    }

    /// The end of a collection (Finalization.swift). A dead stripe is freed after the pause that
    /// finds it, and what it releases that is striped in turn dies unseen until the next pause;
    /// so do the collection's garbage's releases. When this collection freed a dead stripe
    /// (`freedBefore`: the count when it began) or garbage, and stripes exist, pause again until
    /// a pause finds no dead stripe: an acyclic chain of N stripes takes N pauses, and
    /// `collect()` leaves none of it behind. (A cycle that only such a chain kept alive is
    /// garbage for the next collection.) No stripes: nothing to do, and no pause.
    func freeDeadStripes(freedBefore: Int, collected: Bool) {
        guard policy == .biased, collected || stripes.freed.load(ordering: .relaxed) > freedBefore else { return }
        while stripes.current.load(ordering: .relaxed) > 0 {
            let before = stripes.freed.load(ordering: .relaxed)
            stopTheWorld {}
            if stripes.freed.load(ordering: .relaxed) == before { return }
        }
    }

    /// The true count of a striped object: merged count + every attached mutator's entry. Exact
    /// when no mutator runs (world stopped, or the others parked).
    func stripedCount(_ object: ObjectRef) -> Int {
        let id = Striping.id(of: object)
        var count = SharedState.count(object.header.pointee.shared.load(ordering: .relaxed))
        mutators.withLock { table in
            for record in table.values where id < record.storage.pointee.stripeCapacity {
                count += record.storage.pointee.stripeCounts.unsafelyUnwrapped[id].delta
            }
        }
        return count
    }

    /// The references the mutators' pending stripe requests hold (for the verifier). No
    /// mutator running.
    func stripeRequestReferences() -> [ObjectRef] {
        mutators.withLock { table in table.values.flatMap { $0.storage.pointee.stripeRequests } }
    }
}
