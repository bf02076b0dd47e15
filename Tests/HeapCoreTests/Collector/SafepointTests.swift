// Stop-the-world: while a pause's body runs, no other mutator runs heap code.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

@Suite struct SafepointTests {
    @Test(arguments: [RefCountPolicyKind.biased, .atomic])
    func noMutatorRunsHeapCodeDuringAPause(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["next"])
        let workers = 3
        // Each worker counts the iterations it runs between safepoints. During a pause the stopper
        // reads the counts, yields the CPU many times (a running worker would advance), and reads
        // them again: they must not have moved.
        let iterations = Locked<[Int]>(Array(repeating: 0, count: workers))
        let pauses = 200
        let moved = Atomic<Int>(0)
        let ready = Barrier(parties: workers + 1)
        let done = Atomic<Bool>(false)
        runOnThreads(workers + 1) { i in
            let m = heap.attachCurrentThread()
            ready.wait()
            if i == workers {
                for _ in 0..<pauses {
                    heap.stopTheWorld {
                        let before = iterations.withLock { $0 }
                        for _ in 0..<20 { sched_yield() }
                        if iterations.withLock({ $0 }) != before { moved.add(1, ordering: .relaxed) }
                        #expect(heap.verify(roots: []) == [])
                    }
                    m.safepoint()
                }
                done.store(true, ordering: .releasing)
            } else {
                while !done.load(ordering: .acquiring) {
                    m.safepoint()
                    let a = m.new(node)!, b = m.new(node)!
                    m.store(b, into: a, slot: 0)
                    m.release(b)
                    m.release(a)
                    iterations.withLock { $0[i] += 1 }
                }
            }
            heap.detachCurrentThread()
        }
        let pausesWithProgress = moved.load(ordering: .relaxed)
        #expect(pausesWithProgress == 0)
        #expect(iterations.withLock { $0.allSatisfy { $0 > 0 } })
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }

    @Test func aBlockedMutatorCountsAsParkedAndWaitsToLeaveUntilTheWorldResumes() {
        let heap = Heap(policy: .biased, collector: .manual)
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let leftDuringPause = Atomic<Bool>(false)
        let pauseRunning = Atomic<Bool>(false)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                m.enterBlockingRegion()
                entered.signal()
                release.wait()                       // blocked: the pause must not wait for us
                m.leaveBlockingRegion()              // the world may be stopped: wait for it
                if pauseRunning.load(ordering: .acquiring) { leftDuringPause.store(true, ordering: .relaxed) }
            } else {
                entered.wait()
                heap.stopTheWorld {
                    pauseRunning.store(true, ordering: .releasing)
                    release.signal()
                    // Give the blocked thread every chance to (wrongly) leave during the pause.
                    for _ in 0..<1000 { sched_yield() }
                    pauseRunning.store(false, ordering: .releasing)
                }
            }
            heap.detachCurrentThread()
        }
        let left = leftDuringPause.load(ordering: .relaxed)
        #expect(!left)
    }

    @Test func attachingWaitsWhileTheWorldIsStopped() {
        let heap = Heap(policy: .biased, collector: .manual)
        let attachedDuringPause = Atomic<Bool>(false)
        let pauseRunning = Atomic<Bool>(false)
        let stopping = DispatchSemaphore(value: 0)
        runOnThreads(2) { i in
            if i == 0 {
                let m = heap.attachCurrentThread()
                heap.stopTheWorld {
                    pauseRunning.store(true, ordering: .releasing)
                    stopping.signal()
                    for _ in 0..<1000 { sched_yield() }
                    pauseRunning.store(false, ordering: .releasing)
                }
                _ = m
                heap.detachCurrentThread()
            } else {
                stopping.wait()
                heap.attachCurrentThread()
                if pauseRunning.load(ordering: .acquiring) { attachedDuringPause.store(true, ordering: .relaxed) }
                heap.detachCurrentThread()
            }
        }
        let attached = attachedDuringPause.load(ordering: .relaxed)
        #expect(!attached)
    }

    @Test func mergeQueuesAreDrainedDuringThePause() {
        let heap = Heap(policy: .biased, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["next"])
        let object = Locked<ObjectRef?>(nil)
        let queued = DispatchSemaphore(value: 0)
        let drained = DispatchSemaphore(value: 0)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                let a = m.new(node)!
                object.withLock { $0 = a }             // the other thread takes this reference
                m.enterBlockingRegion()                // the owner sits blocked, its queue unmerged
                queued.signal()
                drained.wait()
                m.leaveBlockingRegion()
            } else {
                queued.wait()
                let a = object.withLock { $0! }
                m.release(a)                           // shared was 0: queued to the blocked owner
                #expect(SharedState.state(a.header.pointee.shared.load(ordering: .relaxed)) == SharedState.queued)
                heap.stopTheWorld {
                    // Merged, the queue's reference now the pause's: alive until the world runs
                    // again (a death inside the pause would run its finalizer there).
                    #expect(SharedState.state(a.header.pointee.shared.load(ordering: .relaxed)) == SharedState.merged)
                    #expect(a.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0)
                    #expect(heap.verify(roots: []) == [])
                }
                // Dropped as the pause ended.
                #expect(heap.liveObjectsByType().isEmpty)
                drained.signal()
            }
            heap.detachCurrentThread()
        }
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }
}

@Suite struct ConcurrentCollectionTests {
    @Test func mutatorsCollectingAtTheSameTimeDoNotWaitForEachOther() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let found = Atomic<Int>(0)
        runOnThreads(3) { _ in
            let m = heap.attachCurrentThread()
            for _ in 0..<30 {
                let (a, b) = makeTwoObjectCycle(m, node)
                m.release(a)
                m.release(b)
                found.add(heap.collect().unreachable, ordering: .relaxed)
                m.safepoint()
            }
            heap.detachCurrentThread()
        }
        // Every cycle is found by exactly one collection.
        #expect(found.load(ordering: .relaxed) == 3 * 30 * 2)
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }
}

@Suite struct MutatorThreadExitTests {
    @Test func aMutatorWhoseThreadExitsAttachedIsDetachedSoPausesDoNotWaitForIt() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        runOnThreads(1) { _ in
            let m = heap.attachCurrentThread()
            let a = m.new(node)!
            m.store(a, into: a, slot: 0)                 // leave a cycle behind
            m.release(a)
            // No detach: the thread ends attached.
        }
        var spins = 0
        while heap.attachedMutators != 0 && spins < 1_000_000 { spins += 1; sched_yield() }
        #expect(heap.attachedMutators == 0)
        withMutator(heap) { _ in
            #expect(heap.collect().unreachable == 1)     // the pause did not wait for the dead thread
        }
        heap.allocator.collect()
        #expect(heap.allocator.statistics().liveBlocks == 0)
    }
}
