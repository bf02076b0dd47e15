// Striping (Objects/Striping.swift, Heap+Striping.swift): hot objects get per-thread counts; the
// true count stays exact, pauses merge the tables, free dead stripes and unstripe cool ones.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

/// Enough non-owner retain/release pairs to make an object hot in one window.
private let hotPairs = Striping.hotOperations

/// Makes `object` hot on `m`'s non-owner path (retain + release pairs), then passes a safepoint,
/// where the request is striped in a pause of its own.
private func makeHot(_ object: ObjectRef, on m: Mutator) {
    for _ in 0..<hotPairs {
        m.retain(object)
        m.release(object)
    }
    m.safepoint()
}

/// A heap with one type, a mutator on the calling thread, and an object it made and merged (so
/// that the same thread's operations on it are non-owner ones, as another thread's would be).
private func withMergedObject(policy: RefCountPolicyKind = .biased, striping: StripingMode = .adaptive,
                              finalizer: (@Sendable (Mutator, ObjectRef) -> Void)? = nil,
                              _ body: (Heap, Mutator, ObjectType, ObjectRef) -> Void) {
    let heap = Heap(policy: policy, finalizer: finalizer, collector: .manual, striping: striping)
    let node = heap.types.register(name: "Node", slots: ["a", "b"])
    let m = heap.attachCurrentThread()
    let object = m.new(node)!
    m.handOff(object)
    body(heap, m, node, object)
    heap.detachCurrentThread()
}

@Suite struct StripingTests {
    @Test func aHotObjectIsStripedAtTheNextSafepointAndKeepsItsCount() {
        withMergedObject { heap, m, _, object in
            #expect(!Striping.isStriped(object))
            makeHot(object, on: m)
            #expect(Striping.isStriped(object))
            #expect(heap.stripingStatistics.current == 1 && heap.stripingStatistics.striped == 1)
            #expect(m.refcount(object) == 1)
            for _ in 0..<5 { m.retain(object) }
            #expect(m.refcount(object) == 6)
            #expect(heap.stopTheWorld { heap.verify(roots: Array(repeating: object, count: 6)) } == [])
            for _ in 0..<5 { m.release(object) }
            #expect(m.refcount(object) == 1)
            m.release(object)
        }
    }

    /// Only biased counting with striping on stripes: the other policies, and `off`, count as
    /// before, however hot the object.
    @Test(arguments: [(RefCountPolicyKind.biased, StripingMode.off), (.atomic, .adaptive), (.globalLock, .adaptive)])
    func otherPoliciesAndOffNeverStripe(_ policy: RefCountPolicyKind, _ striping: StripingMode) {
        withMergedObject(policy: policy, striping: striping) { heap, m, _, object in
            makeHot(object, on: m)
            makeHot(object, on: m)
            #expect(!Striping.isStriped(object))
            #expect(heap.stripingStatistics.striped == 0)
            m.retain(object)
            #expect(m.refcount(object) == 2)
            m.release(object)
            m.release(object)
            #expect(heap.liveObjectsByType().isEmpty, "freed by its last release")
        }
    }

    @Test func aStripedObjectDroppedEverywhereIsFreedByTheNextPauseNotBefore() {
        withMergedObject { heap, m, _, object in
            makeHot(object, on: m)
            #expect(Striping.isStriped(object))
            m.release(object)                                 // its last reference: count 0, not freed
            #expect(heap.allocator.statistics().liveBlocks == 1)
            heap.stopTheWorld {}                              // merged, found dead, freed after it
            #expect(heap.liveObjectsByType().isEmpty)
            #expect(heap.stripingStatistics.freed == 1 && heap.stripingStatistics.current == 0)
        }
    }

    @Test func aStripedObjectsFinalizerRunsWhenTheCollectionFreesIt() {
        let finalized = Atomic<Int>(0)
        let heap = Heap(policy: .biased, finalizer: { _, _ in finalized.wrappingAdd(1, ordering: .relaxed) }, collector: .manual, striping: .adaptive)
        let node = heap.types.register(name: "Node", slots: ["a"], hasFinalizer: true)
        let m = heap.attachCurrentThread()
        let object = m.new(node)!
        m.handOff(object)
        makeHot(object, on: m)
        #expect(Striping.isStriped(object))
        m.release(object)
        #expect(finalized.load(ordering: .relaxed) == 0)
        _ = heap.collect()
        #expect(finalized.load(ordering: .relaxed) == 1)
        #expect(heap.liveObjectsByType().isEmpty)
        heap.detachCurrentThread()
    }

    @Test func aStripeWithNoOperationsForSomePausesIsUnstripedWithItsCount() {
        withMergedObject { heap, m, _, object in
            makeHot(object, on: m)
            m.retain(object)
            #expect(Striping.isStriped(object))
            // The first pause sees the operations above; the next ones none.
            for _ in 0...Striping.idlePauses { heap.stopTheWorld {} }
            #expect(!Striping.isStriped(object))
            #expect(heap.stripingStatistics.cooled == 1 && heap.stripingStatistics.current == 0)
            #expect(m.refcount(object) == 2)
            m.release(object)
            m.release(object)                                 // an ordinary merged object again: freed at once
            #expect(heap.liveObjectsByType().isEmpty)
        }
    }

    @Test func aStripeInUseBetweenPausesStaysStriped() {
        withMergedObject { heap, m, _, object in
            makeHot(object, on: m)
            for _ in 0..<(Striping.idlePauses * 2) {
                m.retain(object)
                m.release(object)
                heap.stopTheWorld {}
            }
            #expect(Striping.isStriped(object))
            m.release(object)
        }
    }

