// CollectionAssists: mutators that outpace a concurrent collection do some of its work instead
// of only waiting for it (Go's collector calls this assisting). A mutator held by pacing
// (ConcurrentDetection.swift) is idle, and the collecting thread is then the one thread between
// the program and its next allocation; with more CPUs than collecting threads, the idle ones may
// as well collect.
//
//   walk       a mutator held while the walk runs walks pages of it: the plan's pages are taken
//              one at a time from a shared counter by the collecting thread (lane 0) and by at
//              most `ConcurrentDetection.assistants` mutators, each on a lane of its own
//              (WalkTables.swift); the collecting thread closes the walk to new lanes when no page
//              is left, waits for the lanes lent to be given back, and merges them. It does so in
//              its blocking region, as the collecting thread walks in its own: the walk reads only
//              page copies and its tables, so a pause need not wait for it.
//   validate   a mutator parked by a validation pause, or held by pacing while one runs,
//              validates batches of it: each pause shares out up to 1 + `validationAssistants`
//              batches (`SharedValidation`), one at a time from a shared counter, and each batch
//              has a trial-deletion pass of its own (its own epoch), so passes run side by side:
//              a pass writes the scratch words and generation bits of its own set only, and reads
//              others' scratch words only to see that they are not of its epoch (atomically, as
//              TrialDeletion's passes all do). The stopper does what follows from each batch's
//              garbage (the pause's held references, the teardown's start) alone, in batch order,
//              once every joiner has left. A batch found garbage is so whatever else ran beside
//              it: its objects' counts are what the world, stopped, holds, as in a pause of its
//              own. The mutator stays parked or blocked meanwhile and touches objects only while
//              the stopper holds the world stopped and waits for it; a parked one spins a moment
//              for the batches, which are shared as soon as every mutator has parked.
//   teardown   a mutator held until the garbage is freed frees batches of it (each the garbage of
//              one validation pause): the batches are taken one at a time by the collecting
//              thread and the mutators that join; the collecting thread closes the teardown when
//              none is left and waits for the batches taken to be freed, before pacing ends. A
//              batch's garbage references no other batch's (a reference from another batch would
//              have been from outside when its own batch was validated, and kept it alive), so
//              each batch is freed whole by one thread, as the collecting thread would free it.
//              The mutator leaves its blocking region to free, so that a pause waits for it as it
//              waits for the collecting thread — and so, under the global-lock policy, it could
//              free only while the collecting thread waits: there the teardown is not shared.
//
// Either way the assisting mutator's time counts as a pause it saw (it was not running its
// program), and what it does is what the collecting thread would have done: no new rule for the
// collection's soundness.

import Synchronization

/// Who is assisting one piece of a collection: mutators join while it is open, and the
/// collecting thread closes it and waits until every joiner has left. Joining, leaving and the
/// caller's own state changed with them happen under one mutex, so what a joiner wrote before it
/// left is seen by the collecting thread once `close` returns.
final class AssistGate: @unchecked Sendable {
    private let state = MutexCondition()
    /// Guarded by `state`.
    private var open = true
    private var joined = 0

    /// Joins if the gate is open and `admit` (run under the mutex) gives a value: then the caller
    /// must `leave`.
    func join<T>(_ admit: () -> T?) -> T? {
        state.withLock {
            guard open, let admitted = admit() else { return nil }
            joined += 1
            return admitted
        }
    }

    /// Leaves, running `body` under the mutex first.
    func leave(_ body: () -> Void = {}) {
        state.withLock {
            body()
            joined -= 1
            if joined == 0 { state.broadcast() }
        }
    }

    /// Closes the gate to joiners and waits until those that joined have left; then runs `body`
    /// under the mutex.
    func close<T>(_ body: () -> T) -> T {
        state.withLock {
            open = false
            while joined != 0 { state.wait() }
            return body()
        }
    }
}

