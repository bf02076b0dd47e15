// Safepoints and stop-the-world: how one mutator gets every other one to hold still.
//
// Mutator states (in MutatorStorage.worldState, changed only under `World`'s mutex, through
// `setWorldStateLocked`, which keeps the count of running mutators):
//
//   World.runningCount == |{m in the mutator table : m.worldState == .running}|
//
// (checked at every change in debug builds). Every change to `running` happens with the stop flag
// read down under the mutex, and the flag changes only under the mutex.
//
//   state     meaning                                             enters on
//   running   runs heap code; must reach a safepoint to stop      attach; leaving a blocking region;
//                                                                 resuming from a park (each with the
//                                                                 flag down, read under the mutex)
//   parked    stopped at a safepoint until the world resumes      safepoint() while a stop is
//                                                                 requested
//   blocked   in a blocking region (a channel wait, idle): it     enterBlockingRegion(); yielding the
//             touches no object, so it counts as parked           global lock; detach (just before
//                                                                 leaving the table)
//
// Handshake (CPython's stop-the-world in the free-threaded build, in small):
//   1. the stopper (itself a mutator, running) raises `stopRequested` under the mutex, then waits
//      until it is the only running mutator (`runningCount == 1`): it spins on the count
//      (`World.handshakeSpin`), and only then waits on the condition;
//   2. a mutator whose safepoint sees the flag marks itself parked under the mutex (waking the
//      stopper if it was the last one running), spins on the flag (`World.resumeSpin`), then
//      takes the mutex, waits on the condition while the flag is up, marks itself running and
//      records the pause it saw (`mutatorPauses`);
//   3. the stopper drains every BRC merge queue (merging on its own thread, keeping each queue's
//      reference), then runs the pause's work with the world quiescent;
//   4. it lowers the flag under the mutex and wakes everyone, then drops the references the
//      queues held: an object freed by that runs its finalizer with the world running, never
//      inside the pause. Attaching, and leaving a blocking region, wait while the world is stopped.
//   A stop is not requested while a thread released by the last pause is still on its way out:
//   parked (`World.parkedCount`) or inside `waitWhileStoppedLocked` (`World.stoppedWaiters`);
//   the next stopper waits for them to leave first (`World.isClearOfLastPause`). Otherwise
//   back-to-back pauses (a concurrent collection's validation batches) would start while the
//   threads woken at the end of the last one are waking up — runnable, needing a CPU and the
//   mutex, only to wait again — and on a machine with no spare CPU the stopper lost its own to
//   them for a scheduler tick or two (4–8 ms pauses of 60 µs of work). The wait for them is
//   handshake time.
// Why the spins are safe: once the flag is up, no mutator becomes running until the stopper lowers
// it (every way to `running` reads the flag under the mutex), so `runningCount` only falls, and a
// 1 the stopper reads outside the mutex stays 1 for the whole pause. A parked mutator's spin only
// decides when to take the mutex; whether it may run is decided there.
// Orderings: `runningCount` changes only by read-modify-writes, all releasing, so they form one
// release sequence and the stopper's acquiring load that reads 1 synchronises with the decrement
// of every mutator that parked or blocked — their heap writes happen before the pause's. The
// other direction goes through the mutex: a resuming mutator reads the lowered flag under it.
//
// The spins exist because a futex sleep and wake-up costs microseconds to tens of microseconds,
// and up to a scheduler tick (4 ms) on a 2-CPU machine that another process keeps busy, on both
// sides of the handshake. They pay only when the thread awaited runs on another CPU, so their
// budgets adapt between 2 and 20 µs (AdaptiveSpin, Platform/Synchronizers.swift). The
// safepoint's fast path is still one relaxed load of `stopRequested`. Only one stop runs at a
// time (`stopper` serialises them).

import Histogram
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

enum MutatorWorldState: UInt8 {
    case running
    case parked
    case blocked
}