    @Test func cyclicGarbageWithAStripedMemberIsCollected() {
        withMergedObject { heap, m, node, object in
            let other = m.new(node)!
            m.store(object, into: other, slot: 0)
            m.store(other, into: object, slot: 0)
            makeHot(object, on: m)
            #expect(Striping.isStriped(object))
            m.release(other)
            m.release(object)
            let result = heap.collect()
            #expect(result.collected == 2)
            #expect(heap.liveObjectsByType().isEmpty)
            #expect(heap.stripingStatistics.current == 0)
        }
    }

    @Test func weakReferencesToAStripedObjectFollowItUntilItIsFreed() {
        withMergedObject { heap, m, _, object in
            makeHot(object, on: m)
            #expect(Striping.isStriped(object))
            let weak = m.newWeakReference(to: object)!
            let strong = m.deref(weak)
            #expect(strong == object)
            #expect(m.refcount(object) == 2)
            m.release(object)
            m.release(strong!)
            // Dropped everywhere: the next pause frees it and clears the weak reference.
            _ = heap.collect()
            #expect(m.deref(weak) == nil)
            m.release(weak)
            #expect(heap.liveObjectsByType().isEmpty)
        }
    }

    /// Other threads hold striped references (thread 0 drops thread 1's too, so that one
    /// thread's entry is negative and another's positive) while a fourth asks for the count;
    /// then they exit, threads 1 and 2 holding references, which their detach merges.
    @Test func refcountIsExactWhileOtherThreadsHoldStripedReferencesAndAfterTheyExit() {
        let heap = Heap(policy: .biased, collector: .manual, striping: .adaptive)
        let node = heap.types.register(name: "Node", slots: ["a"])
        let m = heap.attachCurrentThread()
        let object = m.new(node)!
        m.handOff(object)
        makeHot(object, on: m)
        #expect(Striping.isStriped(object))
        let holders = 3
        let held = Barrier(parties: holders + 1)
        let counted = Barrier(parties: holders + 1)
        let seen = Locked<[Int]>([])
        m.enterBlockingRegion()
        runOnThreads(holders + 1) { i in
            let w = heap.attachCurrentThread()
            if i == holders {
                held.wait(as: w)
                let count = w.refcount(object)
                let problems = heap.stopTheWorld { heap.verify(roots: Array(repeating: object, count: 61)) }
                seen.withLock { $0 = [count, problems.count] }
                counted.wait(as: w)
            } else {
                for _ in 0..<(i + 1) * 10 { w.retain(object) }          // thread i holds 10(i+1)
                held.wait(as: w)
                counted.wait(as: w)
                if i == 0 { for _ in 0..<30 { w.release(object) } }   // its 10 and thread 1's 20
            }
            heap.detachCurrentThread()
        }
        m.leaveBlockingRegion()
        let whileHeld: [Int] = seen.withLock { $0 }
        let expected: [Int] = [61, 0]                                 // 1 + 10 + 20 + 30, no problem
        #expect(whileHeld == expected)
        #expect(m.refcount(object) == 1 + 30)
        #expect(heap.stopTheWorld { heap.verify(roots: Array(repeating: object, count: 31)) } == [])
        for _ in 0..<31 { m.release(object) }
        #expect(heap.allocator.statistics().liveBlocks == 1, "not freed before a pause")
        heap.stopTheWorld {}
        #expect(heap.liveObjectsByType().isEmpty)
        heap.detachCurrentThread()
    }

    /// A thread's detach merges objects queued to it, which can free them and release striped
    /// referents: those releases come after its table is merged for good, and must still count.
    @Test func releasesOfStripedObjectsDuringADetachAreCounted() {
        let heap = Heap(policy: .biased, collector: .manual, striping: .adaptive)
        let node = heap.types.register(name: "Node", slots: ["a"])
        let m = heap.attachCurrentThread()
        let striped = m.new(node)!
        m.handOff(striped)
        makeHot(striped, on: m)
        #expect(Striping.isStriped(striped))
        let handed = Locked<ObjectRef?>(nil)
        let made = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        m.enterBlockingRegion()
        runOnThreads(2) { i in
            let w = heap.attachCurrentThread()
            if i == 0 {
                let holder = w.new(node)!                       // owned by this thread
                w.store(striped, into: holder, slot: 0)         // this thread's entry: +1
                handed.withLock { $0 = holder }                 // its reference, to thread 1
                made.signal()
                released.wait()
                heap.detachCurrentThread()                      // merges the queue: frees holder
            } else {
                made.wait()
                w.release(handed.withLock { $0! })              // a non-owner's last: queued to 0
                released.signal()
                heap.detachCurrentThread()
            }
        }
        m.leaveBlockingRegion()
        #expect(m.refcount(striped) == 1)
        #expect(heap.stopTheWorld { heap.verify(roots: [striped]) } == [])
        m.release(striped)
        heap.stopTheWorld {}
        #expect(heap.liveObjectsByType().isEmpty)
        heap.detachCurrentThread()
    }

    @Test func aStripedObjectMadeImmortalIsGivenUpByTheNextPause() {
        withMergedObject { heap, m, _, object in
            makeHot(object, on: m)
            #expect(Striping.isStriped(object))
            m.makeImmortal(object)
            m.release(object)                                 // not counted any more
            heap.stopTheWorld {}
            #expect(heap.stripingStatistics.current == 0)
            #expect(heap.allocator.statistics().liveBlocks == 1, "immortal: never freed")
            #expect(heap.stopTheWorld { heap.verify(roots: []) } == [])
        }
    }
}