/// A walk's pages, shared out one at a time between the collecting thread (lane 0) and the
/// mutators that assist it (top of the file). The lanes' writes are theirs until they leave;
/// `finish` waits for every lane to leave, under the mutex each leaves under, so the collecting
/// thread then reads what they wrote.
final class SharedWalk: @unchecked Sendable {
    let index: WalkIndex
    let lanes: UnsafeMutablePointer<WalkLane>
    let filter: CandidateFilter
    let policy: RefCountPolicyKind
    /// The next page to walk (its number in the plan).
    let nextPage = Atomic<Int>(0)
    let pagesAssisted = Atomic<Int>(0)
    private let gate = AssistGate()
    /// Guarded by the gate's mutex: the lanes lent (a bit each, lane 1 is bit 1). And the lanes
    /// that may be lent.
    private var lent: UInt = 0
    private let lendable: UInt

    init(index: WalkIndex, lanes: UnsafeMutablePointer<WalkLane>, assistants: Int, filter: CandidateFilter, policy: RefCountPolicyKind) {
        self.index = index
        self.lanes = lanes
        self.filter = filter
        self.policy = policy
        let count = min(max(assistants, 0), ConcurrentDetection.assistants)
        lendable = count == 0 ? 0 : (UInt(1) << (count + 1)) - 2
    }

    /// A lane for an assisting mutator, or nil (the walk is over, or every lane is lent).
    func join() -> Int? {
        gate.join {
            let free = lendable & ~lent
            guard free != 0 else { return nil }
            lent |= 1 << free.trailingZeroBitCount
            return free.trailingZeroBitCount
        }
    }

    func leave(_ lane: Int) {
        gate.leave { lent &= ~(1 << lane) }
    }

    /// Closes the walk to new lanes and waits until the lent ones have left; returns the pages
    /// they walked.
    func finish() -> Int {
        gate.close { pagesAssisted.load(ordering: .relaxed) }
    }

    /// Walks pages on `lane` until none is left.
    func walkPages(in heap: Heap, lane number: Int) {
        var lane = lanes[number]
        defer { lanes[number] = lane }
        let pages = index.views.count
        while true {
            let page = nextPage.wrappingAdd(1, ordering: .relaxed).oldValue
            guard page < pages else { return }
            let examined = lane.walkPage(page, of: heap, index: index, filter: filter, policy: policy)
            if number != 0 { pagesAssisted.wrappingAdd(1, ordering: .relaxed) }
            heap.makeRoom(examined / ConcurrentDetection.blocksPerRoom)
        }
    }
}

/// One validation pause's batches of tentative garbage, validated by the stopper and the
/// mutators that join while the pause runs (top of the file), each batch in a pass of its own
/// `epochs` entry. `finish` waits, under the mutex each joiner leaves under, until every batch
/// taken is validated; each batch's garbage is then read by the stopper alone.
final class SharedValidation: @unchecked Sendable {
    let batches: [ArraySlice<UInt>]
    let epochs: [UInt]
    let target: UInt8
    /// The largest batch: a joiner's worklist holds as many.
    let largest: Int
    /// The next batch to validate.
    private let next = Atomic<Int>(0)
    private let gate = AssistGate()
    /// Per batch, its garbage: written by the one thread that validated it.
    private let found: UnsafeMutablePointer<[ObjectRef]>
    /// Guarded by the gate's mutex: the batches the joiners validated.
    private var assisted = 0

    init(_ batches: [ArraySlice<UInt>], epochs: [UInt], promotingTo target: UInt8) {
        self.batches = batches
        self.epochs = epochs
        self.target = target
        largest = batches.map(\.count).max() ?? 0
        found = .allocate(capacity: batches.count)
        found.initialize(repeating: [], count: batches.count)
    }

    deinit {
        found.deinitialize(count: batches.count)
        found.deallocate()
    }

    /// Whether a mutator may validate batches now (then it must `leave`).
    func join() -> Bool {
        gate.join { next.load(ordering: .relaxed) < batches.count ? true : nil } ?? false
    }

