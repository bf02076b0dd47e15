// The cycle collector's semantics, after CPython's Lib/test/test_gc.py cases that apply.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

/// Two new objects of `type` referring to each other through slot 0 (a.ref = b; b.ref = a); the
/// caller holds one reference to each.
func makeTwoObjectCycle(_ m: Mutator, _ type: ObjectType) -> (ObjectRef, ObjectRef) {
    let a = m.new(type)!, b = m.new(type)!
    m.store(b, into: a, slot: 0)
    m.store(a, into: b, slot: 0)
    return (a, b)
}

@Suite struct CollectorTests {
    /// Garbage's teardown releases every referent outside the garbage, even one that carries the
    /// pass's epoch: subtract_refs reaches each referent the candidate filter admits, walked or
    /// not, and a young object whose page has lost its young mark is admitted but not walked.
    /// Taken for garbage by its scratch word, it kept the dead cycle's reference forever (found
    /// through allocation stamps that cleared such a mark: the concurrent stress test leaked).
    @Test(arguments: CollectionMode.allCases)
    func aReferentOutsideTheGarbageIsReleasedEvenIfThePassTouchedIt(_ mode: CollectionMode) {
        let heap = Heap(collector: .manual)
        heap.collectionMode = mode
        if mode == .concurrent { heap.pauseWalkPages = -1 }
        let node = heap.types.register(name: "N", slots: ["a", "b"])
        let big = heap.types.register(name: "Big", slots: ["r"], payloadBytes: 512)   // a page of its own size
        withMutator(heap) { m in
            let young = m.new(big)!
            let (a, b) = makeTwoObjectCycle(m, node)
            m.store(young, into: a, slot: 1)
            m.release(a)
            m.release(b)
            // The young object's page loses its mark (as a walk's clearing could leave it).
            Arena.page(containing: young.bits).pointee.generationMarks.store(0, ordering: .relaxed)
            #expect(heap.collect(generation: 0).collected == 2)
            #expect(m.refcount(young) == 1, "the cycle's reference went with it")
            m.release(young)
            expectEmpty(heap, m)
        }
    }

    @Test(arguments: RefCountPolicyKind.allCases)
    func aSelfCycleIsCollected(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["next"])
        withMutator(heap) { m in
            let a = m.new(node)!
            m.store(a, into: a, slot: 0)                 // a.next = a
            m.release(a)                                 // del a: the cycle keeps it alive
            #expect(heap.liveObjectsByType()["Node"] == 1)
            #expect(heap.collect().unreachable == 1)
            #expect(heap.liveObjectsByType()["Node"] == nil)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test(arguments: RefCountPolicyKind.allCases)
    func aTwoObjectCycleIsCollectedAndCollectReturnsTwo(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let a = m.new(node)!, b = m.new(node)!
            m.store(b, into: a, slot: 0)                 // a.ref = b
            m.store(a, into: b, slot: 0)                 // b.ref = a
            m.release(a)
            m.release(b)
            #expect(heap.allocator.statistics().liveBlocks == 2)
            #expect(heap.collect().unreachable == 2)
            #expect(heap.allocator.statistics().liveBlocks == 0)
            #expect(heap.collect().unreachable == 0)
        }
    }

    @Test func aCycleReachableFromALiveObjectIsKept() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let holder = m.new(node)!
            let (a, b) = makeTwoObjectCycle(m, node)
            m.store(a, into: holder, slot: 0)
            m.release(a)
            m.release(b)
            let result = heap.collect()
            #expect(result.unreachable == 0)
            #expect(result.candidates == 3)
            #expect(heap.verify(roots: [holder]) == [])
            m.store(nil, into: holder, slot: 0)          // now the cycle is garbage
            #expect(heap.collect().unreachable == 2)
            m.release(holder)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func aCycleHangingOffGarbageIsCollectedWithIt() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref", "other"])
        withMutator(heap) { m in
            let a = m.new(node)!, b = m.new(node)!        // outer cycle
            let c = m.new(node)!, d = m.new(node)!        // inner cycle, reachable only from a
            m.store(b, into: a, slot: 0); m.store(a, into: b, slot: 0)
            m.store(d, into: c, slot: 0); m.store(c, into: d, slot: 0)
            m.store(c, into: a, slot: 1)
            for object in [a, b, c, d] { m.release(object) }
            #expect(heap.collect().unreachable == 4)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func cyclesThroughArraysAreCollected() {
        let heap = Heap(collector: .manual)
        let list = heap.types.register(name: "list", isArray: true)
        withMutator(heap) { m in
            let l = m.newArray(list, count: 10)!
            for index in 0..<10 { m.store(l, into: l, slot: index) }   // l.append(l) × 10
            let inner = m.newArray(list, count: 1)!
            m.store(l, into: inner, slot: 0)
            m.store(inner, into: l, slot: 3)
            m.release(inner)
            m.release(l)
            #expect(heap.collect().unreachable == 2)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func referencesFromOutsideTheHeapAreRoots() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(b)                                 // the program still holds `a`
            #expect(heap.collect().unreachable == 0)
            #expect(heap.verify(roots: [a]) == [])
            m.release(a)
            #expect(heap.collect().unreachable == 2)
        }
    }

