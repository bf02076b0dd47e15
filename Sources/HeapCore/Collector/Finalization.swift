// Finalization: tearing down cyclic garbage in CPython's order (gc.c and PEP 442), with
// finalizers and weak-reference callbacks run while the world runs, as gc_free_threading.c does
// (so that they may block, send, receive, join threads and collect):
//
//   detect    (concurrent mode only) the walk and trial deletion with the world running, giving
//             tentative garbage (ConcurrentDetection.swift)
//   pause 1   find the garbage: stop-the-world mode walks and runs trial deletion here
//             (CandidateWalk, TrialDeletion); concurrent mode validates the tentative garbage
//             instead, in time proportional to it. Then clear the weak references to it,
//             keeping the callbacks of those that are not garbage themselves. If no garbage
//             object has a finalizer left to run and no callback is due, go straight to 4 (a
//             concurrent collection marks the garbage dead and does 4 just after the pause:
//             nothing can reach it, and heap walks skip dead objects). Otherwise take one reference to each garbage object (the collector's hold), so
//             that nothing frees it by counting while the world runs — not even a finalizer that
//             clears the slot holding its own cycle.
//   running   2. the weak-reference callbacks, then each finalizer once (marked `finalized`,
//             never again for that object), on the collecting thread
//   pause 2   3. trial deletion again, over the garbage alone and with its counts less the hold:
//             what is referenced from outside it now was resurrected, and lives on with all it
//             reaches (its hold is dropped in 5); weak references made to the rest while the
//             world ran are cleared
//             4. free what remains: empty its slots that name objects outside it (keeping those
//             references for 5) and give its blocks back. Its counts are not touched — only
//             other garbage references it — so there is no atomic operation per garbage object,
//             whoever owns it.
//   running   5. release the references kept in 3 and 4: acyclic objects that die of it are
//             freed as any release frees them, their finalizers and callbacks running with the
//             world running; then the callbacks found in 3 run.
//
// One collection runs at a time, from pause 1 to step 5 (CollectionGate): a thread that asks for
// another waits, so that when collect() returns, what was garbage when it was called is gone —
// not held by another thread's collection. The exception is a finalizer or callback that
// collects: it runs its collection inside the one that called it, on the same thread. That
// nested collection sees the held garbage as referenced from outside and keeps it; pause 2
// takes an epoch of its own, so nothing computed in pause 1 is trusted after the world has run.
// (A finalizer that waits for a thread that is itself waiting to collect never ends: don't. One
// that waits for a mutator that pacing holds is fine: program code on the collecting thread
// suspends pacing — ConcurrentDetection.swift.)

import Synchronization

extension Heap {
    /// Collects `generation` (2, the default, is a full collection; Python's gc.collect(g)):
    /// stops the world, finds cyclic garbage by trial deletion over the tracked objects of that
    /// generation and younger, runs weak-reference callbacks and finalizers with the world
    /// running, frees what is still garbage after them, and moves the survivors one generation
    /// up. The caller must be a mutator of this heap, outside a pause. If another collection is
    /// pausing the world, this one waits for it and then runs: it is never skipped.
    @discardableResult
    public func collect(generation: Int = 2) -> CollectionResult {
        require((0...2).contains(generation), "heapd: collect(generation: \(generation)): generations are 0, 1 and 2")
        guard let me = Mutator.current else { misuse("heapd: collect() from a thread that is not a mutator") }
        return collect(generation, by: me, reason: .explicit)
    }