    /// Validates batches until none is left, with `worklist` (room for `largest` objects).
    /// Returns how many it validated.
    func validateBatches(in heap: Heap, worklist: inout ObjectList) -> Int {
        var validated = 0
        while true {
            let batch = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard batch < batches.count else { return validated }
            heap.testHooks?.beforeValidationBatch?()
            found[batch] = heap.validateBatch(batches[batch], epoch: epochs[batch], promotingTo: target, worklist: &worklist)
            validated += 1
        }
    }

    func leave(validated: Int) {
        gate.leave { assisted += validated }
    }

    /// Closes the validation to new joiners and waits until those that joined have left; returns
    /// each batch's garbage and how many batches the joiners validated.
    func finish() -> (garbage: [[ObjectRef]], assisted: Int) {
        gate.close { (Array(UnsafeBufferPointer(start: found, count: batches.count)), assisted) }
    }
}

extension ConcurrentDetection {
    /// A collection's validation pauses begin: mutators they park look for batches to validate
    /// when `shared` (`Mutator.assistValidation`).
    func beginValidation(shared: Bool) {
        validating.store(shared, ordering: .relaxed)
    }

    func endValidation() {
        validating.store(false, ordering: .relaxed)
    }

    /// Validates `validation`'s batches with the mutators that join (top of the file); returns
    /// each batch's garbage and how many the mutators validated. The stopper, in the pause.
    func validate(_ validation: SharedValidation, in heap: Heap) -> (garbage: [[ObjectRef]], assisted: Int) {
        let shared = validation.batches.count > 1
        if shared {
            joinableValidation.withLock { $0 = validation }
            validationOpen.store(true, ordering: .releasing)
            if heap.counters.pointee.pacingWaiters.load(ordering: .sequentiallyConsistent) > 0 {
                heap.walkPacing.withLock { heap.walkPacing.broadcast() }
            }
        }
        var worklist = heap.collectorBuffers.take(capacity: validation.largest)
        _ = validation.validateBatches(in: heap, worklist: &worklist)
        heap.collectorBuffers.give(worklist)
        if shared {
            validationOpen.store(false, ordering: .relaxed)
            joinableValidation.withLock { $0 = nil }
        }
        return validation.finish()
    }

    /// Validates batches of the pause's shared validation, if one is open with batches left: a
    /// mutator parked by the pause, or held by pacing while it runs.
    func assistValidation(in heap: Heap) {
        guard let validation = joinableValidation.withLock({ $0 }), validation.join() else { return }
        validate(joined: validation, in: heap)
    }

    /// Validates batches of `validation`, which the caller has joined, and leaves it.
    func validate(joined validation: SharedValidation, in heap: Heap) {
        var worklist = ObjectList(capacity: validation.largest)
        defer { worklist.deallocate() }
        validation.leave(validated: validation.validateBatches(in: heap, worklist: &worklist))
    }
}

extension Heap {
    /// Mutators that may validate batches beside the stopper of a validation pause (top of the
    /// file): `validationAssists`, short of the other mutators attached and of those that may
    /// assist a walk; none under the global-lock policy, where mutators wait for the lock and
    /// not at safepoints.
    func validationAssistants() -> Int {
        guard policy != .globalLock, validationAssists > 0 else { return 0 }
        let others = mutators.withLock { $0.count } - 1
        return max(0, min(validationAssists, walkAssistants, others))
    }

    /// Validation of one batch of tentative garbage (ConcurrentDetection.swift) in the pass of
    /// `epoch`, taken for it: its garbage. World stopped, by the caller or by the stopper it
    /// assists (writes only the batch's objects' scratch words and generation bits).
    func validateBatch(_ batch: ArraySlice<UInt>, epoch: UInt, promotingTo target: UInt8, worklist: inout ObjectList) -> [ObjectRef] {
        var set = validate(batch)
        return set.withUnsafeMutableBufferPointer { set in
            countReferences(in: set, epoch: epoch, lessHeld: 0, lessPauseHeld: true)
            return unreachable(in: set, epoch: epoch, roots: nil, promotingTo: target, worklist: &worklist)
        }
    }
}

