// Generations as in CPython: counts, promotion of survivors, young collections that leave older
// objects alone, and young objects found through page marks.

@testable import HeapCore
import Foundation
import Testing

@Suite struct GenerationTests {
    @Test func survivorsMoveUpOneGenerationAtATime() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let a = m.new(node)!
            #expect(heap.generation(of: a) == 0)
            heap.collect(generation: 0)
            #expect(heap.generation(of: a) == 1)
            heap.collect(generation: 0)                  // generation 1 is not collected by this
            #expect(heap.generation(of: a) == 1)
            heap.collect(generation: 1)
            #expect(heap.generation(of: a) == 2)
            heap.collect(generation: 2)
            #expect(heap.generation(of: a) == 2)
            m.release(a)
        }
    }

    @Test func trackedObjectsAreCountedPerGeneration() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let atom = heap.types.register(name: "Atom", payloadBytes: 8)
        withMutator(heap) { m in
            let old = (0..<3).map { _ in m.new(node)! }
            heap.collect(generation: 0)                  // the three move to generation 1
            let young = (0..<2).map { _ in m.new(node)! }
            let untracked = m.new(atom)!
            #expect(heap.trackedObjectsByGeneration() == [2, 3, 0, 0])
            heap.freeze()
            #expect(heap.trackedObjectsByGeneration() == [0, 0, 0, 5])
            heap.unfreeze()
            for object in old + young + [untracked] { m.release(object) }
            #expect(heap.trackedObjectsByGeneration() == [0, 0, 0, 0])
        }
    }

    @Test func anOldObjectKeepsAYoungCycleAlive() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let old = m.new(node)!
            heap.collect()                               // old is in generation 2 now
            let (a, b) = makeTwoObjectCycle(m, node)
            m.store(a, into: old, slot: 0)
            m.release(a)
            m.release(b)
            #expect(heap.collect(generation: 0).unreachable == 0)   // old's reference is a root
            m.store(nil, into: old, slot: 0)
            #expect(heap.collect(generation: 1).unreachable == 2)  // promoted to 1, collected there
            m.release(old)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func aYoungCollectionLeavesOlderGarbageForLater() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let (a, b) = makeTwoObjectCycle(m, node)
            heap.collect(generation: 0)                  // still held: both move to generation 1
            m.release(a)
            m.release(b)
            #expect(heap.collect(generation: 0).unreachable == 0)
            #expect(heap.collect(generation: 1).unreachable == 2)
        }
    }

    @Test func countsFollowCPythonsRules() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let atom = heap.types.register(name: "Int", payloadBytes: 8)
        withMutator(heap) { m in
            let objects = (0..<100).map { _ in m.new(node)! }
            let untracked = m.new(atom)!                 // atoms do not count
            #expect(heap.count == (100, 0, 0))
            for object in objects.prefix(40) { m.release(object) }   // young deaths count down
            #expect(heap.count == (60, 0, 0))
            heap.collect(generation: 0)
            #expect(heap.count == (0, 1, 0))
            heap.collect(generation: 0)
            #expect(heap.count == (0, 2, 0))
            heap.collect(generation: 1)
            #expect(heap.count == (0, 0, 1))
            heap.collect(generation: 2)
            #expect(heap.count == (0, 0, 0))
            for object in objects.dropFirst(40) { m.release(object) }  // old deaths do not count
            #expect(heap.count == (0, 0, 0))
            m.release(untracked)
            let stats = heap.generationStats
            #expect(stats.map(\.collections) == [2, 1, 1])
            #expect(stats.map(\.uncollectable) == [0, 0, 0])
        }
    }

    @Test func youngCollectionsWalkOnlyPagesMarkedYoung() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            // Fill many pages with old objects.
            let old = (0..<50_000).map { _ in m.new(node)! }
            let full = heap.collect()
            #expect(full.candidates == 50_000)
            #expect(full.pagesWalked > 20)
            let young = (0..<10).map { _ in m.new(node)! }
            let quick = heap.collect(generation: 0)
            #expect(quick.candidates == 10)
            #expect(quick.pagesWalked <= 2)
            for object in old + young { m.release(object) }
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    /// The verifier's page-mark rule (HeapVerifier.swift): a young object in a page without the
    /// young mark is reported; so is a generation-1 one without its mark; marked, neither is.
    @Test func theVerifierReportsAYoungObjectInAnUnmarkedPage() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let a = m.new(node)!
            #expect(heap.verify(roots: [a]) == [])
            let page = Arena.page(containing: a.bits)
            page.pointee.generationMarks.store(0, ordering: .relaxed)
            #expect(heap.verify(roots: [a]).contains { $0.contains("generation 0 in a page without") })
            heap.collect(generation: 0)                     // unmarked, its page is not walked
            #expect(heap.generation(of: a) == 0)
            page.pointee.markGeneration(0)
            heap.collect(generation: 0)                     // a survives into generation 1
            #expect(heap.generation(of: a) == 1)
            #expect(heap.verify(roots: [a]) == [])
            page.pointee.generationMarks.store(0, ordering: .relaxed)
            #expect(heap.verify(roots: [a]).contains { $0.contains("generation 1 in a page without") })
            page.pointee.markGeneration(1)
            #expect(heap.verify(roots: [a]) == [])
            m.release(a)
        }
    }

    /// Save-all garbage stays in the garbage list and moves up a generation, as CPython's does,
    /// so that its pages carry that generation's mark (a young collection clears the young one).
    @Test func savedGarbageMovesUpAGeneration() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            heap.saveAllGarbage = true
            let (a, b) = makeTwoObjectCycle(m, node)
            m.release(a); m.release(b)
            #expect(heap.collect(generation: 0).saved == 2)
            #expect(heap.generation(of: a) == 1 && heap.generation(of: b) == 1)
            #expect(heap.verify(roots: heap.garbage) == [])
            heap.saveAllGarbage = false
            #expect(heap.clearGarbage(mutator: m) == 2)
            #expect(heap.collect(generation: 1).unreachable == 2)
        }
    }

    @Test func theYoungDebtLeftByFreedGarbageIsBounded() {
        let heap = Heap(collector: .manual)
        withMutator(heap) { m in
            let counters = heap.counters
            counters.pointee.signalThreshold.store(10, ordering: .relaxed)   // as with threshold 10
            // A debt of 50 (young objects freed since the count was reset) is kept as it is...
            counters.pointee.count0.store(0, ordering: .relaxed)
            m.storage.pointee.youngDelta = -50
            m.flushYoungDelta(poll: false)
            #expect(counters.pointee.count0.load(ordering: .relaxed) == -50)
            // ...but never more than youngDebtFactor thresholds.
            m.storage.pointee.youngDelta = -1_000
            m.flushYoungDelta(poll: false)
            #expect(counters.pointee.count0.load(ordering: .relaxed) == -Mutator.youngDebtFactor * 10)
            // Automatic collection off (no signal threshold): the count is left alone.
            counters.pointee.signalThreshold.store(Int.max, ordering: .relaxed)
            m.storage.pointee.youngDelta = -1_000
            m.flushYoungDelta(poll: false)
            #expect(counters.pointee.count0.load(ordering: .relaxed) == -Mutator.youngDebtFactor * 10 - 1_000)
            counters.pointee.count0.store(0, ordering: .relaxed)
        }
    }

    @Test func garbageTheCollectorFreesDoesNotPushTheCountFarBelowZero() {
        // 10,000 young objects freed after the reset: within 16 thresholds of 100,000 the whole
        // debt is kept (free-threaded CPython's count); with a threshold of 100 it stops at 1,600.
        #expect(youngDebtAfterCollectingCycles(5_000, threshold: 100_000) == -10_000)
        #expect(youngDebtAfterCollectingCycles(5_000, threshold: 100) == -Mutator.youngDebtFactor * 100)
    }

    /// count0 after a young collection frees `cycles` two-object cycles, with the signal
    /// threshold set directly (an automatic collector thread would race the explicit collection
    /// for this garbage).
    private func youngDebtAfterCollectingCycles(_ cycles: Int, threshold: Int) -> Int {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let debt = Locked(0)
        withMutator(heap) { m in
            for _ in 0..<cycles { let (a, b) = makeTwoObjectCycle(m, node); m.release(a); m.release(b) }
            heap.counters.pointee.signalThreshold.store(threshold, ordering: .relaxed)
            #expect(heap.collect(generation: 0).unreachable == 2 * cycles)
            m.flushYoungDelta(poll: false)
            debt.withLock { $0 = heap.counters.pointee.count0.load(ordering: .relaxed) }
        }
        return debt.withLock { $0 }
    }
}