    /// One collection, with its callbacks and statistics.
    @discardableResult
    func collect(_ generation: Int, by me: Mutator, reason: CollectionReason) -> CollectionResult {
        // Before anything waits: a concurrent collection's walk would wait for this pause to end.
        require(!world.isStopped(by: me.id),
                "heapd: the world is already stopped by this thread (a collection or stopTheWorld called from inside a pause, e.g. from a finalizer)")
        collectionGate.enter(as: me)
        defer { collectionGate.leave(as: me) }
        let stripesFreed = stripes.freed.load(ordering: .relaxed)
        var result = CollectionResult(generation: generation, reason: reason, mode: collectionMode)
        invokeCollectionCallbacks(.start, result)
        var teardown = Teardown()
        teardown.freesAfterPause = result.mode == .concurrent
        var timing = PauseTiming()
        var cpu = threadCPUNanoseconds()
        // Nothing is unmapped from here until validation is over: the walk's addresses stay
        // readable for it. A small walk runs in the pause (ConcurrentDetection.pausePages).
        var plan: ConcurrentWalkPlan?
        if result.mode == .concurrent {
            allocator.beginConcurrentWalk()
            let listed = allocator.concurrentWalkPlan(inPagesMarked: pageMarks(collecting: generation))
            if listed.pages.count <= pauseWalkPages && listed.large.isEmpty {
                allocator.endConcurrentWalk()
                result.mode = .stopTheWorld
            } else {
                plan = listed
            }
        }
        switch plan {
        case nil:
            stopTheWorld(timing: &timing) { findGarbage(&result, by: me, into: &teardown) }
        case let plan?:
            let start = monotonicNanoseconds()
            me.enterBlockingRegion()
            beginPacing(waking: true)
            let outcome = concurrentDetection.detect(in: self, generation: generation, plan: plan)
            me.leaveBlockingRegion()
            result.concurrentNanoseconds = monotonicNanoseconds() - start
            testHooks?.beforeValidation?(outcome.tentative.map { ObjectRef(bits: $0)! })
            result.candidates = outcome.candidates
            result.pagesWalked = outcome.pages
            result.pagesAssisted = outcome.pagesAssisted
            result.tentative = outcome.tentative.count
            // One pause per group of batches (one batch unless mutators may assist); the first
            // also when there is nothing to validate (the counts restart in it).
            let batches = outcome.batches.isEmpty ? [0..<0] : outcome.batches
            let perPause = 1 + validationAssistants()
            concurrentDetection.beginValidation(shared: perPause > 1)
            for (number, first) in stride(from: 0, to: batches.count, by: perPause).enumerated() {
                var each = PauseTiming()
                let group = batches[first..<min(first + perPause, batches.count)].map { outcome.tentative[$0] }
                stopTheWorld(timing: &each) {
                    validateGarbage(group, first: number == 0, &result, by: me, into: &teardown)
                }
                // The counts restarted in the first pause: so does pacing's budget. A mutator
                // waiting for room waits on until the garbage is freed: woken between pauses,
                // it would need a CPU while the next one runs (Safepoints.swift).
                if number == 0 { beginPacing() }
                timing.handshakeNanoseconds += each.handshakeNanoseconds
                timing.pauseNanoseconds += each.pauseNanoseconds
                result.pauses.append(each.pauseNanoseconds)
            }
            concurrentDetection.endValidation()
            concurrentDetection.trimTables()
            allocator.endConcurrentWalk()
        }
        if result.pauses.isEmpty { result.pauses.append(timing.pauseNanoseconds) }
        result.pauseNanoseconds = timing.pauseNanoseconds
        result.handshakeNanoseconds = timing.handshakeNanoseconds
        if !teardown.unreachable.isEmpty {
            let start = monotonicNanoseconds()
            if plan != nil { discountPacing(forFreeing: teardown.unreachable.reduce(0) { $0 + $1.garbage.count }) }
            result.batchesAssisted = shareTeardown(teardown.unreachable, by: me, releasing: &teardown.released)
            teardown.unreachable = []
            result.teardownNanoseconds = monotonicNanoseconds() - start
        }
        // Pacing lasts until the garbage is freed, and ends before program code runs
        // (finalizers, callbacks), which may allocate; at a bridge after an automatic
        // concurrent collection (ConcurrentDetection.swift). Any other collection lifts a
        // bridge left before it.
        endPacing(bridging: plan != nil && reason != .explicit)
        result.collectorCPUNanoseconds = threadCPUNanoseconds() - cpu
        if !teardown.held.isEmpty {
            let start = monotonicNanoseconds()
            me.runWeakCallbacks(teardown.callbacks)
            teardown.callbacks = []
            result.finalized = runFinalizers(of: teardown.held, by: me)
            result.finalizationNanoseconds = monotonicNanoseconds() - start
            var second = PauseTiming()
            cpu = threadCPUNanoseconds()
            stopTheWorld(timing: &second) { freeHeldGarbage(&result, by: me, into: &teardown) }
            result.collectorCPUNanoseconds += threadCPUNanoseconds() - cpu
            result.pauses.append(second.pauseNanoseconds)
            result.pauseNanoseconds += second.pauseNanoseconds
            result.handshakeNanoseconds += second.handshakeNanoseconds
        }
        noteSurvivors(result.candidates - result.unreachable + result.resurrected, ofGeneration: generation)
        for referent in teardown.released { me.release(referent) }
        freeDeadStripes(freedBefore: stripesFreed, collected: result.unreachable > 0)
        me.runWeakCallbacks(teardown.callbacks)
        collectorState.withLock { $0.totals.record(result) }
        invokeCollectionCallbacks(.stop, result)
        return result
    }

