// Finalizers, weak-reference callbacks and collections that run in the middle of a teardown
// (issue 12): each test forces the interleaving that freed a live object, or freed one twice,
// and the answers where heapd's finalization now follows CPython 3.13.

@testable import HeapCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing

/// Test-set behaviour for a heap's finalizer and weak-callback hooks (a heap takes its hooks at
/// creation, so each test installs its own body here).
final class Hooks: Sendable {
    let finalizer = Locked<(@Sendable (Mutator, ObjectRef) -> Void)?>(nil)
    let callback = Locked<(@Sendable (Mutator, ObjectRef, ObjectRef) -> Void)?>(nil)

    func heap(policy: RefCountPolicyKind = .biased) -> Heap {
        Heap(policy: policy,
             weakCallback: { m, weak, callback in self.callback.withLock { $0 }?(m, weak, callback) },
             finalizer: { m, object in self.finalizer.withLock { $0 }?(m, object) },
             collector: .manual)
    }
}

/// The heap holds no object and no block, and its verifier is clean.
func expectEmpty(_ heap: Heap, _ m: Mutator, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(heap.liveObjectsByType().isEmpty, sourceLocation: sourceLocation)
    #expect(heap.stopTheWorld { heap.verify(roots: []) } == [], sourceLocation: sourceLocation)
}

@Suite struct FinalizationSafetyTests {
    // MARK: the deallocation worklist and safepoints

    /// P holds X (no finalizer) and F (a finalizer that collects). Releasing P frees X and F by
    /// counting: F's finalizer runs while X waits on the worklist with a count of 0. The
    /// collection must not take X for garbage (before: it freed X, and the cascade freed it again).
    @Test(arguments: RefCountPolicyKind.allCases)
    func aCollectionInsideAFinalizerLeavesObjectsWaitingOnTheWorklistAlone(_ policy: RefCountPolicyKind) {
        let hooks = Hooks()
        let heap = hooks.heap(policy: policy)
        let plain = heap.types.register(name: "Plain", slots: ["a", "b"])
        let finalized = heap.types.register(name: "Finalized", slots: ["a"], hasFinalizer: true)
        let found = Locked<[Int]>([])
        hooks.finalizer.withLock { $0 = { _, _ in found.withLock { $0.append(heap.collect().unreachable) } } }
        withMutator(heap) { m in
            let p = m.new(plain)!, x = m.new(plain)!, f = m.new(finalized)!
            let y = m.new(plain)!
            m.store(consuming: y, into: x, slot: 0)       // X holds Y, which the collection must keep too
            m.store(consuming: x, into: p, slot: 0)
            m.store(consuming: f, into: p, slot: 1)
            m.release(p)
            expectEmpty(heap, m)
        }
        #expect(found.withLock { $0 } == [0])
    }

    /// The same with a weak-reference callback: callbacks of a dying object now run as it dies,
    /// while objects released before it wait on the worklist.
    @Test(arguments: RefCountPolicyKind.allCases)
    func aCollectionInsideACallbackLeavesObjectsWaitingOnTheWorklistAlone(_ policy: RefCountPolicyKind) {
        let hooks = Hooks()
        let heap = hooks.heap(policy: policy)
        let plain = heap.types.register(name: "Plain", slots: ["a", "b"])
        let found = Locked<[Int]>([])
        hooks.callback.withLock { $0 = { _, _, _ in found.withLock { $0.append(heap.collect().unreachable) } } }
        withMutator(heap) { m in
            let p = m.new(plain)!, x = m.new(plain)!, target = m.new(plain)!
            let callback = m.new(plain)!
            let weak = m.newWeakReference(to: target, callback: callback)!
            m.release(callback)
            m.store(consuming: x, into: p, slot: 0)       // X is pushed first, then the target
            m.store(consuming: target, into: p, slot: 1)
            m.release(p)
            #expect(m.deref(weak) == nil)
            m.release(weak)
            expectEmpty(heap, m)
        }
        #expect(found.withLock { $0 } == [0])
    }

