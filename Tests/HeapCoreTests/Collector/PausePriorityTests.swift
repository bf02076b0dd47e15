// The stopper's priority during a pause (Platform/PausePriority.swift): raised by the boost for
// the pause alone, on the stopper's thread alone, and put back after.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

@Suite struct PausePriorityTests {
    private func ownNice() -> Int32 {
        getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }

    /// Where the system allows it (CAP_SYS_NICE or RLIMIT_NICE: tests run as root here), the
    /// pause runs `boost` nice levels above the stopper's own priority; where it does not, the
    /// state says refused and the pause runs at the stopper's own. Either way the priority is
    /// the thread's own again after the pause, and another mutator's never changes.
    @Test func aPauseRaisesTheStoppersPriorityForItsLengthAlone() {
        let heap = Heap(collector: CollectorConfiguration(automatic: false, idleInterval: nil, pausePriorityBoost: 5))
        #expect(heap.pausePriorityState == .raised, "not tried yet")
        let parked = DispatchSemaphore(value: 0), done = Atomic<Bool>(false)
        let otherBefore = Atomic<Int32>(0), otherAfter = Atomic<Int32>(0)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            defer { heap.detachCurrentThread() }
            if i == 0 {
                parked.wait()
                let before = self.ownNice()
                let during = heap.stopTheWorld { self.ownNice() }
                if heap.pausePriorityState == .raised {
                    #expect(during == max(before - 5, -20))
                } else {
                    #expect(heap.pausePriorityState == .refused)
                    #expect(during == before)
                }
                #expect(self.ownNice() == before)
                done.store(true, ordering: .relaxed)
            } else {
                otherBefore.store(self.ownNice(), ordering: .relaxed)
                parked.signal()
                while !done.load(ordering: .relaxed) { m.safepoint() }
                otherAfter.store(self.ownNice(), ordering: .relaxed)
            }
        }
        #expect(otherBefore.load(ordering: .relaxed) == otherAfter.load(ordering: .relaxed))
    }

    @Test func aBoostOfZeroLeavesThePriorityAlone() {
        let heap = Heap(collector: CollectorConfiguration(automatic: false, idleInterval: nil, pausePriorityBoost: 0))
        #expect(heap.pausePriorityState == .off)
        withMutator(heap) { _ in
            let before = self.ownNice()
            #expect(heap.stopTheWorld { self.ownNice() } == before)
        }
    }

    @Test func theBoostIsKeptToNiceValues() {
        #expect(CollectorConfiguration(pausePriorityBoost: 99).pausePriorityBoost == 20)
        #expect(CollectorConfiguration(pausePriorityBoost: -3).pausePriorityBoost == 0)
        #expect(CollectorConfiguration().pausePriorityBoost == CollectorConfiguration.defaultPausePriorityBoost)
        #expect(CollectorConfiguration(validationAssists: 9).validationAssists == ConcurrentDetection.assistants)
        #expect(CollectorConfiguration().validationAssists == 0)
    }

    /// A system that allows less than the boost (RLIMIT_NICE without CAP_SYS_NICE): the first
    /// raise is refused, the stopper takes what the limit allows, and later pauses ask for that
    /// at once. One that allows nothing: refused once, never tried again.
    @Test func aRefusedBoostFallsBackToTheLimitOrToNothing() {
        let calls = Mutex<[Int32]>([])
        let allowing = PausePriority(boost: 10, ownNice: { 0 }, setNice: { nice in
            calls.withLock { $0.append(nice) }
            return nice >= -4
        }, limit: { -4 })
        #expect(allowing.raise() == 0)
        #expect(allowing.raise() == 0)
        #expect(calls.withLock { $0 } == [-10, -4, -4])
        #expect(allowing.state == .raised)
        calls.withLock { $0 = [] }
        let refusing = PausePriority(boost: 10, ownNice: { 0 }, setNice: { nice in
            calls.withLock { $0.append(nice) }
            return nice >= 0
        }, limit: { 0 })
        #expect(refusing.raise() == nil)
        #expect(refusing.raise() == nil)
        #expect(calls.withLock { $0 } == [-10], "tried once")
        #expect(refusing.state == .refused)
    }
}