    /// Pause 1 of a stop-the-world collection (steps 1 and, when nothing is left to run, 4).
    private func findGarbage(_ result: inout CollectionResult, by me: Mutator, into teardown: inout Teardown) {
        let generation = result.generation
        var clock = monotonicNanoseconds()
        func lap() -> UInt64 {
            let now = monotonicNanoseconds()
            defer { clock = now }
            return now - clock
        }
        let walk = collectCandidates(generation: generation)
        defer { walk.giveBack(to: collectorBuffers) }
        let candidates = walk.candidates
        clearEmptiedMarks(walk.pages, collecting: generation)
        result.findCandidatesNanoseconds = lap()
        let target = promotionTarget(of: generation)
        subtractPauseHeld(inEpoch: walk.epoch)
        let (garbage, epoch) = findUnreachable(in: candidates.buffer, epoch: walk.epoch, roots: walk.roots?.buffer, promotingTo: target)
        takeOverPauseHeld(inEpoch: epoch)
        result.trialDeletionNanoseconds = lap()
        result.candidates = candidates.count
        result.pagesWalked = walk.pages.count
        result.unreachable = garbage.count
        resetCounts(afterCollecting: generation)
        startTeardown(of: garbage, epoch: epoch, &result, by: me, into: &teardown, since: clock)
    }

    /// Pause 1 of a concurrent collection, once per group of batches of the tentative garbage:
    /// their validation (ConcurrentDetection.swift), shared with the mutators that assist it
    /// (CollectionAssists.swift), and the start of their teardown. The counts restart in the
    /// `first` one.
    private func validateGarbage(_ batches: [ArraySlice<UInt>], first: Bool, _ result: inout CollectionResult, by me: Mutator,
                                 into teardown: inout Teardown) {
        let start = monotonicNanoseconds()
        let validation = SharedValidation(batches, epochs: batches.map { _ in nextEpoch() }, promotingTo: promotionTarget(of: result.generation))
        let (found, assisted) = concurrentDetection.validate(validation, in: self)
        result.validationsAssisted += assisted
        for (garbage, epoch) in zip(found, validation.epochs) {
            takeOverPauseHeld(inEpoch: epoch)
            result.validated += garbage.count
            result.unreachable += garbage.count
        }
        result.trialDeletionNanoseconds += monotonicNanoseconds() - start
        if first { resetCounts(afterCollecting: result.generation) }
        for (garbage, epoch) in zip(found, validation.epochs) {
            startTeardown(of: garbage, epoch: epoch, &result, by: me, into: &teardown, since: monotonicNanoseconds())
        }
    }

    /// The merge queues' references this pause holds (Safepoints.swift) are not from outside: an
    /// object whose only reference it was is garbage with what only it reaches, as it would have
    /// been had the queue been merged before the pause. Takes them off the gc_refs of the pass of
    /// `epoch` (after update_refs). World stopped, by the caller or by the stopper it assists
    /// (writes only the scratch words of the pass's set).
    func subtractPauseHeld(inEpoch epoch: UInt) {
        for object in pauseHeld {
            let word = object.scratchWord.pointee.load(ordering: .relaxed)
            if Scratch.epoch(word) == epoch { object.scratchWord.pointee.store(word &- 1, ordering: .relaxed) }
        }
    }

