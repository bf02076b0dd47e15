// Concurrent collection (issue 13): the walk runs with the world running, so what it finds is
// only tentative; validation, with the world stopped, must keep everything a mutator can still
// reach. Each test parks the collection at a test hook (TestHooks.swift) while another mutator
// makes tentative garbage reachable again.

@testable import HeapCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing

/// How a test's second mutator makes tentative garbage reachable again.
enum Rescue: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// Stored into a slot of a live object (a global).
    case global
    /// Held in the mutator's own variable (a register) across the validation.
    case register
    /// Handed to another thread, as a channel hands a reference over.
    case handOff

    var testDescription: String { rawValue }
}

/// What the two threads of a test share.
private final class Scene: Sendable {
    let weak = Locked<ObjectRef?>(nil)
    let global = Locked<ObjectRef?>(nil)
    /// A reference in flight between the threads (the channel of `.handOff`).
    let inFlight = Locked<ObjectRef?>(nil)
    let tentative = Locked<[ObjectRef]>([])
    let act = DispatchSemaphore(value: 0), acted = DispatchSemaphore(value: 0)
    let collected = DispatchSemaphore(value: 0), released = DispatchSemaphore(value: 0)
    /// The hooks act in the first collection only.
    let armed = Atomic<Bool>(true)
}