    /// In a cascade, each object's callbacks run when it dies — before its own slots are released,
    /// and before the objects it kept alive die (CPython's subtype_dealloc order).
    @Test(arguments: RefCountPolicyKind.allCases)
    func inACascadeEachObjectsCallbacksRunWhenItDies(_ policy: RefCountPolicyKind) {
        let hooks = Hooks()
        let heap = hooks.heap(policy: policy)
        let plain = heap.types.register(name: "Plain", slots: ["next"])
        let seen = Locked<[String]>([])
        withMutator(heap) { m in
            let p = m.new(plain)!, q = m.new(plain)!
            m.store(q, into: p, slot: 0)
            let callback = m.new(plain)!
            let toP = m.newWeakReference(to: p, callback: callback)!
            let toQ = m.newWeakReference(to: q, callback: callback)!
            m.release(callback)
            m.release(q)
            hooks.callback.withLock {
                $0 = { m, weak, _ in
                    if weak == toP {
                        // Q is still alive: P's slots are released after P's callbacks.
                        let stillThere = m.deref(toQ)
                        seen.withLock { $0.append(stillThere == nil ? "P: Q gone" : "P: Q alive") }
                        if let stillThere { m.release(stillThere) }
                    } else {
                        seen.withLock { $0.append("Q") }
                    }
                }
            }
            m.release(p)
            #expect(seen.withLock { $0 } == ["P: Q alive", "Q"])
            hooks.callback.withLock { $0 = nil }
            // The callback objects: each weak reference holds its own.
            m.release(toP); m.release(toQ)
            expectEmpty(heap, m)
        }
    }

    /// A finalizer that resurrects an object popped from the worklist leaves its scratch word
    /// clean (it held the next entry's address, which an epoch could later be mistaken for).
    @Test func anObjectResurrectedFromTheWorklistKeepsNoLinkInItsScratchWord() {
        let hooks = Hooks()
        let heap = hooks.heap()
        let plain = heap.types.register(name: "Plain", slots: ["a", "b"])
        let finalized = heap.types.register(name: "Finalized", slots: ["a"], hasFinalizer: true)
        let saved = Locked<ObjectRef?>(nil)
        hooks.finalizer.withLock { $0 = { m, object in m.retain(object); saved.withLock { $0 = object } } }
        withMutator(heap) { m in
            let p = m.new(plain)!
            m.store(consuming: m.new(plain)!, into: p, slot: 0)
            m.store(consuming: m.new(finalized)!, into: p, slot: 1)   // popped first, X still listed
            m.release(p)
            let resurrected = saved.withLock { $0 }!
            #expect(resurrected.header.pointee.scratch == 0)
            #expect(heap.liveObjectsByType() == ["Finalized": 1])
            m.release(resurrected)
            expectEmpty(heap, m)
        }
    }

    /// A pause drains every merge queue; an object whose merge there finds its count at zero
    /// used to be freed inside the pause, its finalizer running with the world stopped — where a
    /// finalizer that collects trapped ("the world is already stopped by this thread"). Now the
    /// pause keeps the queue's reference (and a collection takes such an object as garbage).
    @Test func anObjectFreedByThePausesMergeRunsItsFinalizerAfterTheWorldResumes() {
        let hooks = Hooks()
        let heap = hooks.heap()
        let node = heap.types.register(name: "N", slots: ["r"], hasFinalizer: true)
        let inside = Locked<[Bool]>([])
        hooks.finalizer.withLock {
            $0 = { _, _ in
                inside.withLock { $0.append(heap.isInsidePause) }
                _ = heap.collect()
            }
        }
        let shared = Locked<ObjectRef?>(nil)
        withMutator(heap) { m in
            let object = m.new(node)!
            m.retain(object)                      // the other thread's reference, counted by the owner
            shared.withLock { $0 = object }
            runOnThreads(1) { _ in
                let other = heap.attachCurrentThread()
                // Not the owner, and the shared word is 0: queued to the owner.
                other.release(shared.withLock { $0! })
                heap.detachCurrentThread()
            }
            m.release(object)                     // the owner's: the queue's reference is the last
            // The collection's pause drains the owner's queue; the merge finds the queue's
            // reference the last, so the collection takes the object as garbage and runs its
            // finalizer with the world running.
            #expect(heap.collect().collected == 1)
            #expect(inside.withLock { $0 } == [false])
            expectEmpty(heap, m)
        }
    }