/// A concurrent collection's garbage batches, freed after its validation pauses by the collecting
/// thread and the waiting mutators that join (top of the file). `finish` waits, under the mutex
/// each joiner leaves under, until every batch taken is freed.
final class SharedTeardown: @unchecked Sendable {
    let batches: [(garbage: [ObjectRef], epoch: UInt)]
    /// The next batch to free.
    private let next = Atomic<Int>(0)
    private let gate = AssistGate()
    /// Guarded by the gate's mutex: the references to live objects the joiners' batches' slots
    /// held (the collection releases them in step 5), and the batches they freed.
    private var released: [ObjectRef] = []
    private var assisted = 0

    init(_ batches: [(garbage: [ObjectRef], epoch: UInt)]) {
        self.batches = batches
    }

    /// Whether a mutator may free batches now (then it must `leave`).
    func join() -> Bool {
        gate.join { next.load(ordering: .relaxed) < batches.count ? true : nil } ?? false
    }

    /// Frees batches until none is left; appends to `released` the references they held to live
    /// objects. Returns how many it freed.
    func freeBatches(in heap: Heap, by me: Mutator, releasing released: inout [ObjectRef]) -> Int {
        var freed = 0
        while true {
            let batch = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard batch < batches.count else { return freed }
            heap.testHooks?.beforeTeardownBatch?()
            heap.freeUnreachable(batches[batch].garbage, by: me, releasing: &released)
            freed += 1
        }
    }

    func leave(releasing more: [ObjectRef], batchesFreed: Int) {
        gate.leave {
            released += more
            assisted += batchesFreed
        }
    }

    /// Closes the teardown to new joiners and waits until those that joined have left; returns
    /// what their batches released, and how many batches they freed.
    func finish() -> (released: [ObjectRef], batchesAssisted: Int) {
        gate.close { (released, assisted) }
    }
}

extension Heap {
    /// Step 4 (Finalization.swift) for `garbage`, found by one validation or pause: marks it dead,
    /// empties its slots that name live objects (appending those to `released`), and gives its
    /// blocks back. The collecting mutator, or one assisting it (top of the file).
    func freeUnreachable(_ garbage: [ObjectRef], by me: Mutator, releasing released: inout [ObjectRef]) {
        // Membership by the dead bit, not by the pass's scratch word: a referent outside the set
        // can carry the pass's epoch too (subtract_refs reaches every referent the filter admits,
        // walked or not), and one taken for garbage would keep the reference forever.
        for object in garbage { me.markDead(object) }
        for object in garbage {
            for index in 0..<object.slotCount {
                let slot = object.slot(index)
                if let referent = ObjectRef(bits: slot.pointee.load(ordering: .relaxed)),
                   referent.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0 {
                    slot.pointee.store(0, ordering: .relaxed)
                    released.append(referent)
                }
            }
        }
        var batch = RemoteFreeBatch()
        for object in garbage { me.freeCollectedGarbage(object, batching: &batch) }
        me.withAllocator { $0.flush(&batch) }
    }
}

extension Mutator {
    /// Parked by a pause: if it is one of a concurrent collection's validation pauses that share
    /// their batches, waits a moment for them and validates some (top of the file).
    func assistValidation(in heap: Heap) {
        let detection = heap.concurrentDetection
        guard detection.validating.load(ordering: .relaxed) else { return }
        let counters = storage.pointee.counters
        // Acquiring: pairs with the releasing store that opens it (what the stopper wrote before
        // is seen here; the gate's mutex orders it again).
        let open = spinWait(upTo: heap.validationJoinSpinNanoseconds) {
            detection.validationOpen.load(ordering: .acquiring) || !counters.pointee.stopRequested.load(ordering: .relaxed)
        }
        if open && counters.pointee.stopRequested.load(ordering: .relaxed) { detection.assistValidation(in: heap) }
    }

