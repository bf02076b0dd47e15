@testable import HeapCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing

/// Holds the calling thread until `done()` or about ten seconds have passed (then the test's
/// expectations on what the other thread did fail instead of hanging).
private func hold(until done: () -> Bool) {
    for _ in 0..<1_000 where !done() { usleep(10_000) }
}

/// Makes `count` two-object cycles and drops them.
private func dropCycles(_ m: Mutator, _ node: ObjectType, _ count: Int) {
    for _ in 0..<count {
        let (a, b) = makeTwoObjectCycle(m, node)
        m.release(a)
        m.release(b)
    }
}

/// The two mutators of each test: the collecting one runs the test's body; the other, once
/// `start` is signalled, makes garbage (counted in `made`) until the body has returned. Then the
/// hooks go and a last collection must leave the heap empty.
private final class Beside: Sendable {
    let made = Atomic<Int>(0), stop = Atomic<Bool>(false), collecting = Atomic<UInt32>(0)
    let start = DispatchSemaphore(value: 0)

    /// Whether the calling thread is the collecting mutator.
    var onCollectingThread: Bool { Mutator.current?.id == collecting.load(ordering: .relaxed) }

    func run(_ heap: Heap, _ node: ObjectType, collecting body: @escaping @Sendable (Mutator) -> Void) {
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            if i == 0 {
                self.collecting.store(m.id, ordering: .relaxed)
                body(m)
                self.stop.store(true, ordering: .relaxed)
            } else {
                wait(self.start, as: m)
                makeGarbage(m, node, until: self.stop, counting: self.made)
            }
        }
        heap.testHooks = nil
        withMutator(heap) { m in
            heap.collect()
            expectEmpty(heap, m)
        }
    }
}

