// Biased counting across threads: the owner's and the others' paths, the merge queue, and
// objects whose owner has detached.

@testable import HeapCore
import Foundation
import Testing

@Suite struct BiasedCountingTests {
    @Test func anotherThreadsReferencesGoToTheSharedCount() {
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let object = Locked<ObjectRef?>(nil)
        let handed = Barrier(parties: 2)
        let checked = Barrier(parties: 2)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                let a = m.new(node)!
                object.withLock { $0 = a }
                handed.wait()
                checked.wait()
                #expect(a.header.pointee.localCount.load(ordering: .relaxed) == 1)
                #expect(SharedState.count(a.header.pointee.shared.load(ordering: .relaxed)) == 1)
                m.release(a)                             // local 0, shared 1: merged, not freed
                #expect(a.header.pointee.ownerID.load(ordering: .relaxed) == 0)
                #expect(heap.allocator.statistics().liveBlocks == 1)
                handed.wait()
            } else {
                handed.wait()
                let a = object.withLock { $0! }
                m.retain(a)                              // a non-owner: shared += 1
                #expect(m.refcount(a) == 2)
                checked.wait()
                handed.wait()
                m.release(a)                             // merged object at zero: freed here
            }
            heap.detachCurrentThread()
        }
        heap.allocator.collect()                         // the block was freed by a non-owner thread
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }

    /// The owner hands a list over and detaches while the other thread drops it: every release
    /// races with the detach's merges (queued, merged on the spot, or merged by the owner), and
    /// every node must still be freed exactly once.
    @Test(arguments: 0..<20)
    func objectsReleasedWhileTheirOwnerDetachesAreAllFreed(_ round: Int) {
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["next"])
        let list = Locked<ObjectRef?>(nil)
        let handed = DispatchSemaphore(value: 0)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                var head: ObjectRef? = nil
                for _ in 0..<200 {
                    let fresh = m.new(node)!
                    if let head { m.store(consuming: head, into: fresh, slot: 0) }
                    head = fresh
                }
                list.withLock { $0 = head }
                handed.signal()
                if round % 2 == 0 { usleep(UInt32(round * 10)) }
                heap.detachCurrentThread()                   // races with the other's releases
            } else {
                handed.wait()
                m.release(list.withLock { $0! })
                m.safepoint()
                heap.detachCurrentThread()
            }
        }
        heap.allocator.collect()
        #expect(heap.liveObjectsByType().isEmpty, "round \(round)")
    }

    @Test func aNonOwnersLastReleaseIsQueuedAndTheOwnerMergesItAtItsSafepoint() {
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        handOver(in: heap, make: { m in
            let a = m.new(node)!
            m.retain(a)                                  // a reference for the other thread, counted locally
            m.release(a)                                 // the owner drops its own: local 1
            return a
        }, afterTheOthersRelease: { m, a in              // shared was 0: queued to the owner
            #expect(SharedState.state(a.header.pointee.shared.load(ordering: .relaxed)) == SharedState.queued)
            #expect(heap.allocator.statistics().liveBlocks == 1)
            m.safepoint()                                // merge: local 1 + shared 0 - 1 = 0
            // Dead now; its block may wait for the other mutator's quiescent point (QSBR).
            #expect(a.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead != 0)
        })
    }

    /// The same hand-over with `handOff` first (what a channel's send does): the object is merged
    /// by its owner, so the other thread's last release frees it on the spot, with nothing queued.
    @Test func anObjectHandedOffIsFreedByTheReceiversLastRelease() {
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        handOver(in: heap, make: { m in
            let a = m.new(node)!                         // local 1: the reference handed over
            m.handOff(a)
            #expect(a.header.pointee.ownerID.load(ordering: .relaxed) == 0)
            #expect(SharedState.state(a.header.pointee.shared.load(ordering: .relaxed)) == SharedState.merged)
            #expect(m.refcount(a) == 1)
            return a
        }, afterTheOthersRelease: { m, a in              // merged at 1: freed by the other thread
            // Freed without this thread reaching a safepoint.
            #expect(a.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead != 0)
            #expect(heap.mutators.withLock { $0[m.id]?.mergeQueue.count ?? -1 } == 0)
        })
    }

    /// Two mutators: the first makes an object holding one reference for the second (`make`),
    /// the second releases it, then the first looks (`afterTheOthersRelease`); at the end every
    /// block is free.
    private func handOver(in heap: Heap, make: @escaping @Sendable (Mutator) -> ObjectRef,
                          afterTheOthersRelease: @escaping @Sendable (Mutator, ObjectRef) -> Void) {
        let object = Locked<ObjectRef?>(nil)
        let step = Barrier(parties: 2)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                let a = make(m)
                object.withLock { $0 = a }
                step.wait()
                step.wait()
                afterTheOthersRelease(m, a)
            } else {
                step.wait()
                m.release(object.withLock { $0! })
                step.wait()
            }
            heap.detachCurrentThread()
        }
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }

    @Test func handOffLeavesOtherPoliciesAndOthersObjectsAlone() {
        let heap = Heap(policy: .atomic, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let a = m.new(node)!
            m.handOff(a)
            #expect(m.refcount(a) == 1)
            m.release(a)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func detachingMergesEveryObjectTheMutatorStillOwns() {
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let objects = Locked<[ObjectRef]>([])
        withMutator(heap) { m in
            let kept = (0..<100).map { _ in m.new(node)! }
            for object in kept { m.retain(object) }      // local count 2 each
            objects.withLock { $0 = kept }
        }
        for object in objects.withLock({ $0 }) {
            #expect(object.header.pointee.ownerID.load(ordering: .relaxed) == 0)
            #expect(object.header.pointee.localCount.load(ordering: .relaxed) == 0)
            #expect(object.header.pointee.shared.load(ordering: .relaxed) == (2 << SharedState.shift) | SharedState.merged)
        }
        withMutator(heap) { m in
            for object in objects.withLock({ $0 }) {
                m.release(object)
                m.release(object)                        // merged, at zero: freed by this thread
            }
            #expect(heap.verify(roots: []) == [])
        }
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }

    @Test func objectsOfADetachedOwnerAreMergedOnTheSpot() {
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let object = Locked<ObjectRef?>(nil)
        withMutator(heap) { m in
            let a = m.new(node)!
            object.withLock { $0 = a }                   // the owner leaves its reference behind
        }
        withMutator(heap) { m in
            let a = object.withLock { $0! }
            #expect(m.refcount(a) == 1)
            m.release(a)                                 // no owner to queue to: merged and freed
            #expect(heap.verify(roots: []) == [])
            #expect(heap.liveObjectsByType().isEmpty)
            heap.allocator.collect()                     // its page was abandoned by the first thread
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    /// Detaching drains the merge queue, and a merge that frees an object runs its finalizer:
    /// program code on the detaching thread, which makes objects this thread owns and counts
    /// them. Until that code has run, another thread's release of such an object goes to the
    /// queue (only the owner reads its local count while it can change: a merge on the spot
    /// racing with the owner's own count loses updates, as heapfuzz seed 597 found), and what
    /// the code leaves alive is merged before the thread is gone.
    @Test func objectsAFinalizerMakesWhileItsThreadDetachesAreMergedByThatThread() {
        let types = Locked<(finalizable: ObjectType, node: ObjectType)?>(nil)
        let handed = Locked<(given: ObjectRef, kept: ObjectRef, owner: UInt32)?>(nil)
        let given = DispatchSemaphore(value: 0), released = DispatchSemaphore(value: 0)
        let queuedToTheOwner = Locked<Bool?>(nil)
        let heap = Heap(policy: .biased, finalizer: { m, _ in
            // On the detaching owner, from its merge queue: one object for the other thread to
            // release while this code still runs, one left alive after it.
            let node = types.withLock { $0!.node }
            let a = m.new(node)!, b = m.new(node)!
            handed.withLock { $0 = (a, b, m.id) }
            given.signal()
            released.wait()
        }, collector: .manual)
        let finalizable = heap.types.register(name: "Finalizable", slots: ["ref"], hasFinalizer: true)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        types.withLock { $0 = (finalizable, node) }
        let object = Locked<ObjectRef?>(nil)
        let made = DispatchSemaphore(value: 0), queued = DispatchSemaphore(value: 0)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                object.withLock { $0 = m.new(finalizable)! }
                made.signal()
                queued.wait()                            // the other's release waits in our queue
                heap.detachCurrentThread()               // merges it: the finalizer runs here
            } else {
                made.wait()
                m.release(object.withLock { $0! })       // shared 0: queued to the owner
                queued.signal()
                given.wait()
                let (a, _, owner) = handed.withLock { $0! }
                m.release(a)
                queuedToTheOwner.withLock { $0 = heap.mutators.withLock { $0[owner]?.mergeQueue.contains(a.bits) } }
                released.signal()
                heap.detachCurrentThread()
            }
        }
        #expect(queuedToTheOwner.withLock { $0 } == true)
        let kept = handed.withLock { $0!.kept }
        #expect(kept.header.pointee.ownerID.load(ordering: .relaxed) == 0)
        #expect(kept.header.pointee.shared.load(ordering: .relaxed) == (1 << SharedState.shift) | SharedState.merged)
        withMutator(heap) { m in
            m.release(kept)
            #expect(heap.verify(roots: []) == [])
            #expect(heap.liveObjectsByType().isEmpty)
        }
    }

    @Test func theOwnerPaysNoAtomicReadModifyWrite() {
        // Not a timing: the owner's retain/release leave the shared word untouched.
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let a = m.new(node)!
            for _ in 0..<1000 { m.retain(a) }
            for _ in 0..<1000 { m.release(a) }
            #expect(a.header.pointee.shared.load(ordering: .relaxed) == 0)
            #expect(a.header.pointee.localCount.load(ordering: .relaxed) == 1)
            m.release(a)
        }
    }

    @Test func aSlotLoadTakesTheOwnersPathForItsOwnObjectsAndTheSharedOneForOthers() {
        // The owner's load of a referent it owns bumps the local count (no RMW, no re-check); a
        // non-owner's goes through the try-retain protocol onto the shared count.
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let parent = Locked<ObjectRef?>(nil)
        let handed = Barrier(parties: 2)
        let loaded = Barrier(parties: 2)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                let p = m.new(node)!, child = m.new(node)!
                m.store(consuming: child, into: p, slot: 0)
                let mine = m.load(p, slot: 0)!
                #expect(mine == child)
                #expect(child.header.pointee.localCount.load(ordering: .relaxed) == 2)
                #expect(child.header.pointee.shared.load(ordering: .relaxed) == 0)
                m.release(mine)
                m.handOff(p)                             // p goes to the other thread, child stays ours
                parent.withLock { $0 = p }
                handed.wait()
                loaded.wait()
                #expect(child.header.pointee.localCount.load(ordering: .relaxed) == 1)
                #expect(SharedState.count(child.header.pointee.shared.load(ordering: .relaxed)) == 1)
                handed.wait()
            } else {
                handed.wait()
                let p = parent.withLock { $0! }
                let theirs = m.load(p, slot: 0)!
                loaded.wait()
                handed.wait()
                m.release(theirs)
                m.release(p)                             // frees p; the child's last reference goes home
            }
            heap.detachCurrentThread()
        }
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }
}