    /// Waits, in a blocking region, until the running concurrent collection has made room or
    /// its pacing has ended (ConcurrentDetection.swift), assisting it meanwhile (top of the
    /// file). Records the wait as a pause this mutator saw.
    @inline(never)
    func waitForConcurrentWalk() {
        // The collecting mutator never waits for its own collection (it does not allocate while
        // it walks, but it frees, and a finalizer of a nested collection may allocate).
        guard withHeap({ $0.outpacesWalk() && !$0.collectionGate.isHeld(by: self) }) else { return }
        let start = monotonicNanoseconds()
        enterBlockingRegion()
        withHeap { heap in
            heap.concurrentDetection.assist(in: heap)
            while let assist = waitForRoomOrAssist(heap) {
                switch assist {
                case .validation(let validation):
                    // In the blocking region: the pause that shares it waits for this thread.
                    heap.concurrentDetection.validate(joined: validation, in: heap)
                case .teardown(let teardown):
                    var released: [ObjectRef] = []
                    leaveBlockingRegion()
                    let freed = teardown.freeBatches(in: heap, by: self, releasing: &released)
                    enterBlockingRegion()
                    teardown.leave(releasing: released, batchesFreed: freed)
                }
            }
        }
        leaveBlockingRegion()
        withHeap { heap in heap.world.withLock { heap.world.recordMutatorPauseLocked(monotonicNanoseconds() - start) } }
    }

    /// Work a waiting mutator has joined.
    private enum Assist {
        case validation(SharedValidation)
        case teardown(SharedTeardown)
    }

    /// Waits until this mutator no longer outpaces the walk (nil), or a validation or teardown
    /// it has joined.
    private func waitForRoomOrAssist(_ heap: Heap) -> Assist? {
        heap.walkPacing.withLock {
            // Sequentially consistent: pairs with `makeRoom` (its comment). `stallAbove` is
            // lowered to Int.max under this mutex by `endPacing`.
            heap.counters.pointee.pacingWaiters.wrappingAdd(1, ordering: .sequentiallyConsistent)
            defer { heap.counters.pointee.pacingWaiters.wrappingSubtract(1, ordering: .relaxed) }
            while true {
                // Published before the broadcast that wakes this wait (`Heap.shareTeardown`,
                // `ConcurrentDetection.validate`). A validation first: its pause is waiting,
                // and the pause may be the one that gave this mutator room again.
                if let validation = heap.concurrentDetection.joinableValidation.withLock({ $0 }), validation.join() {
                    return .validation(validation)
                }
                guard heap.outpacesWalk() else { break }
                if let teardown = heap.concurrentDetection.joinableTeardown.withLock({ $0 }), teardown.join() {
                    return .teardown(teardown)
                }
                heap.walkPacing.wait()
            }
            return nil
        }
    }
}

extension Heap {
    /// Frees a concurrent collection's garbage `batches`, with the waiting mutators that join
    /// (top of the file); appends to `released` the references to live objects they held, and
    /// returns how many batches the mutators freed. The collecting mutator, after the validation
    /// pauses, pacing not yet ended.
    func shareTeardown(_ batches: [(garbage: [ObjectRef], epoch: UInt)], by me: Mutator, releasing released: inout [ObjectRef]) -> Int {
        let teardown = SharedTeardown(batches)
        // Under the global lock a joiner would free only while this thread waits: no gain.
        if policy != .globalLock {
            concurrentDetection.joinableTeardown.withLock { $0 = teardown }
            walkPacing.withLock { walkPacing.broadcast() }
        }
        _ = teardown.freeBatches(in: self, by: me, releasing: &released)
        concurrentDetection.joinableTeardown.withLock { $0 = nil }
        // In a blocking region: a joiner that is freeing may be held by another thread's pause,
        // which must not wait for this one.
        me.enterBlockingRegion()
        let (more, assisted) = teardown.finish()
        me.leaveBlockingRegion()
        released += more
        return assisted
    }
}
