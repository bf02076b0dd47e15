// The collector thread and the gc surface around it: automatic collection, enable/disable,
// thresholds, the generation rule, callbacks, save-all mode and statistics.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

/// Waits, in a blocking region so that pauses need not wait for `m`, until `condition` holds.
/// Waits for an event, not for a time: the 60-second bound only turns a hang into a failure.
func waitBlocked(_ m: Mutator, until condition: () -> Bool) -> Bool {
    m.enterBlockingRegion()
    defer { m.leaveBlockingRegion() }
    for _ in 0..<60_000 {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// A heap whose collector thread runs with these thresholds and no idle timer.
func automaticHeap(thresholds: (Int, Int, Int), idle: Duration? = nil,
                   finalizer: (@Sendable (Mutator, ObjectRef) -> Void)? = nil) -> Heap {
    Heap(finalizer: finalizer, collector: CollectorConfiguration(automatic: true, thresholds: thresholds, idleInterval: idle))
}

@Suite struct CollectorThreadTests {
    @Test func defaultsAreCPythons() {
        let heap = Heap()
        #expect(heap.thresholds == (700, 10, 10))
        #expect(heap.isAutomaticCollectionEnabled)
        #expect(!heap.saveAllGarbage)
    }

    @Test(arguments: RefCountPolicyKind.allCases)
    func crossingTheThresholdCollectsCyclesWithoutAnExplicitCall(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: CollectorConfiguration(thresholds: (100, 10, 10), idleInterval: nil))
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            for _ in 0..<2000 {
                let (a, b) = makeTwoObjectCycle(m, node)
                m.release(a); m.release(b)
                m.safepoint()
            }
            #expect(waitBlocked(m) { heap.collectorTotals.automaticCollections > 0 })
            // Automatic collections may still be running; the explicit one waits for them. Every
            // one of the 4000 objects is found unreachable exactly once, by one of them.
            _ = heap.collect()
            #expect(heap.collectorTotals.generations.map(\.collected).reduce(0, +) == 4000)
            #expect(heap.liveObjectsByType().isEmpty)
        }
        #expect(heap.collectorTotals.generations[0].collections >= 1)
    }

    @Test func disableStopsAutomaticCollectionButCollectStillWorks() {
        let heap = automaticHeap(thresholds: (50, 10, 10))
        let node = heap.types.register(name: "Node", slots: ["ref"])
        heap.setAutomaticCollection(enabled: false)
        #expect(!heap.isAutomaticCollectionEnabled)
        withMutator(heap) { m in
            for _ in 0..<500 {
                let (a, b) = makeTwoObjectCycle(m, node)
                m.release(a); m.release(b)
            }
            #expect(heap.count.0 == 1000)
            #expect(heap.collectorTotals.automaticCollections == 0)
            #expect(heap.collect().unreachable == 1000)
            heap.setAutomaticCollection(enabled: true)
            #expect(heap.isAutomaticCollectionEnabled)
        }
    }

    @Test func thresholdZeroDisablesAutomaticCollection() {
        let heap = automaticHeap(thresholds: (700, 10, 10))
        let node = heap.types.register(name: "Node", slots: ["ref"])
        heap.setThresholds(0)
        #expect(heap.thresholds == (0, 10, 10))
        heap.setThresholds(5, 6, 7)
        #expect(heap.thresholds == (5, 6, 7))
        heap.setThresholds(0, 3)
        #expect(heap.thresholds == (0, 3, 7))
        withMutator(heap) { m in
            for _ in 0..<500 {
                let (a, b) = makeTwoObjectCycle(m, node)
                m.release(a); m.release(b)
            }
            #expect(heap.collectorTotals.automaticCollections == 0)
            // Lowering the threshold below the count asks for a collection at once.
            heap.setThresholds(100)
            #expect(waitBlocked(m) { heap.collectorTotals.automaticCollections > 0 })
            _ = heap.collect()
        }
    }

    /// CPython's rule: nothing is due until count0 passes threshold 0, scaled (as
    /// gc_free_threading.c does) to a quarter of the survivors of the last full collection; then
    /// the oldest generation over its threshold, generation 2 only when the objects promoted into
    /// it since that full collection are at least a quarter of its survivors.
    @Test func dueGenerationFollowsCPythonsRules() {
        var state = CollectorState(automatic: true, thresholds: (700, 10, 10), mode: .concurrent)
        #expect(state.dueGeneration(700, 0, 0) == nil)
        #expect(state.dueGeneration(701, 0, 0) == 0)
        #expect(state.dueGeneration(701, 11, 0) == 1)
        #expect(state.dueGeneration(701, 11, 11) == 2)
        state.longLivedTotal = 10_000
        #expect(state.dueGeneration(2_500, 11, 11) == nil)      // young threshold: 10,000 / 4
        #expect(state.dueGeneration(2_501, 11, 11) == 1)        // pending 0 < 2,500
        state.longLivedPending = 2_500
        #expect(state.dueGeneration(2_501, 11, 11) == 2)
        state.thresholds.1 = 0                                  // no scaling
        #expect(state.dueGeneration(701, 0, 0) == 0)
        state.enabled = false
        #expect(state.dueGeneration(1_000_000, 100, 100) == nil)
    }

    @Test func collectionsKeepTheLongLivedCounts() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let old = (0..<100).map { _ in m.new(node)! }
            heap.collect(generation: 2)
            #expect(heap.collectorState.withLock { ($0.longLivedTotal, $0.longLivedPending) } == (100, 0))
            let young = (0..<30).map { _ in m.new(node)! }
            heap.collect(generation: 0)
            heap.collect(generation: 1)                  // 30 promoted into generation 2
            #expect(heap.collectorState.withLock { ($0.longLivedTotal, $0.longLivedPending) } == (100, 30))
            heap.collect(generation: 2)
            #expect(heap.collectorState.withLock { ($0.longLivedTotal, $0.longLivedPending) } == (130, 0))
            for object in old + young { m.release(object) }
        }
    }

    @Test func callbacksSeeStartAndStopWithGenerationAndCounts() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let seen = Locked<[(CollectionPhase, Int, Int, CollectionReason)]>([])
        let id = heap.addCollectionCallback { phase, result in
            seen.withLock { $0.append((phase, result.generation, result.unreachable, result.reason)) }
        }
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a); m.release(b)
            heap.collect(generation: 1)
            heap.removeCollectionCallback(id)
            heap.collect()
        }
        let calls = seen.withLock { $0 }
        #expect(calls.count == 2)
        #expect(calls[0] == (.start, 1, 0, .explicit))
        #expect(calls[1] == (.stop, 1, 2, .explicit))
    }

    @Test func saveAllKeepsGarbageInsteadOfFreeingIt() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            heap.saveAllGarbage = true
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a); m.release(b)
            let result = heap.collect()
            #expect(result.unreachable == 2)
            #expect(result.saved == 2)
            #expect(Set(heap.garbage) == [a, b])
            #expect(heap.liveObjectsByType()["Node"] == 2)
            #expect(m.refcount(a) == 2)                 // b's slot and the garbage list
            #expect(heap.verify(roots: heap.garbage) == [])
            heap.saveAllGarbage = false
            #expect(heap.clearGarbage(mutator: m) == 2)
            #expect(heap.garbage.isEmpty)
            #expect(heap.collect().unreachable == 2)
            #expect(heap.liveObjectsByType().isEmpty)
        }
        #expect(heap.generationStats[2].collections == 2)
        #expect(heap.generationStats[2].collected == 4)
    }

    @Test func statisticsRecordEveryCollectionAndItsPause() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            var results: [CollectionResult] = []
            for generation in [0, 1, 2] {
                let (a, b) = makeTwoObjectCycle(m, node)
                m.release(a); m.release(b)
                results.append(heap.collect(generation: generation))
            }
            for result in results {
                // In concurrent mode (the default) the garbage is freed once the world runs: the
                // teardown is not part of the pause.
                let phases = result.findCandidatesNanoseconds + result.trialDeletionNanoseconds + result.finalizationNanoseconds
                #expect(phases <= result.pauseNanoseconds)
                #expect(result.unreachable == 2)
            }
            let totals = heap.collectorTotals
            #expect(totals.collections == 3)
            #expect(totals.generations.map(\.collections) == [1, 1, 1])
            #expect(totals.pauses.totalCount == 3)
            #expect(totals.totalPauseNanoseconds == results.map(\.pauseNanoseconds).reduce(0, +))
            #expect(totals.longestPauseNanoseconds == results.map(\.pauseNanoseconds).max())
            #expect(totals.pause(atPercentile: 50) <= totals.pause(atPercentile: 100))
            #expect(totals.automaticCollections == 0)
        }
    }

    @Test func theIdleTimerCollectsYoungGarbageLeftBelowTheThreshold() {
        let heap = automaticHeap(thresholds: (1_000_000, 10, 10), idle: .milliseconds(20))
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            for _ in 0..<10 {
                let (a, b) = makeTwoObjectCycle(m, node)
                m.release(a); m.release(b)
            }
            // Wait on counts that need no walk of the heap (the collector may be walking it).
            #expect(waitBlocked(m) { heap.collectorTotals.generations.map(\.collected).reduce(0, +) == 20 })
            #expect(heap.liveObjectsByType().isEmpty)
        }
        #expect(heap.collectorTotals.automaticCollections >= 1)
    }

    /// Explicit collections made while the collector thread collects on its own are never
    /// skipped: each runs and reports its own result.
    @Test func explicitCollectionsRunWhileTheThreadCollects() {
        let heap = automaticHeap(thresholds: (20, 2, 2))
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let explicit = Atomic<Int>(0)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            for round in 0..<300 {
                let (a, b) = makeTwoObjectCycle(m, node)
                m.release(a); m.release(b)
                if i == 0 && round % 10 == 0 {
                    #expect(heap.collect(generation: round % 3).reason == .explicit)
                    explicit.add(1, ordering: .relaxed)
                }
                m.safepoint()
            }
            heap.detachCurrentThread()
        }
        let totals = heap.collectorTotals
        #expect(totals.collections - totals.automaticCollections == explicit.load(ordering: .relaxed))
        withMutator(heap) { _ in _ = heap.collect() }
        #expect(heap.liveObjectsByType().isEmpty)
    }

    @Test func aFinalizerThatAllocatesRunsWithTheWorldRunning() {
        let heap = Heap(finalizer: { m, object in
            // 100 tracked objects (of a type with no finalizer): several batches, so the
            // finalizer passes safepoints.
            for _ in 0..<100 { m.release(m.new(m.heap.types.all[2].type)!) }
            #expect(!m.heap.isInsidePause)
        }, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"], hasFinalizer: true)
        _ = heap.types.register(name: "Leaf", slots: ["ref"])
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a); m.release(b)
            #expect(!heap.isInsidePause)
            #expect(heap.collect().finalized == 2)
        }
    }

    /// PEP 442 on reference-counting deaths too: the finalizer runs once, before the object is
    /// torn down, and an object it resurrects is not freed (nor finalized again later).
    @Test func aFinalizerRunsOnceWhenReferenceCountingFreesAndMayResurrect() {
        let saved = Locked<ObjectRef?>(nil)
        let calls = Atomic<Int>(0)
        let heap = Heap(finalizer: { m, object in
            if calls.wrappingAdd(1, ordering: .relaxed).newValue == 1 {
                m.retain(object)                         // the first one resurrects itself
                saved.withLock { $0 = object }
            }
        }, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"], hasFinalizer: true)
        withMutator(heap) { m in
            let a = m.new(node)!
            m.release(a)                                 // finalizer: resurrected
            #expect(calls.load(ordering: .relaxed) == 1)
            #expect(heap.liveObjectsByType()["Node"] == 1)
            #expect(heap.isFinalized(a))
            m.release(saved.withLock { $0! })            // dies again: no second finalizer call
            #expect(calls.load(ordering: .relaxed) == 1)
            let b = m.new(node)!
            m.release(b)                                 // finalized and freed
            #expect(calls.load(ordering: .relaxed) == 2)
            #expect(heap.liveObjectsByType().isEmpty)
        }
    }
}