    /// An object whose last reference waits in a merge queue when a collection starts is garbage
    /// for that collection, with what only it reaches (a cycle here): the pause's hold on the
    /// queue's reference is not a reference from outside. Before, gc.collect() kept them both
    /// alive (heapfuzz: `expect deref(w) == none` after gc.collect(), biased, gc on).
    @Test func anObjectWhoseLastReferenceIsQueuedIsCollectedWithWhatItHolds() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "N", slots: ["r"])
        let shared = Locked<ObjectRef?>(nil)
        withMutator(heap) { m in
            let holder = m.new(node)!
            let (a, b) = makeTwoObjectCycle(m, node)
            m.store(consuming: a, into: holder, slot: 0)
            m.release(b)
            let weak = m.newWeakReference(to: b)!
            m.retain(holder)                      // the other thread's reference, counted by the owner
            shared.withLock { $0 = holder }
            runOnThreads(1) { _ in
                let other = heap.attachCurrentThread()
                other.release(shared.withLock { $0! })   // queued to the owner
                heap.detachCurrentThread()
            }
            m.release(holder)                     // the queue's reference is the last
            #expect(heap.collect().collected == 3)
            #expect(m.deref(weak) == nil)
            m.release(weak)
            expectEmpty(heap, m)
        }
    }

    // MARK: finalizers run by the collector

    /// A finalizer that breaks its own cycle used to free the object by counting in the middle of
    /// the collection, which then walked and freed it again. Now the collector holds a reference
    /// to its garbage while finalizers run.
    @Test(arguments: RefCountPolicyKind.allCases)
    func aFinalizerThatBreaksItsOwnCycleDoesNotFreeItUnderTheCollector(_ policy: RefCountPolicyKind) {
        let hooks = Hooks()
        let heap = hooks.heap(policy: policy)
        let node = heap.types.register(name: "N", slots: ["r"], hasFinalizer: true)
        hooks.finalizer.withLock { $0 = { m, object in m.store(nil, into: object, slot: 0) } }
        withMutator(heap) { m in
            let alone = m.new(node)!
            m.store(alone, into: alone, slot: 0)
            m.release(alone)
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a); m.release(b)
            let result = heap.collect()
            #expect(result.unreachable == 3)
            #expect(result.finalized == 3)
            #expect(result.resurrected == 0)
            #expect(result.collected == 3)
            expectEmpty(heap, m)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    /// Finalizers the collector runs, run with the world running: they may collect (before: a
    /// trap, "the world is already stopped by this thread"), and other threads may run meanwhile.
    @Test func aFinalizerRunByTheCollectorMayCollect() {
        let hooks = Hooks()
        let heap = hooks.heap()
        let node = heap.types.register(name: "N", slots: ["r"], hasFinalizer: true)
        let leaf = heap.types.register(name: "Leaf", slots: ["r"])
        let inner = Locked<[Int]>([])
        hooks.finalizer.withLock {
            $0 = { m, _ in
                #expect(!heap.isInsidePause)
                // Cyclic garbage of its own, which the nested collection frees.
                let (a, b) = makeTwoObjectCycle(m, leaf)
                m.release(a); m.release(b)
                inner.withLock { $0.append(heap.collect().collected) }
            }
        }
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a); m.release(b)
            let result = heap.collect()
            #expect(result.collected == 2)
            #expect(inner.withLock { $0 } == [2, 2])
            expectEmpty(heap, m)
        }
    }

    /// bpo-38379: a two-object cycle whose finalizers resurrect it is not counted as collected;
    /// once dropped again it is (2), and its finalizers do not run a second time.
    @Test(arguments: RefCountPolicyKind.allCases)
    func resurrectedObjectsAreNotCountedAsCollected(_ policy: RefCountPolicyKind) {
        let hooks = Hooks()
        let heap = hooks.heap(policy: policy)
        let node = heap.types.register(name: "N", slots: ["r"], hasFinalizer: true)
        let holder = heap.types.register(name: "Holder", slots: ["a", "b"])
        let runs = Atomic<Int>(0)
        withMutator(heap) { m in
            let keep = m.new(holder)!
            hooks.finalizer.withLock {
                $0 = { m, object in
                    let slot = runs.wrappingAdd(1, ordering: .relaxed).oldValue
                    m.store(object, into: keep, slot: slot % 2)
                }
            }
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a); m.release(b)
            let first = heap.collect()
            #expect(first.unreachable == 2 && first.resurrected == 2 && first.collected == 0)
            m.store(nil, into: keep, slot: 0)
            m.store(nil, into: keep, slot: 1)
            let second = heap.collect()
            #expect(second.collected == 2 && second.finalized == 0)
            #expect(runs.load(ordering: .relaxed) == 2)
            #expect(heap.generationStats.map(\.collected).reduce(0, +) == 2)
            m.release(keep)
            expectEmpty(heap, m)
        }
    }

    /// CPython's handle_weakrefs precedes finalize_garbage: the callback of a live weak reference
    /// to garbage runs before the garbage's finalizer.
    @Test func callbacksOfLiveWeakReferencesToGarbageRunBeforeItsFinalizers() {
        let hooks = Hooks()
        let heap = hooks.heap()
        let node = heap.types.register(name: "N", slots: ["r"], hasFinalizer: true)
        let plain = heap.types.register(name: "Plain", slots: ["r"])
        let order = Locked<[String]>([])
        hooks.finalizer.withLock { $0 = { _, _ in order.withLock { $0.append("finalizer") } } }
        hooks.callback.withLock { $0 = { _, _, _ in order.withLock { $0.append("callback") } } }
        withMutator(heap) { m in
            let a = m.new(node)!
            m.store(a, into: a, slot: 0)
            let callback = m.new(plain)!
            let weak = m.newWeakReference(to: a, callback: callback)!
            m.release(callback)
            m.release(a)
            #expect(heap.collect().collected == 1)
            #expect(order.withLock { $0 } == ["callback", "finalizer"])
            #expect(m.deref(weak) == nil)
            m.release(weak)
            expectEmpty(heap, m)
        }
    }

    /// A weak reference that a finalizer makes to garbage that is then freed is cleared with it
    /// (the collector frees garbage without a deallocation of its own, so it must look again).
    @Test func aWeakReferenceMadeByAFinalizerToGarbageIsClearedWhenTheGarbageIsFreed() {
        let hooks = Hooks()
        let heap = hooks.heap()
        let node = heap.types.register(name: "N", slots: ["r"], hasFinalizer: true)
        let holder = heap.types.register(name: "Holder", slots: ["w"])
        withMutator(heap) { m in
            let keep = m.new(holder)!
            hooks.finalizer.withLock {
                $0 = { m, object in m.store(consuming: m.newWeakReference(to: object)!, into: keep, slot: 0) }
            }
            let a = m.new(node)!
            m.store(a, into: a, slot: 0)
            m.release(a)
            #expect(heap.collect().collected == 1)
            let weak = m.load(keep, slot: 0)!
            #expect(m.deref(weak) == nil)
            m.release(weak)
            m.release(keep)
            expectEmpty(heap, m)
        }
    }

    // MARK: counts and freezing

    /// Free-threaded CPython's record_deallocation: the young count goes down when any tracked
    /// object is freed, not only one of generation 0.
    @Test func theYoungCountGoesDownWhenAnOldObjectIsFreed() {
        let heap = Heap(collector: .manual)
        let plain = heap.types.register(name: "Plain", slots: ["r"])
        withMutator(heap) { m in
            let old = (0..<5).map { _ in m.new(plain)! }
            heap.collect()                               // now generation 2
            #expect(old.allSatisfy { heap.generation(of: $0) == 2 })
            let young = (0..<10).map { _ in m.new(plain)! }
            #expect(heap.count.0 == 10)
            for object in old { m.release(object) }
            #expect(heap.count.0 == 5)
            for object in young { m.release(object) }
        }
    }

    /// After unfreeze, formerly frozen young objects are seen by young collections again (their
    /// pages' young marks were cleared by a collection while they were frozen).
    @Test func unfrozenYoungObjectsAreSeenByYoungCollections() {
        let heap = Heap(collector: .manual)
        let plain = heap.types.register(name: "Plain", slots: ["r"])
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, plain)
            m.release(a); m.release(b)
            #expect(heap.freeze() == 2)
            #expect(heap.collect(generation: 0).unreachable == 0)
            #expect(heap.unfreeze() == 2)
            #expect(heap.collect(generation: 0).collected == 2)
            expectEmpty(heap, m)
        }
    }

    // MARK: the collector's own bookkeeping

    /// Epochs across the counter's wrap: every scratch word is reset, the next epoch is the first
    /// again, and collections keep finding exactly their garbage.
    @Test func collectionsAcrossTheEpochCountersWrapStayExact() {
        let heap = Heap(collector: .manual)
        let plain = heap.types.register(name: "Plain", slots: ["r"])
        withMutator(heap) { m in
            let keep = (0..<50).map { _ in m.new(plain)! }
            for (index, object) in keep.enumerated() { m.store(keep[(index + 1) % keep.count], into: object, slot: 0) }
            heap.stopTheWorld { heap.collectorEpoch = UInt32.max - 2 }
            for round in 0..<6 {
                let (a, b) = makeTwoObjectCycle(m, plain)
                m.release(a); m.release(b)
                #expect(heap.collect(generation: round % 3).collected == 2, "round \(round)")
                #expect(heap.collectorEpoch >= Scratch.firstEpoch)
            }
            #expect(heap.stopTheWorld { heap.verify(roots: keep) } == [])
            for object in keep { m.store(nil, into: object, slot: 0); m.release(object) }
            expectEmpty(heap, m)
        }
    }

    /// An epoch never equals the high half of an address, whatever the counter says.
    @Test func noEpochLooksLikeTheHighHalfOfAnAddress() {
        let heap = Heap(collector: .manual)
        withMutator(heap) { _ in
            let epochs = heap.stopTheWorld { (0..<3).map { _ in heap.nextEpoch() } }
            #expect(epochs.allSatisfy { $0 >= UInt(Scratch.firstEpoch) && $0 > UInt(1 << 15) })
        }
    }

    /// A collector list that is asked for more than its capacity stops the process in release
    /// builds too (it was an assert: a write past the end of the buffer).
    @Test func aCollectorListOverflowStopsTheProcess() async {
        await #expect(processExitsWith: .failure) {
            var list = ObjectList(capacity: 1)
            let object = ObjectRef(bits: 0x1000)!
            list.append(object)
            list.append(object)
        }
    }
    /// A pause does not wait for a deallocation cascade to end: the thread freeing a long list
    /// polls for a stop request every `Mutator.pollInterval` objects, and parks there with the
    /// rest of the list still to free. Here a finalizer at the head of the list waits until
    /// another thread has asked for a pause; the pause then finds most of the list alive, and
    /// everything is freed once it ends.
    @Test func aPauseDoesNotWaitForAFreeingCascade() {
        let hooks = Hooks()
        let heap = hooks.heap()
        let node = heap.types.register(name: "N", slots: ["next"])
        let marker = heap.types.register(name: "Marker", slots: ["next"], hasFinalizer: true)
        let length = 16 * Mutator.pollInterval
        let asked = DispatchSemaphore(value: 0)
        hooks.finalizer.withLock { $0 = { _, _ in
            asked.signal()
            while !heap.counters.pointee.stopRequested.load(ordering: .relaxed) { sched_yield() }
        } }
        let waiting = Locked<Int>(-1)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            if i == 0 {
                let head = m.new(marker)!
                var last = head
                for _ in 0..<length {
                    let next = m.new(node)!
                    m.store(next, into: last, slot: 0)
                    if last != head { m.release(last) }
                    last = next
                }
                m.release(last)
                m.release(head)                   // the cascade: the marker's finalizer first
            } else {
                m.enterBlockingRegion()
                asked.wait()
                m.leaveBlockingRegion()
                heap.stopTheWorld {
                    var alive = 0
                    heap.allocator.forEachAllocatedBlock { block, _ in
                        let object = ObjectRef(block)
                        if object.typeID == node.id, object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0 { alive += 1 }
                    }
                    waiting.withLock { $0 = alive }
                }
            }
        }
        #expect(waiting.withLock { $0 } > length - 2 * Mutator.pollInterval)
        withMutator(heap) { m in expectEmpty(heap, m) }
    }
}