/// The mutex and condition variable of the handshake, the count of running mutators, who holds
/// the pause, and the pauses mutators saw.
final class World: Sendable {
    /// The longest spin of either side of the handshake before it waits on the condition: some
    /// futex round trips' worth, and short beside a collection's pause (a young one takes some
    /// hundreds of microseconds). The shortest: a few polls, so that a spin that no longer pays
    /// costs almost nothing and can still find out that it pays again.
    static let maximumSpinNanoseconds: UInt64 = 20_000
    static let minimumSpinNanoseconds: UInt64 = 2_000

    /// The stopper's spin, waiting for the others to park.
    let handshakeSpin = AdaptiveSpin(minimumNanoseconds: minimumSpinNanoseconds, maximumNanoseconds: maximumSpinNanoseconds)
    /// A parked mutator's spin, waiting for the world to resume (shared by the heap's mutators:
    /// whether it pays depends on the pauses' length, the same for all of them).
    let resumeSpin = AdaptiveSpin(minimumNanoseconds: minimumSpinNanoseconds, maximumNanoseconds: maximumSpinNanoseconds)

    private let condition = MutexCondition()
    /// Serialises stoppers. A mutator waiting for it is in a blocking region, so two mutators
    /// asking for a pause at once cannot wait for each other.
    let stopper = Lock()
    /// The id of the mutator whose pause is running (0: none), to refuse a pause inside a pause
    /// instead of deadlocking. Written by the stopper, read relaxed by anyone (a thread only ever
    /// compares it with its own id, which only it can have written).
    let stopperID = Atomic<UInt32>(0)
    /// Attached mutators whose state is `running` (the equation at the top of the file). Changed
    /// only under the mutex, by releasing read-modify-writes (`Heap.setWorldStateLocked`); read
    /// under the mutex, or by the spinning stopper with an acquiring load.
    let runningCount = Atomic<Int>(0)
    /// Threads inside `Heap.waitWhileStoppedLocked` (parked, or attaching or leaving a blocking
    /// region while the world is stopped), and mutators whose state is `parked`. Under the
    /// mutex; a stopper raises the flag only when both are 0 (top of the file).
    /// `nonisolated(unsafe)`: the mutex guards them.
    nonisolated(unsafe) var stoppedWaiters = 0
    nonisolated(unsafe) var parkedCount = 0

    /// Whether every thread the last pause released is out of it. Under the mutex.
    var isClearOfLastPause: Bool { stoppedWaiters == 0 && parkedCount == 0 }
    /// One entry per park: the pause the parked mutator saw, in nanoseconds. Under the mutex.
    /// `nonisolated(unsafe)`: the mutex, not the type system, guards it.
    private nonisolated(unsafe) var mutatorPauseHistogram = CollectorTotals.nanosecondHistogram()

    /// Whether mutator `id` is the one whose pause is running.
    func isStopped(by id: UInt32) -> Bool { stopperID.load(ordering: .relaxed) == id }

    func withLock<R>(_ body: () -> R) -> R { condition.withLock(body) }

    /// Waits for a change; the mutex must be held (inside `withLock`).
    func wait() { condition.wait() }

    /// Tells every waiter that something changed; the mutex must be held.
    func broadcast() { condition.broadcast() }

    /// The debug-build check of "world mutex held" (MutexCondition.assertHeldByCurrentThread).
    @inline(__always)
    func assertLocked(_ function: StaticString = #function) {
        condition.assertHeldByCurrentThread(function)
    }

    /// Records a pause a mutator saw; the mutex must be held.
    func recordMutatorPauseLocked(_ nanoseconds: UInt64) {
        assertLocked()
        _ = mutatorPauseHistogram.record(min(max(nanoseconds, 1), mutatorPauseHistogram.highestTrackableValue))
    }

    /// A copy of the pauses mutators saw (`CollectorTotals.mutatorPauses`).
    var mutatorPauses: Histogram<UInt64> { withLock { mutatorPauseHistogram } }
}

/// How long a pause took, in nanoseconds.
struct PauseTiming {
    /// The time to safepoint: from raising the stop flag until every other mutator was parked
    /// or blocked.
    var handshakeNanoseconds: UInt64 = 0
    /// The pause itself: from then until the flag is lowered.
    var pauseNanoseconds: UInt64 = 0
}

