// The stop-the-world handshake's bookkeeping: the count of running mutators, one time to
// safepoint per collection, one mutator pause per park, none for a blocked mutator — whether the
// two sides of the handshake meet while spinning or through the condition variable. Counts only:
// no assertion here depends on how long anything took.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

@Suite struct HandshakeTests {
    static let collections = 30
    /// The handshake is the same in both modes; stop-the-world keeps the counts of parks exact
    /// (a concurrent walk's pacing may make a poller wait, which records a pause of its own).
    static let manualStopTheWorld = CollectorConfiguration(automatic: false, idleInterval: nil, mode: .stopTheWorld)

    /// The running count (Safepoints.swift) follows attach, blocking regions and detach.
    @Test func theRunningCountFollowsAttachBlockingRegionsAndDetach() {
        let heap = Heap(collector: HandshakeTests.manualStopTheWorld)
        #expect(heap.world.runningCount.load(ordering: .relaxed) == 0)
        withMutator(heap) { m in
            #expect(heap.world.runningCount.load(ordering: .relaxed) == 1)
            m.enterBlockingRegion()
            #expect(heap.world.runningCount.load(ordering: .relaxed) == 0)
            m.leaveBlockingRegion()
            #expect(heap.world.runningCount.load(ordering: .relaxed) == 1)
            heap.stopTheWorld {
                #expect(heap.world.runningCount.load(ordering: .relaxed) == 1)     // the stopper
            }
        }
        #expect(heap.world.runningCount.load(ordering: .relaxed) == 0)
    }

    /// `pollers` mutators poll safepoints in a loop (making a cycle each time) while another
    /// collects; after each collection the collector waits until every poller has run again, so
    /// each collection parks each poller exactly once.
    @Test(arguments: [(RefCountPolicyKind.biased, 1), (.biased, 3), (.atomic, 2)])
    func eachCollectionRecordsOneTimeToSafepointAndEachParkOnePause(_ policy: RefCountPolicyKind, pollers: Int) {
        let heap = Heap(policy: policy, collector: HandshakeTests.manualStopTheWorld)
        runPollers(pollers, in: heap) { progress in
            for _ in 0..<HandshakeTests.collections {
                heap.collect()
                #expect(waitUntilEachRuns(progress))
            }
        }
        let totals = heap.collectorTotals
        #expect(totals.collections == HandshakeTests.collections)
        #expect(totals.timeToSafepoint.totalCount == UInt64(HandshakeTests.collections))
        #expect(totals.mutatorPauses.totalCount == UInt64(HandshakeTests.collections * pollers))
        #expect(totals.timeToSafepoint(atPercentile: 50) > 0)
        #expect(totals.timeToSafepoint(atPercentile: 100) >= totals.timeToSafepoint(atPercentile: 50))
        #expect(totals.mutatorPause(atPercentile: 50) > 0)
        #expect(heap.world.runningCount.load(ordering: .relaxed) == 0)
        withMutator(heap) { _ in heap.collect() }         // the cycles made after the last one
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }

    /// A mutator in a blocking region for all the collections counts as parked and sees no pause:
    /// only the poller's parks are recorded.
    @Test func aBlockedMutatorRecordsNoPause() {
        let heap = Heap(collector: HandshakeTests.manualStopTheWorld)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let progress = Locked<[Int]>([0])
        let done = Atomic<Bool>(false)
        let release = DispatchSemaphore(value: 0)
        let ready = Barrier(parties: 3)
        runOnThreads(3) { i in
            let m = heap.attachCurrentThread()
            switch i {
            case 0:
                m.enterBlockingRegion()
                ready.wait()
                release.wait()
                m.leaveBlockingRegion()
            case 1:
                ready.wait()
                poll(m, node, until: done) { progress.withLock { $0[0] += 1 } }
            default:
                ready.wait()
                for _ in 0..<HandshakeTests.collections {
                    heap.collect()
                    #expect(waitUntilEachRuns(progress))
                }
                done.store(true, ordering: .releasing)
                release.signal()
            }
            heap.detachCurrentThread()
        }
        let totals = heap.collectorTotals
        #expect(totals.timeToSafepoint.totalCount == UInt64(HandshakeTests.collections))
        #expect(totals.mutatorPauses.totalCount == UInt64(HandshakeTests.collections))
    }