/// Mutators that outpace a concurrent collection do some of its work (CollectionAssists.swift):
/// each test holds the collecting thread at a hook until the other mutator has done a share.
@Suite struct CollectionAssistsTests {
    /// Held before its second page, the collecting thread goes on once the other mutator, which
    /// made garbage until pacing held it, has walked a page of the plan. Every page is walked
    /// once, by one thread or the other, and the garbage made before the collection is all found.
    @Test(arguments: RefCountPolicyKind.allCases)
    func aMutatorThatOutpacesTheWalkWalksPagesOfIt(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        heap.pauseWalkPages = -1              // the concurrent path, however small the heap
        let node = heap.types.register(name: "N", slots: ["r"])
        let cycles = 8_192                    // some twelve pages of two-object cycles
        let beside = Beside()
        let byCollector = Atomic<Int>(0), byOther = Atomic<Int>(0)
        let hooks = TestHooks()
        hooks.beforeConcurrentPageCopy = { _ in
            guard beside.onCollectingThread else {
                byOther.add(1, ordering: .relaxed)
                return
            }
            guard byCollector.add(1, ordering: .relaxed).newValue == 2 else { return }
            beside.start.signal()
            hold { byOther.load(ordering: .relaxed) > 0 }
        }
        heap.testHooks = hooks
        beside.run(heap, node) { m in
            dropCycles(m, node, cycles)
            let result = heap.collect()
            #expect(result.mode == .concurrent)
            #expect(result.pagesAssisted > 0, "the other mutator walked pages")
            #expect(result.pagesAssisted == byOther.load(ordering: .relaxed))
            #expect(result.pagesWalked == byCollector.load(ordering: .relaxed) + byOther.load(ordering: .relaxed),
                    "each page once")
            #expect(result.collected == 2 * cycles, "the garbage made before it, and only that")
        }
        #expect(beside.made.load(ordering: .relaxed) > 0)
    }

    /// Held before its first batch of garbage, the collecting thread goes on once the other
    /// mutator, held by pacing until the garbage is freed, has freed a batch. What either freed is
    /// gone, the verifier finds nothing wrong, and the garbage's references to live objects were
    /// given back. Not under the global lock, where the teardown is not shared.
    @Test(arguments: RefCountPolicyKind.allCases)
    func aMutatorHeldUntilTheGarbageIsFreedFreesBatchesOfIt(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        heap.pauseWalkPages = -1
        heap.walkAssistants = 0               // the teardown's share only
        let node = heap.types.register(name: "N", slots: ["r"])
        let pair = heap.types.register(name: "P", slots: ["r", "live"])
        let cycles = 3 * ConcurrentDetection.pauseBudget     // six batches or so
        let beside = Beside()
        let byCollector = Atomic<Int>(0), byOther = Atomic<Int>(0)
        let hooks = TestHooks()
        hooks.beforeValidation = { _ in beside.start.signal() }
        hooks.beforeTeardownBatch = {
            guard beside.onCollectingThread else {
                byOther.add(1, ordering: .relaxed)
                return
            }
            guard byCollector.add(1, ordering: .relaxed).newValue == 1, policy != .globalLock else { return }
            hold { byOther.load(ordering: .relaxed) > 0 }
        }
        heap.testHooks = hooks
        beside.run(heap, node) { m in
            // Each garbage cycle also holds a live object, which its teardown gives back.
            let live = m.new(node)!
            for _ in 0..<cycles {
                let a = m.new(pair)!, b = m.new(pair)!
                m.store(b, into: a, slot: 0)
                m.store(a, into: b, slot: 0)
                m.store(live, into: a, slot: 1)
                m.release(a)
                m.release(b)
            }
            let result = heap.collect()
            #expect(result.mode == .concurrent)
            #expect(result.pauses.count > 2, "several batches")
            #expect((result.batchesAssisted > 0) == (policy != .globalLock), "the other mutator freed batches")
            #expect(result.batchesAssisted == byOther.load(ordering: .relaxed))
            #expect(result.collected == 2 * cycles)
            #expect(m.refcount(live) == 1, "every garbage reference to it given back")
            m.release(live)
        }
    }

    /// A validation pause shares its batches with the mutators it holds: held before its first
    /// batch, the collecting thread goes on once the other mutator has validated one — parked
    /// at a safepoint by the pause (`held: false`: pacing's budget is too large to reach), or
    /// waiting for pacing room (`held: true`: the collecting thread lets the pause begin only
    /// once the other waits) — for the first batch; later pauses may find it either way. Either
    /// way the garbage made before the collection is all found, and only that. Only when asked
    /// for (`validationAssists`); not under the global lock, where validation is not shared.
    @Test(arguments: [RefCountPolicyKind.biased, .atomic], [false, true])
    func aMutatorHeldByAValidationPauseValidatesBatchesOfIt(_ policy: RefCountPolicyKind, held: Bool) {
        let heap = Heap(policy: policy, collector: CollectorConfiguration(automatic: false, idleInterval: nil, validationAssists: 1))
        heap.pauseWalkPages = -1
        heap.walkAssistants = 1
        heap.validationJoinSpinNanoseconds = 5_000_000_000
        if !held { heap.setThresholds(1_000_000) }
        let node = heap.types.register(name: "N", slots: ["r"])
        let cycles = 3 * ConcurrentDetection.pauseBudget     // six batches or so
        let beside = Beside()
        let byCollector = Atomic<Int>(0), byOther = Atomic<Int>(0)
        let assistedWhileHeld = Atomic<Bool>(false), wrongState = Atomic<Bool>(false)
        let hooks = TestHooks()
        hooks.beforeValidation = { _ in
            beside.start.signal()
            // The other mutator is on its way: the pause must find it waiting for pacing room, or
            // running (to park at a safepoint), not still waking up.
            if held {
                hold { heap.counters.pointee.pacingWaiters.load(ordering: .relaxed) > 0 }
            } else {
                hold { beside.made.load(ordering: .relaxed) > 0 }
            }
        }
        hooks.beforeValidationBatch = {
            guard beside.onCollectingThread else {
                // Blocked when pacing holds it, parked when the pause does.
                let state = Mutator.current!.storage.pointee.worldState
                if byOther.add(1, ordering: .relaxed).newValue == 1 && state != (held ? .blocked : .parked) {
                    wrongState.store(true, ordering: .relaxed)
                }
                return
            }
            guard byCollector.add(1, ordering: .relaxed).newValue == 1 else { return }
            hold { byOther.load(ordering: .relaxed) > 0 }
            assistedWhileHeld.store(byOther.load(ordering: .relaxed) > 0, ordering: .relaxed)
        }
        heap.testHooks = hooks
        beside.run(heap, node) { m in
            dropCycles(m, node, cycles)
            let result = heap.collect()
            #expect(result.mode == .concurrent)
            let (assisted, wrong) = (assistedWhileHeld.load(ordering: .relaxed), wrongState.load(ordering: .relaxed))
            #expect(assisted, "the other mutator validated a batch of the first pause")
            #expect(!wrong, held ? "held by pacing" : "parked by the pause")
            #expect(result.validationsAssisted == byOther.load(ordering: .relaxed))
            #expect(result.pauses.count * 2 >= byCollector.load(ordering: .relaxed) + byOther.load(ordering: .relaxed),
                    "two batches a pause")
            #expect(result.collected == 2 * cycles, "the garbage made before it, and only that")
        }
    }

    /// A finalizer that a release reaches on the collecting thread while its collection runs
    /// (here from a hook before validation, as the releases after a pause reach them) suspends
    /// pacing: it waits for the other mutator, held by pacing, to make more objects, and sees it
    /// do so instead of waiting for a collection that cannot progress meanwhile.
    @Test func aFinalizerOnTheCollectingThreadSuspendsPacing() {
        let beside = Beside()
        let sawProgress = Atomic<Bool>(false)
        let heap = Heap(finalizer: { _, _ in
            let goal = beside.made.load(ordering: .relaxed) + 100
            for _ in 0..<1_000 where beside.made.load(ordering: .relaxed) < goal { usleep(10_000) }
            sawProgress.store(beside.made.load(ordering: .relaxed) >= goal, ordering: .relaxed)
        }, collector: .manual)
        heap.pauseWalkPages = -1
        heap.walkAssistants = 0
        let node = heap.types.register(name: "N", slots: ["r"])
        let finalizable = heap.types.register(name: "F", slots: ["r"], hasFinalizer: true)
        let held = Locked<ObjectRef?>(nil)
        let hooks = TestHooks()
        hooks.beforeValidation = { _ in
            guard let object = held.withLock({ $0 }) else { return }
            held.withLock { $0 = nil }
            beside.start.signal()
            hold { heap.counters.pointee.pacingWaiters.load(ordering: .relaxed) > 0 }
            Mutator.current!.release(object)         // the last reference: the finalizer runs here
        }
        heap.testHooks = hooks
        beside.run(heap, node) { m in
            dropCycles(m, node, 2 * ConcurrentDetection.pauseBudget)
            held.withLock { $0 = m.new(finalizable)! }
            heap.collect()
            let progress = sawProgress.load(ordering: .relaxed)
            #expect(progress, "the held mutator went on while the finalizer waited")
        }
    }

    /// Pacing counts what the mutators make, not what the collection gives back: freeing the
    /// garbage takes it off the young count, and without the discount that would be room. The
    /// collecting thread, held before its first batch, lets the other mutator start making
    /// garbage there; that mutator frees the batches it can take and stops at its budget, not at
    /// its budget and the garbage freed.
    @Test func freeingTheGarbageMakesNoPacingRoom() {
        let heap = Heap(collector: .manual)
        heap.pauseWalkPages = -1
        heap.walkAssistants = 0
        let node = heap.types.register(name: "N", slots: ["r"])
        let budget = ConcurrentDetection.budgetThresholds * heap.thresholds.0
        let cycles = budget                   // twice the budget in garbage objects
        let beside = Beside()
        let madeWhileHeld = Atomic<Int>(-1)
        let hooks = TestHooks()
        hooks.beforeTeardownBatch = {
            guard beside.onCollectingThread,
                  madeWhileHeld.load(ordering: .relaxed) < 0 else { return }
            beside.start.signal()
            // Until the other mutator has stopped making objects (or has made three budgets).
            var last = -1
            for _ in 0..<100 where beside.made.load(ordering: .relaxed) != last && beside.made.load(ordering: .relaxed) < 3 * budget {
                last = beside.made.load(ordering: .relaxed)
                usleep(100_000)
            }
            madeWhileHeld.store(beside.made.load(ordering: .relaxed), ordering: .relaxed)
        }
        heap.testHooks = hooks
        beside.run(heap, node) { m in
            dropCycles(m, node, cycles)
            let result = heap.collect()
            #expect(result.collected == 2 * cycles)
            #expect(result.batchesAssisted > 0)
            #expect(madeWhileHeld.load(ordering: .relaxed) * 2 <= budget + 2 * Mutator.youngBatch,
                    "stopped at its budget")
        }
    }

    /// Validation pauses share their batches only when asked to: by default one pause takes
    /// one batch, and no mutator validates.
    @Test func validationIsNotSharedByDefault() {
        let heap = Heap(collector: .manual)
        heap.pauseWalkPages = -1
        let node = heap.types.register(name: "N", slots: ["r"])
        let beside = Beside()
        beside.run(heap, node) { m in
            #expect(heap.validationAssistants() == 0, "with another mutator attached")
            dropCycles(m, node, 3 * ConcurrentDetection.pauseBudget)
            beside.start.signal()
            let result = heap.collect()
            #expect(result.mode == .concurrent)
            #expect(result.validationsAssisted == 0)
            #expect(result.collected >= 6 * ConcurrentDetection.pauseBudget)
            #expect(result.pauses.count >= 6, "one batch (at most a budget's objects) a pause")
        }
    }
}