extension Heap {
    /// Whether the calling thread is the one that has stopped the world (in a finalizer, say),
    /// where `collect()` and `stopTheWorld` would be refused.
    public var isInsidePause: Bool {
        guard let me = Mutator.current else { return false }
        return world.isStopped(by: me.id)
    }

    /// The debug-build check of "world stopped" (CPython's assert(world_stopped)): the calling
    /// thread is a mutator of this heap whose pause is running. Free in release builds; not for
    /// the pause's worker threads, which are not mutators.
    @inline(__always)
    func assertWorldStopped(_ function: StaticString = #function) {
        assert(isInsidePause, "heapd: \(function) needs the world stopped by the calling thread")
    }

    /// The debug-build check for work a stopper may share with the mutators that assist it
    /// (CollectionAssists.swift): the world is stopped by the calling thread, or by another while
    /// the caller, a mutator of this heap, is parked or blocked.
    @inline(__always)
    func assertWorldStoppedForCollection(_ function: StaticString = #function) {
        #if DEBUG
        guard !isInsidePause else { return }
        let me = Mutator.current
        assert(world.stopperID.load(ordering: .relaxed) != 0 && me?.storage.pointee.worldState != .running
               && me?.storage.pointee.heap == Unmanaged.passUnretained(self).toOpaque(),
               "heapd: \(function) needs the world stopped, by the calling thread or by the stopper it assists")
        #endif
    }

    /// Stops every other mutator at a safepoint (or in a blocking region), drains the merge queues,
    /// runs `body` with the world quiescent, and resumes everyone. The caller must be a mutator of
    /// this heap; its own state does not matter.
    public func stopTheWorld<R>(_ body: () -> R) -> R {
        var timing = PauseTiming()
        return stopTheWorld(timing: &timing, body)
    }

    /// `stopTheWorld`, measuring the pause: from raising the flag to resuming everyone.
    func stopTheWorld<R>(timing: inout PauseTiming, _ body: () -> R) -> R {
        guard let me = Mutator.current, me.storage.pointee.heap == Unmanaged.passUnretained(self).toOpaque() else {
            misuse("heapd: stopTheWorld from a thread that is not a mutator of this heap")
        }
        let (result, drained) = pause(by: me, timing: &timing, body)
        // The merge queues' references, dropped with the world running and the pause over: an
        // object that dies of it runs its finalizer and callbacks as any release does.
        for object in drained { me.release(object) }
        return result
    }

    /// The pause itself. The merge queues are drained into `drained` (each object merged, the
    /// queue's reference now the stopper's), not released here: the last reference's release
    /// would run program code (finalizers, callbacks) with the world stopped. While the pause
    /// runs, `pauseHeld` lists them for the verifier.
    private func pause<R>(by me: Mutator, timing: inout PauseTiming, _ body: () -> R) -> (R, [ObjectRef]) {
        require(world.stopperID.load(ordering: .relaxed) != me.id,
                "heapd: the world is already stopped by this thread (a collection or stopTheWorld called from inside a pause, e.g. from a finalizer)")
        // Waiting for another stopper to finish counts as parked: that stopper may be waiting for
        // this mutator to park.
        me.enterBlockingRegion()
        world.stopper.lock()
        me.leaveBlockingRegion()
        world.stopperID.store(me.id, ordering: .relaxed)
        defer {
            world.stopperID.store(0, ordering: .relaxed)
            world.stopper.unlock()
        }
        // From before the flag goes up until everyone is resumed (Platform/PausePriority.swift).
        let ownPriority = pausePriority.raise()
        defer { pausePriority.restore(ownPriority) }
        let start = monotonicNanoseconds()
        world.withLock {
            // The threads the last pause released leave their wait first (top of the file).
            while !world.isClearOfLastPause { world.wait() }
            // Sequentially consistent: a mutator that attaches or leaves a blocking region
            // checks the flag under the same mutex; safepoints read it relaxed and then lock.
            counters.pointee.stopRequested.store(true, ordering: .sequentiallyConsistent)
        }
        waitUntilOthersStop(me)
        let stopped = monotonicNanoseconds()
        timing.handshakeNanoseconds = stopped - start
        var drained: [ObjectRef] = []
        for (id, queue) in mutators.withLock({ table in table.map { ($0.key, $0.value.mergeQueue) } }) where !queue.isEmpty {
            for bits in takeMergeQueue(of: id) {
                let object = ObjectRef(bits: bits)!
                _ = BiasedCounting.merge(object, extra: 0)
                drained.append(object)
            }
        }
        // Every mutator's stripe counts, so that the pause's counts are exact; dead stripes
        // are held like a merge queue's objects (Objects/Heap+Striping.swift).
        drained += mergeStripes()
        pauseHeld = drained
        let result = body()
        // A collection may have taken some over as garbage (Finalization.swift).
        drained = pauseHeld
        pauseHeld = []
        world.withLock {
            counters.pointee.stopRequested.store(false, ordering: .sequentiallyConsistent)
            // The world runs from here: a stopper descheduled on its way out of the mutex (the
            // broadcast's wakee may take its CPU) holds nobody up.
            timing.pauseNanoseconds = monotonicNanoseconds() - stopped
            world.broadcast()
        }
        return (result, drained)
    }