    /// With no other mutator running there is nobody to park: a time to safepoint per collection,
    /// no mutator pause.
    @Test func aLoneCollectorRecordsTimesToSafepointAndNoMutatorPause() {
        let heap = Heap(collector: HandshakeTests.manualStopTheWorld)
        withMutator(heap) { _ in
            for _ in 0..<HandshakeTests.collections { heap.collect() }
        }
        let totals = heap.collectorTotals
        #expect(totals.timeToSafepoint.totalCount == UInt64(HandshakeTests.collections))
        #expect(totals.mutatorPauses.totalCount == 0)
        #expect(totals.mutatorPause(atPercentile: 99) == 0)
    }

    /// Pauses back to back, with nothing between them to let the pollers run: each pause still
    /// parks each poller afresh, because a stop is not requested until every thread the last pause
    /// released is out of its wait (Safepoints.swift). Were it requested earlier, a poller woken
    /// at the end of one pause would find the next one begun and wait through it too — one park
    /// for several pauses — while competing for a CPU with the stopper inside the pause.
    @Test(arguments: [1, 3])
    func backToBackPausesEachParkEveryPollerOnce(pollers: Int) {
        let heap = Heap(collector: HandshakeTests.manualStopTheWorld)
        let pauses = 200
        runPollers(pollers, in: heap) { progress in
            #expect(waitUntilEachRuns(progress))
            for _ in 0..<pauses { heap.stopTheWorld {} }
        }
        #expect(heap.collectorTotals.mutatorPauses.totalCount == UInt64(pauses * pollers))
        #expect(heap.world.parkedCount == 0 && heap.world.stoppedWaiters == 0)
        withMutator(heap) { _ in heap.collect() }
    }

    /// Both spins run out: the poller reaches its safepoints further apart than the stopper spins,
    /// and each pause lasts longer than a parked mutator spins, so the stopper and the parked
    /// mutator meet through the condition variable. `stopTheWorld` pauses count as mutator pauses
    /// but, not being collections, record no time to safepoint.
    @Test func spinsThatRunOutFallBackToTheConditionAndCountTheSame() {
        let heap = Heap(collector: HandshakeTests.manualStopTheWorld)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let longerThanASpin = UInt32(World.maximumSpinNanoseconds / 1000 * 4)
        let progress = Locked<[Int]>([0])
        let done = Atomic<Bool>(false)
        let ready = Barrier(parties: 2)
        let pauses = 20
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            ready.wait()
            if i == 0 {
                poll(m, node, until: done) {
                    usleep(longerThanASpin)
                    progress.withLock { $0[0] += 1 }
                }
            } else {
                for _ in 0..<pauses {
                    heap.stopTheWorld { _ = usleep(longerThanASpin) }
                    #expect(waitUntilEachRuns(progress))
                }
                done.store(true, ordering: .releasing)
            }
            heap.detachCurrentThread()
        }
        let totals = heap.collectorTotals
        #expect(totals.mutatorPauses.totalCount == UInt64(pauses))
        #expect(totals.timeToSafepoint.totalCount == 0)
    }
}

/// `pollers` mutators poll safepoints (`poll`, each counting its rounds in `progress`) while
/// one more runs `driver`; all attached to `heap` and started together; returns when all are done.
private func runPollers(_ pollers: Int, in heap: Heap, driver: @escaping @Sendable (Locked<[Int]>) -> Void) {
    let node = heap.types.register(name: "Node", slots: ["ref"])
    let progress = Locked<[Int]>(Array(repeating: 0, count: pollers))
    let done = Atomic<Bool>(false)
    let ready = Barrier(parties: pollers + 1)
    runOnThreads(pollers + 1) { i in
        let m = heap.attachCurrentThread()
        ready.wait()
        if i < pollers {
            poll(m, node, until: done) { progress.withLock { $0[i] += 1 } }
        } else {
            driver(progress)
            done.store(true, ordering: .releasing)
        }
        heap.detachCurrentThread()
    }
}

/// Polls safepoints in a loop, making and dropping a two-object cycle and calling `ran` each time,
/// until `done`.
private func poll(_ m: Mutator, _ node: ObjectType, until done: borrowing Atomic<Bool>, ran: () -> Void) {
    while !done.load(ordering: .acquiring) {
        m.safepoint()
        let (a, b) = makeTwoObjectCycle(m, node)
        m.release(a)
        m.release(b)
        ran()
    }
}

/// Waits (yielding, for a bounded number of times; no clock) until every poller's count has moved
/// past its value now: a poller parked in the pause that just ended has then resumed, and recorded
/// its pause. False if one never did.
private func waitUntilEachRuns(_ progress: Locked<[Int]>) -> Bool {
    let seen = progress.withLock { $0 }
    for _ in 0..<10_000_000 {
        if progress.withLock({ zip($0, seen).allSatisfy { $0 > $1 } }) { return true }
        sched_yield()
    }
    return false
}