    /// Garbage the pause held: the collection takes it over, and the pause's reference goes (a
    /// plain decrement: nothing outside the garbage references it). World stopped.
    private func takeOverPauseHeld(inEpoch epoch: UInt) {
        pauseHeld.removeAll { object in
            guard isUnreachable(object, epoch: epoch) else { return false }
            BiasedCounting.dropMergedReference(object)
            return true
        }
    }

    /// The rest of pause 1: clear the weak references to `garbage`, then hold it for the
    /// finalizers and callbacks, or free it now. `clock` is when the previous phase ended.
    private func startTeardown(of garbage: [ObjectRef], epoch: UInt, _ result: inout CollectionResult, by me: Mutator,
                               into teardown: inout Teardown, since clock: UInt64) {
        var clock = clock
        func lap() -> UInt64 {
            let now = monotonicNanoseconds()
            defer { clock = now }
            return now - clock
        }
        guard !garbage.isEmpty else { return }
        unstripe(garbage: garbage)
        clearWeakReferences(toGarbage: garbage, epoch: epoch, by: me, into: &teardown)
        let finalizable = finalizer != nil && garbage.contains { Heap.hasFinalizerToRun($0) }
        if finalizable || !teardown.callbacks.isEmpty {
            for object in garbage { me.retain(object) }
            teardown.held += garbage
            result.finalizationNanoseconds += lap()
            return
        }
        if teardown.freesAfterPause && !collectorState.withLock({ $0.saveAll }) {
            // Freed once the world runs again (collect): nothing can reach it, and marked dead
            // it is skipped by whatever walks the heap meanwhile (referrers, freeze).
            for object in garbage { me.markDead(object) }
            teardown.unreachable.append((garbage, epoch))
            return
        }
        free(garbage, epoch: epoch, &result, by: me, into: &teardown)
        result.teardownNanoseconds = lap()
    }

    /// Step 2's finalizers, world running: each held object whose finalizer has not run yet.
    /// Returns how many ran.
    private func runFinalizers(of held: [ObjectRef], by me: Mutator) -> Int {
        guard let finalizer else { return 0 }
        return runningProgramCode {
            var ran = 0
            for object in held where Heap.hasFinalizerToRun(object) {
                // A plain load and store, not an RMW: no other thread writes the bits of an
                // object nothing else references (only the collector, in a pause).
                let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
                object.header.pointee.gcBits.store(bits | GCBits.finalized, ordering: .relaxed)
                finalizer(me, object)
                ran += 1
            }
            return ran
        }
    }

    /// Pause 2 (steps 3 and 4).
    private func freeHeldGarbage(_ result: inout CollectionResult, by me: Mutator, into teardown: inout Teardown) {
        let start = monotonicNanoseconds()
        let target = promotionTarget(of: result.generation)
        let (garbage, epoch) = teardown.held.withUnsafeMutableBufferPointer {
            findUnreachable(in: $0, promotingTo: target, lessHeld: 1)
        }
        result.resurrected = teardown.held.count - garbage.count
        // The resurrected give their hold back in step 5 (dropping it now could not free them,
        // but whatever resurrected them may let go before then).
        for object in teardown.held where !isUnreachable(object, epoch: epoch) { teardown.released.append(object) }
        teardown.held = []
        unstripe(garbage: garbage)
        clearWeakReferences(toGarbage: garbage, epoch: epoch, by: me, into: &teardown)
        let middle = monotonicNanoseconds()
        result.finalizationNanoseconds += middle - start
        free(garbage, epoch: epoch, &result, by: me, into: &teardown)
        result.teardownNanoseconds = monotonicNanoseconds() - middle
    }