    /// Returns once every attached mutator but `me` (the stopper, running) is parked or blocked:
    /// spins on the count of running mutators first, then waits on the condition.
    private func waitUntilOthersStop(_ me: Mutator) {
        assert(me.storage.pointee.worldState == .running, "heapd: a stopper that is not running")
        // Acquiring: pairs with the releasing read-modify-writes of `setWorldStateLocked` (one
        // release sequence), so the heap writes of every mutator that parked or blocked happen
        // before the pause's work, as they would through the mutex.
        if world.handshakeSpin.spin(until: { world.runningCount.load(ordering: .acquiring) == 1 }) { return }
        world.withLock {
            // Relaxed: under the mutex, which every change of the count holds.
            while world.runningCount.load(ordering: .relaxed) != 1 { world.wait() }
        }
    }

    /// Moves `storage` to `state`, keeping `World.runningCount`; wakes a waiting stopper when the
    /// count falls to 1 (the stopper alone runs). World mutex held; `storage` is in the mutator
    /// table (attach inserts it before it runs; detach blocks it before it leaves).
    func setWorldStateLocked(_ storage: UnsafeMutablePointer<MutatorStorage>, to state: MutatorWorldState) {
        world.assertLocked()
        let wasRunning = storage.pointee.worldState == .running
        if storage.pointee.worldState == .parked {
            world.parkedCount -= 1
            // The last one out wakes a stopper waiting to raise the flag again.
            if world.isClearOfLastPause { world.broadcast() }
        }
        if state == .parked { world.parkedCount += 1 }
        storage.pointee.worldState = state
        // Releasing, every change: pairs with the stopper's acquiring load in `waitUntilOthersStop`.
        if wasRunning && state != .running {
            if world.runningCount.wrappingSubtract(1, ordering: .releasing).newValue == 1 { world.broadcast() }
        } else if !wasRunning && state == .running {
            world.runningCount.wrappingAdd(1, ordering: .releasing)
        }
        assertRunningCountLocked()
    }

    /// The debug-build check of the equation at the top of the file, and of `World.parkedCount`.
    /// World mutex held.
    @inline(__always)
    func assertRunningCountLocked(_ function: StaticString = #function) {
        #if DEBUG
        let (running, parked) = mutators.withLock { table in
            (table.values.count { $0.storage.pointee.worldState == .running }, table.values.count { $0.storage.pointee.worldState == .parked })
        }
        assert(world.runningCount.load(ordering: .relaxed) == running,
               "heapd: \(function): runningCount \(world.runningCount.load(ordering: .relaxed)) but \(running) mutators running")
        assert(world.parkedCount == parked, "heapd: \(function): parkedCount \(world.parkedCount) but \(parked) mutators parked")
        #endif
    }