/// Waits for `semaphore` in a blocking region, so that a pause need not wait for this thread.
@Suite struct ConcurrentDetectionTests {
    /// A cycle reachable only through a weak reference is tentative garbage; before validation a
    /// second mutator dereferences it and keeps it (in a global, in its own variable, or handed
    /// to the collecting thread). Validation drops it: nothing is freed.
    @Test(arguments: RefCountPolicyKind.allCases, Rescue.allCases)
    func tentativeGarbageMadeReachableBeforeValidationSurvives(_ policy: RefCountPolicyKind, _ rescue: Rescue) {
        let heap = Heap(policy: policy, collector: .manual)
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        #expect(heap.collectionMode == .concurrent)
        let node = heap.types.register(name: "N", slots: ["r"])
        let scene = Scene()
        let hooks = TestHooks()
        hooks.beforeValidation = { tentative in
            guard scene.armed.exchange(false, ordering: .relaxed) else { return }
            scene.tentative.withLock { $0 = tentative }
            scene.act.signal()
            wait(scene.acted, as: Mutator.current!)      // (global-lock: lets the other thread run)
        }
        heap.testHooks = hooks
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            if i == 0 {
                let global = m.new(node)!
                let (a, b) = makeTwoObjectCycle(m, node)
                let weak = m.newWeakReference(to: a)!
                m.release(a)
                m.release(b)
                scene.weak.withLock { $0 = weak }
                scene.global.withLock { $0 = global }
                let result = heap.collect()
                let tentative = scene.tentative.withLock { $0 }
                #expect(tentative.contains(a) && tentative.contains(b), "the walk saw the cycle as garbage")
                #expect(result.tentative >= 2 && result.dropped >= 2)
                #expect(result.collected == 0)
                let rescued = scene.inFlight.withLock { $0.take() }
                #expect((rescued != nil) == (rescue == .handOff))
                let again = m.deref(weak)
                #expect(again == a)
                #expect(m.load(a, slot: 0).map { r in defer { m.release(r) }; return r } == b)
                scene.collected.signal()
                wait(scene.released, as: m)
                if let again { m.release(again) }
                if let rescued { m.release(rescued) }
                m.release(global)
                m.release(weak)
                #expect(heap.collect().collected == 2)
                expectEmpty(heap, m)
            } else {
                wait(scene.act, as: m)
                let a = m.deref(scene.weak.withLock { $0! })
                var held: ObjectRef?
                switch rescue {
                case .global: m.store(consuming: a, into: scene.global.withLock { $0! }, slot: 0)
                case .register: held = a
                case .handOff: scene.inFlight.withLock { $0 = a }
                }
                scene.acted.signal()
                wait(scene.collected, as: m)
                if let held { m.release(held) }
                if rescue == .global { m.store(nil, into: scene.global.withLock { $0! }, slot: 0) }
                scene.released.signal()
            }
        }
    }

    /// The walk copies pages one at a time, so it can see a slot's old value and a count's new
    /// one: here it copies the page of H (a garbage self-cycle that still holds the cycle A ⇄ B)
    /// and then, before it copies A's page, a mutator takes A out of H into its own variable. The
    /// walk counts H → A against A's count as well as B → A, and takes A and B for garbage;
    /// validation recounts with the world stopped and keeps them. H alone is freed.
    @Test(arguments: RefCountPolicyKind.allCases)
    func aStaleSlotSeenByTheWalkDoesNotFreeWhatItNoLongerHolds(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        // Another size class, so another page.
        let holderType = heap.types.register(name: "H", slots: ["me", "held"], payloadBytes: 256)
        let scene = Scene()
        let cycle = Locked<(a: UInt, b: UInt, holder: UInt)>((0, 0, 0))
        let copied = Locked<[UInt]>([])
        let hooks = TestHooks()
        hooks.beforeConcurrentPageCopy = { start in
            let (a, _, holder) = cycle.withLock { $0 }
            let pageOf = { (address: UInt) in address & ~UInt(Arena.pageSize - 1) }
            let order = copied.withLock { $0.append(start); return $0 }
            if pageOf(a) == pageOf(start) && order.contains(pageOf(holder)) && scene.armed.exchange(false, ordering: .relaxed) {
                scene.act.signal()
                scene.acted.wait()
            }
        }
        hooks.beforeValidation = { tentative in
            scene.tentative.withLock { if $0.isEmpty { $0 = tentative } }
        }
        heap.testHooks = hooks
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            if i == 0 {
                let holder = m.new(holderType)!
                let (a, b) = makeTwoObjectCycle(m, node)
                m.store(holder, into: holder, slot: 0)
                m.store(consuming: a, into: holder, slot: 1)
                m.release(b)
                let weak = m.newWeakReference(to: holder)!
                m.release(holder)
                scene.weak.withLock { $0 = weak }
                cycle.withLock { $0 = (a.bits, b.bits, holder.bits) }
                let result = heap.collect()
                let pageOf = { (address: UInt) in address & ~UInt(Arena.pageSize - 1) }
                let order = copied.withLock { $0 }
                try? #require(order.firstIndex(of: pageOf(holder.bits))! < order.firstIndex(of: pageOf(a.bits))!,
                              "the holder's page must be copied first for this interleaving")
                let tentative = scene.tentative.withLock { $0 }
                #expect(tentative.contains(a) && tentative.contains(b) && tentative.contains(holder))
                #expect(result.collected == 1)
                #expect(result.dropped == 2)
                #expect(m.deref(weak) == nil)
                scene.collected.signal()
                wait(scene.released, as: m)
                m.release(weak)
                #expect(heap.collect().collected == 2)
                expectEmpty(heap, m)
            } else {
                wait(scene.act, as: m)
                let holder = m.deref(scene.weak.withLock { $0! })!
                let a = m.load(holder, slot: 1)!
                m.store(nil, into: holder, slot: 1)
                m.release(holder)
                scene.acted.signal()
                wait(scene.collected, as: m)
                m.release(a)
                scene.released.signal()
            }
        }
    }

    /// Switching modes changes how the next collection runs, and both find the same garbage.
    @Test(arguments: RefCountPolicyKind.allCases)
    func bothModesFindTheSameGarbage(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        withMutator(heap) { m in
            for mode in [CollectionMode.stopTheWorld, .concurrent, .stopTheWorld] {
                heap.collectionMode = mode
                let keeper = m.new(node)!
                for _ in 0..<100 {
                    let (a, b) = makeTwoObjectCycle(m, node)
                    m.release(a)
                    m.release(b)
                }
                let (c, d) = makeTwoObjectCycle(m, node)
                m.store(consuming: c, into: keeper, slot: 0)
                m.release(d)
                let result = heap.collect()
                #expect(result.mode == mode)
                #expect(result.collected == 200)
                #expect(mode == .concurrent ? result.validated == 200 && result.tentative == 200 : result.tentative == 0)
                m.release(keeper)
                #expect(heap.collect().collected == 2)
            }
            expectEmpty(heap, m)
        }
    }
    /// Objects made after the walk began are not candidates: garbage a second mutator makes in a
    /// page of the walk's plan (its current page), before that page is copied, is left for the
    /// next collection. Without the allocation stamp it would be tentative garbage at once.
    @Test func objectsMadeAfterTheWalkBeganAreNotCandidates() {
        let heap = Heap(collector: .manual)
        heap.pauseWalkPages = -1
        let node = heap.types.register(name: "N", slots: ["r"])
        let ready = DispatchSemaphore(value: 0), go = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let armed = Atomic<Bool>(true)
        let hooks = TestHooks()
        hooks.beforeConcurrentPageCopy = { _ in
            guard armed.exchange(false, ordering: .relaxed) else { return }
            go.signal()
            done.wait()
        }
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            if i == 0 {
                let live = m.new(node)!
                wait(ready, as: m)
                heap.testHooks = hooks
                let first = heap.collect()
                heap.testHooks = nil
                #expect(first.mode == .concurrent)
                #expect(first.tentative == 0, "the pairs made during the walk were left out")
                #expect(first.collected == 0)
                #expect(heap.collect().collected == 100, "and found by the next collection")
                m.release(live)
                go.signal()
            } else {
                let kept = m.new(node)!                  // its page is in the plan
                ready.signal()
                wait(go, as: m)
                for _ in 0..<50 {
                    let (a, b) = makeTwoObjectCycle(m, node)
                    m.release(a)
                    m.release(b)
                }
                done.signal()
                wait(go, as: m)
                m.release(kept)
            }
        }
        withMutator(heap) { m in
            heap.collect()
            expectEmpty(heap, m)
        }
    }

    /// Pacing's room grows with the walk: held up before its second page, the walk has examined
    /// the first, so a mutator making garbage nonstop goes past its budget by that page's room
    /// at most (a quarter of its blocks), then waits — not for the walk's end, for its next page.
    @Test func theWalksProgressMakesRoomForAMutator() {
        let heap = Heap(collector: .manual)
        heap.pauseWalkPages = -1
        heap.walkAssistants = 0               // the walk's own progress: no mutator walks a page
        let node = heap.types.register(name: "N", slots: ["r"])
        let made = Atomic<Int>(0), madeWhileHeld = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let start = DispatchSemaphore(value: 0)
        let pagesCopied = Atomic<Int>(0), roomAtHold = Atomic<Int>(0)
        let budget = ConcurrentDetection.budgetThresholds * heap.thresholds.0
        let hooks = TestHooks()
        hooks.beforeConcurrentPageCopy = { _ in
            switch pagesCopied.add(1, ordering: .relaxed).newValue {
            case 1: start.signal()
            case 2:
                roomAtHold.store(heap.counters.pointee.room.load(ordering: .relaxed), ordering: .relaxed)
                var last = -1
                while made.load(ordering: .relaxed) != last && made.load(ordering: .relaxed) < 2 * budget {
                    last = made.load(ordering: .relaxed)
                    usleep(50_000)
                }
                madeWhileHeld.store(last, ordering: .relaxed)
            default: break
            }
        }
        heap.testHooks = hooks
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            if i == 0 {
                // Three pages' worth of live objects, so that the walk has a second page.
                let blocksPerPage = Arena.pageSize / ObjectHeader.size
                var live: [ObjectRef] = []
                for _ in 0..<(3 * blocksPerPage) { live.append(m.new(node)!) }
                heap.collect()
                let held = madeWhileHeld.load(ordering: .relaxed) * 2
                let room = roomAtHold.load(ordering: .relaxed)
                #expect(room >= 4 * Mutator.youngBatch && room <= blocksPerPage / ConcurrentDetection.blocksPerRoom, "the first page's room")
                #expect(held > budget + 2 * Mutator.youngBatch, "went on with the room the first page made")
                #expect(held <= budget + room + 2 * Mutator.youngBatch, "and no further")
                stop.store(true, ordering: .relaxed)
                for object in live { m.release(object) }
            } else {
                wait(start, as: m)
                makeGarbage(m, node, until: stop, counting: made)
            }
        }
        withMutator(heap) { m in
            heap.collect()
            expectEmpty(heap, m)
        }
    }

    /// Pacing: a mutator that makes garbage nonstop while the walk is held up stops once it has
    /// made its budget (16 young thresholds here; the walk, held before its first page, has
    /// made no room), waits, and records that wait as a pause it saw; then it goes on.
    @Test func aMutatorThatOutpacesTheWalkWaitsForIt() {
        let heap = Heap(collector: .manual)
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        let made = Atomic<Int>(0), madeWhileHeld = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let start = DispatchSemaphore(value: 0)
        let armed = Atomic<Bool>(true)
        let budget = ConcurrentDetection.budgetThresholds * heap.thresholds.0
        let hooks = TestHooks()
        hooks.beforeConcurrentPageCopy = { _ in
            guard armed.exchange(false, ordering: .relaxed) else { return }
            start.signal()
            // Hold the walk until the other mutator has stopped making objects (or, without
            // pacing, has made four budgets' worth: the expectation below then fails).
            var last = -1
            while made.load(ordering: .relaxed) != last && made.load(ordering: .relaxed) < 2 * budget {
                last = made.load(ordering: .relaxed)
                usleep(50_000)
            }
            madeWhileHeld.store(last, ordering: .relaxed)   // it goes on once the walk ends
        }
        heap.testHooks = hooks
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            if i == 0 {
                let live = m.new(node)!                  // a page for the walk to copy
                heap.collect()
                #expect(madeWhileHeld.load(ordering: .relaxed) * 2 <= budget + 2 * Mutator.youngBatch, "stopped within its budget")
                stop.store(true, ordering: .relaxed)
                m.release(live)
            } else {
                wait(start, as: m)
                makeGarbage(m, node, until: stop, counting: made)
            }
        }
        #expect(heap.collectorTotals.mutatorPauses.totalCount >= 1)
        withMutator(heap) { m in
            heap.collect()
            expectEmpty(heap, m)
        }
    }
    /// An automatic concurrent collection ends pacing at a bridge: with the collector thread
    /// held before its next collection, a mutator making garbage stops a budget past the
    /// threshold and waits there, instead of running on until the collector thread gets a CPU.
    /// gc.disable() lifts the bridge (no collection will come to replace it): the mutator goes on.
    @Test func aMutatorWaitsAtTheBridgeUntilTheNextCollectionOrGCDisable() {
        let heap = Heap(collector: CollectorConfiguration(automatic: true, idleInterval: nil))
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        let made = Atomic<Int>(0), stop = Atomic<Bool>(false), held = Atomic<Bool>(false)
        let waitedAtBridge = Atomic<Bool>(false), wentOnAfterDisable = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        let hooks = TestHooks()
        hooks.beforeAutomaticCollection = {
            // The first time after a concurrent collection has ended: hold the collector thread.
            guard heap.collectorTotals.collections > 0, !held.exchange(true, ordering: .relaxed) else { return }
            for _ in 0..<1_000 where heap.counters.pointee.pacingWaiters.load(ordering: .relaxed) == 0 { usleep(10_000) }
            waitedAtBridge.store(heap.counters.pointee.pacingWaiters.load(ordering: .relaxed) > 0, ordering: .relaxed)
            let before = made.load(ordering: .relaxed)
            heap.setAutomaticCollection(enabled: false)
            for _ in 0..<1_000 where made.load(ordering: .relaxed) < before + 100 { usleep(10_000) }
            wentOnAfterDisable.store(made.load(ordering: .relaxed) >= before + 100, ordering: .relaxed)
            stop.store(true, ordering: .relaxed)
            done.signal()
        }
        heap.testHooks = hooks
        runOnThreads(1) { _ in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            makeGarbage(m, node, until: stop, counting: made)
        }
        done.wait()
        heap.testHooks = nil
        let (waited, wentOn) = (waitedAtBridge.load(ordering: .relaxed), wentOnAfterDisable.load(ordering: .relaxed))
        #expect(waited, "the mutator waited at the bridge while no collection ran")
        #expect(wentOn, "gc.disable() let it go on")
        withMutator(heap) { m in
            heap.collect()
            expectEmpty(heap, m)
        }
    }

    /// Program code that the collector thread runs after its collection suspends the bridge: a
    /// finalizer that waits for a mutator to make more objects must see it do so, not wait
    /// forever for a mutator held until the collector thread's next collection.
    @Test func aFinalizerThatWaitsForAMutatorIsNotHeldUpByTheBridge() {
        let made = Atomic<Int>(0), stop = Atomic<Bool>(false), waited = Atomic<Bool>(false)
        let sawProgress = Atomic<Bool>(false)
        let heap = Heap(finalizer: { _, _ in
            guard !waited.exchange(true, ordering: .relaxed) else { return }
            // Well past a bridge: three pacing budgets of the default threshold.
            let goal = made.load(ordering: .relaxed) + 3 * ConcurrentDetection.budgetThresholds * 700
            for _ in 0..<1_000 where made.load(ordering: .relaxed) < goal { usleep(10_000) }
            sawProgress.store(made.load(ordering: .relaxed) >= goal, ordering: .relaxed)
            stop.store(true, ordering: .relaxed)
        }, collector: CollectorConfiguration(automatic: true, idleInterval: nil))
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        let finalizable = heap.types.register(name: "F", slots: ["r"], hasFinalizer: true)
        runOnThreads(1) { _ in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            let (a, b) = makeTwoObjectCycle(m, finalizable)
            m.release(a)
            m.release(b)
            makeGarbage(m, node, until: stop, counting: made)
        }
        let progress = sawProgress.load(ordering: .relaxed)
        #expect(progress, "the mutator went on while the finalizer waited")
        withMutator(heap) { m in
            heap.collect()
            expectEmpty(heap, m)
        }
    }

    /// Tentative garbage larger than a pause's budget is validated in several pauses, whole
    /// components each: many small cycles take several pauses, one cycle larger than the budget
    /// takes one of its own, cycles interleaved in the heap take several, and everything is
    /// collected either way.
    @Test func tentativeGarbageIsValidatedInBatchesOfWholeComponents() {
        let heap = Heap(collector: .manual)
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        let budget = ConcurrentDetection.pauseBudget
        withMutator(heap) { m in
            for _ in 0..<budget {                       // 2 × budget objects in 2-object cycles
                let (a, b) = makeTwoObjectCycle(m, node)
                m.release(a)
                m.release(b)
            }
            let small = heap.collect()
            #expect(small.collected == 2 * budget)
            #expect(small.pauses.count >= 2)
            #expect(small.pauses.reduce(0, +) == small.pauseNanoseconds)
            let first = m.new(node)!                    // one ring of budget + 1 objects
            var last = first
            for _ in 0..<budget {
                let next = m.new(node)!
                m.store(next, into: last, slot: 0)
                if last != first { m.release(last) }
                last = next
            }
            m.store(first, into: last, slot: 0)
            m.release(last)
            m.release(first)
            let ring = heap.collect()
            #expect(ring.collected == budget + 1)
            #expect(ring.pauses.count == 1)
            // Cycles whose objects are far apart (every first object made before every second
            // one) interleave, so no cut in address order separates them: still several pauses.
            let firsts = (0..<budget).map { _ in m.new(node)! }
            let seconds = (0..<budget).map { _ in m.new(node)! }
            for (a, b) in zip(firsts, seconds) {
                m.store(b, into: a, slot: 0)
                m.store(a, into: b, slot: 0)
            }
            for object in firsts + seconds { m.release(object) }
            let interleaved = heap.collect()
            #expect(interleaved.collected == 2 * budget)
            #expect(interleaved.pauses.count >= 2)
            expectEmpty(heap, m)
        }
    }

    /// A concurrent heap's collection whose walk is small (a few pages) runs it in the pause and
    /// says so; a larger one walks concurrently.
    @Test func aSmallWalkRunsInThePause() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "N", slots: ["r"], payloadBytes: 16)
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a)
            m.release(b)
            let small = heap.collect()
            #expect(small.mode == .stopTheWorld && small.collected == 2 && small.tentative == 0)
            // More than the pause takes: a large array, and more pages of 64-byte objects.
            let keep = m.newArray(heap.types.register(name: "Keep", isArray: true), count: 1024 * (ConcurrentDetection.pausePages + 1))!
            for index in 0..<keep.slotCount { m.store(consuming: m.new(node)!, into: keep, slot: index) }
            let (c, d) = makeTwoObjectCycle(m, node)
            m.release(c)
            m.release(d)
            let large = heap.collect()
            #expect(large.mode == .concurrent && large.collected == 2 && large.validated == 2)
            m.release(keep)
            heap.collect()
            expectEmpty(heap, m)
        }
    }
    /// Pacing's budget saturates: a young threshold near Int.max (gc.set_threshold takes any
    /// count) must not overflow when the walk starts.
    @Test func aHugeThresholdDoesNotOverflowThePacingBudget() {
        let heap = Heap(collector: .manual)
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        heap.setThresholds(Int.max / 2, 10, 10)
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a)
            m.release(b)
            #expect(heap.collect().collected == 2)
            expectEmpty(heap, m)
        }
    }

    /// A walk of a large heap leaves its tables large; once the heap has shrunk, the collection
    /// after the next small walk gives them back (trimTables), and a walk of a steady size keeps
    /// its own. Every collection still finds its garbage.
    @Test func theWalksTablesAreGivenBackOnceTheHeapHasShrunk() {
        let heap = Heap(collector: .manual)
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        withMutator(heap) { m in
            // 200,000 live objects: tables of some tens of bytes a candidate.
            let keep = m.newArray(heap.types.register(name: "Keep", isArray: true), count: 200_000)!
            for index in 0..<keep.slotCount { m.store(consuming: m.new(node)!, into: keep, slot: index) }
            #expect(heap.collect(generation: 2).mode == .concurrent)
            let large = heap.concurrentDetection.tableBytes
            #expect(large.capacity >= ConcurrentDetection.trimBytes, "the large walk's tables: \(large)")
            m.release(keep)
            heap.collect(generation: 2)
            // The heap is small now: one more walk of it, and the tables go.
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a)
            m.release(b)
            let small = heap.collect(generation: 2)
            #expect(small.mode == .concurrent && small.collected == 2)
            let trimmed = heap.concurrentDetection.tableBytes
            #expect(trimmed.capacity < ConcurrentDetection.trimBytes, "after small walks: \(trimmed)")
            // Small walks of a steady size keep theirs.
            let (c, d) = makeTwoObjectCycle(m, node)
            m.release(c)
            m.release(d)
            #expect(heap.collect(generation: 2).collected == 2)
            #expect(heap.concurrentDetection.tableBytes.capacity >= trimmed.capacity)
            expectEmpty(heap, m)
        }
    }
}