    @Test func aFinalizerRunsExactlyOnceEvenWhenItResurrects() {
        let saved = Locked<ObjectRef?>(nil)
        let runs = Locked<[Int]>([])
        let heap = Heap(finalizer: { m, object in
            let tag = object.payload.load(as: Int.self)
            runs.withLock { $0.append(tag) }
            // Object 1's finalizer resurrects it: the program keeps a new reference.
            if tag == 1 {
                m.retain(object)
                saved.withLock { $0 = object }
            }
        }, collector: .manual)
        let node = heap.types.register(name: "Finalized", slots: ["ref"], payloadBytes: 8, hasFinalizer: true)
        withMutator(heap) { m in
            let a = m.new(node)!, b = m.new(node)!
            a.payload.storeBytes(of: 1, as: Int.self)
            b.payload.storeBytes(of: 2, as: Int.self)
            m.store(b, into: a, slot: 0)
            m.store(a, into: b, slot: 0)
            m.release(a)
            m.release(b)
            let first = heap.collect()
            #expect(first.unreachable == 2)
            #expect(first.finalized == 2)
            #expect(first.resurrected == 2)              // object 1 was saved, and it reaches object 2
            // The resurrected cycle is intact.
            let survivor = saved.withLock { $0! }
            let other = m.load(survivor, slot: 0)!
            #expect(m.peek(other, slot: 0) == survivor)
            #expect(heap.verify(roots: [survivor, other]) == [])
            m.release(other)
            // Unreachable again: collected now, and no finalizer runs a second time.
            m.release(survivor)
            saved.withLock { $0 = nil }
            let second = heap.collect()
            #expect(second.unreachable == 2)
            #expect(second.finalized == 0)
            #expect(runs.withLock { $0.sorted() } == [1, 2])
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func weakReferencesToGarbageAreClearedAndOnlyLiveOnesCallBack() {
        let calls = Locked<[Int]>([])
        let heap = Heap(weakCallback: { m, weak, callback in
            #expect(m.deref(weak) == nil)               // cleared before the callback runs
            calls.withLock { $0.append(callback.payload.load(as: Int.self)) }
        }, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref", "weak"])
        let tag = heap.types.register(name: "Tag", payloadBytes: 8)
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            let one = m.new(tag)!, two = m.new(tag)!
            one.payload.storeBytes(of: 1, as: Int.self)
            two.payload.storeBytes(of: 2, as: Int.self)
            let outside = m.newWeakReference(to: a, callback: one)!     // alive: its callback runs
            let inside = m.newWeakReference(to: b, callback: two)!      // part of the garbage
            m.store(inside, into: a, slot: 1)
            for object in [one, two, inside, a, b] { m.release(object) }
            #expect(heap.collect().unreachable == 3)                    // a, b and `inside`
            #expect(calls.withLock { $0 } == [1])
            #expect(m.deref(outside) == nil)
            m.release(outside)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func cyclesMadeByAnotherMutatorAreCollectedWhileItIsParked() {
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let made = DispatchSemaphore(value: 0)
        let collected = DispatchSemaphore(value: 0)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                for _ in 0..<100 {
                    let (a, b) = makeTwoObjectCycle(m, node)
                    m.release(a)
                    m.release(b)
                }
                m.enterBlockingRegion()
                made.signal()
                collected.wait()
                m.leaveBlockingRegion()
                m.safepoint()
            } else {
                made.wait()
                #expect(heap.collect().unreachable == 200)
                #expect(heap.verify(roots: []) == [])
                collected.signal()
            }
            heap.detachCurrentThread()
        }
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }
}

@Suite struct GCSurfaceTests {
    @Test func objectsWithSlotsAreTrackedAndAtomsAreNot() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let atom = heap.types.register(name: "Int", payloadBytes: 8)
        let list = heap.types.register(name: "list", isArray: true)
        withMutator(heap) { m in
            let n = m.new(node)!, a = m.new(atom)!, empty = m.newArray(list, count: 0)!, full = m.newArray(list, count: 2)!
            #expect(heap.isTracked(n))
            #expect(!heap.isTracked(a))
            #expect(!heap.isTracked(empty))
            #expect(heap.isTracked(full))
            #expect(!heap.isFinalized(n))
            for object in [n, a, empty, full] { m.release(object) }
        }
    }

    @Test func referentsAndReferrersFollowTheSlots() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["left", "right"])
        withMutator(heap) { m in
            let a = m.new(node)!, b = m.new(node)!, c = m.new(node)!
            m.store(c, into: a, slot: 0)
            m.store(c, into: b, slot: 0)
            m.store(c, into: b, slot: 1)                 // b refers to c twice: listed once
            let referents = heap.referents(of: b, mutator: m)
            #expect(referents == [c, c])
            for object in referents { m.release(object) }
            let referrers = heap.referrers(of: c)
            #expect(Set(referrers) == [a, b])
            #expect(referrers.count == 2)
            for object in referrers { m.release(object) }
            #expect(heap.referrers(of: a).isEmpty)
            for object in [a, b, c] { m.release(object) }
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func freezeHidesObjectsFromCollectionUntilUnfrozen() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            #expect(heap.freeze() == 2)
            #expect(heap.freezeCount == 2)
            m.release(a)
            m.release(b)
            #expect(heap.collect().unreachable == 0)     // frozen: not even examined
            let young = m.new(node)!
            m.store(young, into: young, slot: 0)
            m.release(young)
            #expect(heap.collect().unreachable == 1)     // unfrozen objects are still collected
            #expect(heap.unfreeze() == 2)
            #expect(heap.freezeCount == 0)
            #expect(heap.collect().unreachable == 2)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }
}