    /// Waits while the world is stopped. World mutex held.
    func waitWhileStoppedLocked() {
        world.assertLocked()
        guard counters.pointee.stopRequested.load(ordering: .relaxed) else { return }
        world.stoppedWaiters += 1
        while counters.pointee.stopRequested.load(ordering: .relaxed) { world.wait() }
        world.stoppedWaiters -= 1
        // The last one out wakes a stopper waiting to raise the flag again.
        if world.isClearOfLastPause { world.broadcast() }
    }

    /// Waits while the world is stopped, then marks `storage` running. World mutex held.
    func waitForResumeLocked(_ storage: UnsafeMutablePointer<MutatorStorage>) {
        world.assertLocked()
        waitWhileStoppedLocked()
        setWorldStateLocked(storage, to: .running)
    }
}

extension Mutator {
    /// Parks here if a stop is requested. Budget when none is: one relaxed load.
    @inline(__always)
    func pollStopRequest() {
        if storage.pointee.counters.pointee.stopRequested.load(ordering: .relaxed) {
            park()
        }
    }

    @inline(never)
    private func park() {
        assertOnOwnThread()
        // The stopper itself polls too (a finalizer that allocates): it does not wait for itself.
        if isInsidePause { return }
        // Quiescent, but the blocks it may now free wait until the pause is over: freeing a
        // tree's worth of them here (milliseconds) would hold the pause up.
        announceQuiescence()
        defer { quiescentPoint() }
        withHeap { heap in
            let parkedAt = monotonicNanoseconds()
            heap.world.withLock { heap.setWorldStateLocked(storage, to: .parked) }
            assistValidation(in: heap)
            let counters = storage.pointee.counters
            // Relaxed: a lowered flag seen here only sends this thread to the mutex, where
            // `waitForResumeLocked` reads the flag again (and orders what the pause wrote).
            _ = heap.world.resumeSpin.spin { !counters.pointee.stopRequested.load(ordering: .relaxed) }
            heap.world.withLock {
                heap.waitForResumeLocked(storage)
                heap.world.recordMutatorPauseLocked(monotonicNanoseconds() - parkedAt)
            }
        }
    }

    /// Marks this mutator as blocked (waiting on a channel, idle): it counts as parked, so the
    /// world can stop without it. It must touch no object until `leaveBlockingRegion()`. Its
    /// batched young count is published first (an idle-time collection should see it), and under
    /// the global-lock policy it lets go of the lock (as CPython releases the GIL around I/O).
    public func enterBlockingRegion() {
        enterBlockingRegion(handingOverGlobalLock: false)
    }

    /// `enterBlockingRegion`; under the global-lock policy with `handingOverGlobalLock`, returns
    /// only once a waiting mutator has taken the lock, and queued for it again (a yield at the
    /// switch interval: `leaveBlockingRegion(queuedForGlobalLock: true)` must follow).
    func enterBlockingRegion(handingOverGlobalLock handOver: Bool) {
        assertOnOwnThread()
        // Only this thread writes its own state, so reading it here needs no lock.
        require(storage.pointee.worldState != .blocked, "heapd: enterBlockingRegion inside a blocking region (they do not nest)")
        if storage.pointee.youngDelta != 0 { flushYoungDelta(poll: false) }
        quiescentPoint()
        goOfflineForReclamation()
        withHeap { heap in
            heap.world.withLock { heap.setWorldStateLocked(storage, to: .blocked) }
            if storage.pointee.policy == .globalLock {
                if handOver { heap.globalLock.releaseQueueing() } else { heap.globalLock.release() }
            }
        }
    }

    /// Ends a blocking region: takes the global lock back (global-lock policy), then waits if
    /// the world is stopped.
    public func leaveBlockingRegion() {
        leaveBlockingRegion(queuedForGlobalLock: false)
    }

    func leaveBlockingRegion(queuedForGlobalLock queued: Bool) {
        assertOnOwnThread()
        withHeap { heap in
            if storage.pointee.policy == .globalLock { heap.globalLock.acquire(queued: queued) }
            heap.world.withLock { heap.waitForResumeLocked(storage) }
        }
        comeOnlineForReclamation()
    }
}