    /// Step 4: frees `garbage` (or, in save-all mode, keeps it in `garbage` with a reference
    /// each). World stopped, or (concurrent mode, nothing to finalize) just after the pause that
    /// found it and marked it dead, the gate still held; `epoch` is the pass that found it.
    private func free(_ garbage: [ObjectRef], epoch: UInt, _ result: inout CollectionResult, by me: Mutator, into teardown: inout Teardown) {
        if collectorState.withLock({ $0.saveAll }) {
            // As CPython's delete_garbage under DEBUG_SAVEALL: kept in the garbage list, and
            // moved to the next generation, whose mark their pages then carry (the verifier's
            // page marks) — left young in pages this collection unmarked, a later young pass
            // could touch them without walking them.
            let target = promotionTarget(of: result.generation)
            for object in garbage {
                me.retain(object)
                moveWorldStopped(object, toGeneration: target)
            }
            collectorState.withLock { $0.garbage.append(contentsOf: garbage) }
            result.saved = garbage.count
            return
        }
        freeUnreachable(garbage, by: me, releasing: &teardown.released)
    }

    /// Clears the weak references to `garbage` (found by the pass of `epoch`), keeping the
    /// callbacks of those that are not garbage themselves. World stopped.
    private func clearWeakReferences(toGarbage garbage: [ObjectRef], epoch: UInt, by me: Mutator, into teardown: inout Teardown) {
        let isGarbage: (ObjectRef) -> Bool = { self.isUnreachable($0, epoch: epoch) }
        for object in garbage where object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.hasWeakReferences != 0 {
            clearWeakReferences(to: object, mutator: me, callbacks: &teardown.callbacks, isGarbage: isGarbage)
        }
    }

    /// Whether `object`'s finalizer has still to run (PEP 442: once), by the collector or by
    /// the release that frees it.
    @inline(__always)
    static func hasFinalizerToRun(_ object: ObjectRef) -> Bool {
        object.header.pointee.flags & ObjectFlags.hasFinalizer != 0
            && object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.finalized == 0
    }
}

/// What a collection carries from its first pause to the steps after it.
private struct Teardown {
    /// Callbacks of live weak references to the garbage, each with a reference to the weak
    /// reference and one to the callback.
    var callbacks: [(weak: ObjectRef, callback: ObjectRef)] = []
    /// The garbage, one reference each (the hold), while finalizers run.
    var held: [ObjectRef] = []
    /// References to drop once the world runs again.
    var released: [ObjectRef] = []
    /// Garbage with nothing to finalize that a collection in concurrent mode frees once the world
    /// runs again (a small walk run in the pause too), each batch with the pass that found it.
    var unreachable: [(garbage: [ObjectRef], epoch: UInt)] = []
    /// Whether garbage with nothing to finalize waits in `unreachable` for the world to run:
    /// in concurrent mode. Stop-the-world mode frees it in the pause, as CPython's gc does.
    var freesAfterPause = false
}

/// One collection at a time. The thread whose collection is running may enter again (a
/// finalizer or callback that collects); any other waits, in a blocking region so that the
/// running collection's pauses need not wait for it.
///
/// `@unchecked Sendable`: `holder` and `depth` are touched only under `condition`'s mutex.
final class CollectionGate: @unchecked Sendable {
    private let condition = MutexCondition()
    /// The mutator whose collection is running (0: none), and how deeply it has entered.
    private var holder: UInt32 = 0
    private var depth = 0

    func enter(as me: Mutator) {
        if condition.withLock({ take(as: me) }) { return }
        me.enterBlockingRegion()
        condition.withLock {
            while !take(as: me) { condition.wait() }
        }
        me.leaveBlockingRegion()
    }

    /// Takes the gate if it is free or already `me`'s. Mutex held.
    private func take(as me: Mutator) -> Bool {
        guard holder == 0 || holder == me.id else { return false }
        holder = me.id
        depth += 1
        return true
    }

    /// Whether `me`'s collection holds the gate.
    func isHeld(by me: Mutator) -> Bool {
        condition.withLock { holder == me.id }
    }

    /// Whether a collection is running (a snapshot: it may start or end right after).
    var isHeldByAnyone: Bool {
        condition.withLock { holder != 0 }
    }

    func leave(as me: Mutator) {
        condition.withLock {
            assert(holder == me.id, "heapd: a collection left the gate it did not hold")
            depth -= 1
            if depth == 0 {
                holder = 0
                condition.broadcast()
            }
        }
    }
}
