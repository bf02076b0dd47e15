// ConcurrentDetection: finding a collection's tentative garbage while mutators run, for a short
// pause to validate (docs/concurrent-collection.md, docs/architecture.md's "Collector"
// invariants; Bacon and Rajan, "Concurrent Cycle Collection in Reference Counted Systems",
// ECOOP 2001).
//
// A concurrent collection (Finalization.swift's `collect` runs the phases):
//
//   detect     world running; the collecting mutator is in a blocking region, so other pauses
//              need not wait for it
//              1. plan: the pages marked for the generation, and the large blocks, listed under
//                 the pools' locks; the marks of the generations collected are cleared (an
//                 object allocated after this marks its page again)
//              2. walk: each page is copied with racy loads under its pool's lock
//                 (Allocator+ConcurrentWalk.swift); each block of the copy whose header admits it
//                 (not a free block, tracked, not dead, frozen or immortal, young enough) is a
//                 candidate with gc_refs := its count, and each of its slots that names a walked
//                 block is an edge and takes one off that block's gc_refs (update_refs and
//                 subtract_refs, as CandidateWalk does with the world stopped)
//              3. mark: from the candidates with gc_refs > 0, through the edges
//              4. the marked candidates survive: their generation moves up (a racy CAS of the
//                 generation bits only, never of a dead object's) and their pages are marked;
//                 the unmarked ones are the tentative garbage
//   validate   world stopped, merge queues drained (`validate`): each tentative address that
//              is still a live admissible object of this heap (page in use at the same size, a
//              block boundary below the carved count, not a free block, not dead) is kept, and
//              trial deletion runs again over what is kept alone, with exact counts
//              (TrialDeletion's findUnreachable). What it finds unreachable is the garbage; the
//              rest survive and move up.
//   teardown   as in a stop-the-world collection (Finalization.swift).
//
// Why validation is sound whatever the walk saw: it takes nothing from the walk but addresses,
// and checks each against the allocator before reading it. With the world stopped every
// reference to an object is in its count — slots, mutators' registers, globals, channels,
// merge queues (the pause's own hold on those is taken off) — so a set in which each object's
// count equals the references from the set's own slots has no reference from outside, and
// nothing outside it can reach it: it is garbage, however it was chosen. What the walk gets wrong
// costs time, not safety: a tentative object that is live is dropped by validation (and counted
// as dropped), and garbage the walk missed is found by a later collection.
//
// The walk's own memory safety: it reads only page copies and the large blocks it listed, which
// stay mapped until it ends (Allocator+ConcurrentWalk.swift), and never beyond a block. A slot's
// value is never followed: it is resolved to a block index through the walk's own tables (arena
// base → page views, large address → index), so a stale or torn value finds nothing, or a block
// that is then checked like any other. It writes no object header but survivors' generation bits.
//
// Objects allocated after the walk began are not candidates: once the walk has cleared its pages'
// marks, mutators start each new object's scratch word (which the walk does not otherwise use)
// with the walk's stamp, and the walk leaves out a block whose copy carries it. Such an object is
// referenced from the mutator that made it, a root; left out, its slots take nothing off the
// candidates' gc_refs, which only keeps more of them alive. It stays young, so its page must be
// marked young: the stamp is published after the marks are cleared (releasing) and read with
// acquiring loads before the new object marks its page, which it then finds cleared and marks
// again. The stamp, 2^48 + the walk's number, is neither an address (below 2^47: the dealloc
// worklist's and QSBR's links) nor a trial-deletion epoch word (2^63 and above), nor 0. A mutator
// that sees the stamp late makes a candidate: the walk's size, not its soundness, depends on it.
//
// Pacing: mutators that allocate faster than the collector examines could grow the heap without
// bound while a collection runs (its garbage is freed only after its last pause), and each
// collection would walk what the mutators made during the one before — more each time. So from
// the walk's start until its garbage is freed, the mutators may allocate a budget — the larger
// of 16 young thresholds and the live objects of the last full collection — and then room made
// as the walk progresses: one object for every 4 blocks it examines:
//
//   a mutator waits while   count0 − stallAbove > room
//                           stallAbove = count0 at the start + budget (again from the restarted
//                                        count after the first validation pause)
//                           room       = `HeapCounters.room`: what the walk has made so far
//
// count0 is what the mutators made less what was freed, and the collection's own freeing would
// lower it by the whole garbage: stallAbove goes down as much first (`discountPacing`), so that
// pacing counts what the mutators make.
//
// A collection of W objects thus lets the mutators make at most 2 budgets + W/4 before the next:
// walks settle at a size set by the budget instead of growing. A mutator that outpaces the walk
// goes on as soon as room is made, a page later, instead of waiting for the end. Room-making
// wakes the waiters (`pacingWaiters` says whether there are any). Once the walk is over, a waiter
// waits on until the garbage is freed (`endPacing`): woken between validation pauses, it would
// need a CPU while the next one runs (Safepoints.swift). Each wait, in a blocking region, is a
// pause that mutator sees and is recorded as one (`mutatorPauses`); the collecting mutator never
// waits for its own collection. A waiting mutator is idle, so it assists instead, while there is
// work to share: it walks pages of the walk, and later frees batches of the garbage
// (CollectionAssists.swift).
//
// The bridge: when the garbage is freed, the waiters wake, and on a machine with no spare CPU
// they can keep the collecting thread from running for many milliseconds — time in which the
// mutators, no longer paced, make hundreds of thousands of objects that the next walk must then
// examine (and the walks grow, costlier per object as their tables outgrow the caches). So an
// automatic concurrent collection ends pacing at a bridge instead: the mutators may make one more
// budget past the young threshold (or past the count, if higher), and wait there until the next
// collection's walk begins and replaces the limit (`beginPacing(waking:)`). They cross the
// threshold before they reach the bridge, and so ask for that collection; a bridge nothing will
// replace is lifted (`liftPacingBridge`): when the collector thread finds no collection due,
// and whenever the young threshold changes (gc.disable, gc.set_threshold, a full collection's
// scaling), since a mutator could then reach the bridge without asking.
//
// Program code that the collecting thread runs during its collection (finalizers, weak-reference
// and gc callbacks, whether a collection step or a release reached them) suspends pacing and
// any bridge while it runs (`runningProgramCode`): it may wait for a mutator, which only this
// thread's progress, or its next collection, would release.

import CHeapShim
import Synchronization

/// The detection phase: its tables live in values (`WalkTables.swift`) that `detect` takes out
/// of the object for the walk's length, so that the hot loops touch local memory with no dynamic
/// exclusivity check per access (a class's stored arrays cost one per access: a third of the
/// walk's time). Touched only by the thread that holds the collection gate, except the lanes
/// lent to assisting mutators (`SharedWalk`).
final class ConcurrentDetection: @unchecked Sendable {
    /// Kept between collections, so that their memory is reused.
    private var index = WalkIndex()
    private var marking = WalkMarking()
    /// Lane 0 is the collecting thread's, lanes 1... are lent to assisting mutators (top of the
    /// file). Kept between collections.
    private let lanes: UnsafeMutablePointer<WalkLane>
    /// Walks begun, for their stamps.
    private var walks: UInt = 0
    /// The walk that mutators may join, while its pages are being walked.
    private let joinable = Mutex<SharedWalk?>(nil)
    /// The teardown that waiting mutators may join (CollectionAssists.swift), while its batches
    /// are being freed.
    let joinableTeardown = Mutex<SharedTeardown?>(nil)
    /// The validation that mutators may join while its pause runs (CollectionAssists.swift), and
    /// whether there is one (for parked mutators' spins); whether the running collection's
    /// validation pauses share their batches.
    let joinableValidation = Mutex<SharedValidation?>(nil)
    let validationOpen = Atomic<Bool>(false)
    let validating = Atomic<Bool>(false)

    /// The tables' memory, and what the last walk used of it.
    var tableBytes: TableBytes {
        (0...ConcurrentDetection.assistants).reduce(index.bytes + marking.bytes) { $0 + lanes[$1].bytes }
    }

    /// Tables this many times larger than the last walk used, and at least `trimBytes`, are
    /// given back after it (`trimTables`).
    static let trimFactor = 4
    static let trimBytes = 8 << 20

    /// After a collection (the collecting thread, holding the collection gate): gives the tables'
    /// memory back when a walk of a larger heap left them `trimFactor` times larger than this
    /// walk used, and large. Kept between walks, they held that walk's memory for the rest of the
    /// run: binary-trees 18's stretch tree, a million candidates, left some 12 MiB of a peak RSS
    /// of 97 MiB. The next walk allocates what it needs, as the first one did; walks of a
    /// steady size keep theirs.
    func trimTables() {
        let bytes = tableBytes
        guard bytes.capacity >= ConcurrentDetection.trimBytes, bytes.capacity > ConcurrentDetection.trimFactor * bytes.used else { return }
        index.deallocate()
        index = WalkIndex()
        marking.deallocate()
        marking = WalkMarking()
        for lane in 0...ConcurrentDetection.assistants {
            lanes[lane].deallocate()
            lanes[lane] = WalkLane()
        }
    }

    /// Mutators that may assist one walk at once (each has a lane and a page copy).
    static let assistants = 3

    init() {
        lanes = .allocate(capacity: 1 + ConcurrentDetection.assistants)
        lanes.initialize(repeating: WalkLane(), count: 1)
        for lane in 1...ConcurrentDetection.assistants { (lanes + lane).initialize(to: WalkLane()) }
    }

    deinit {
        for lane in 0...ConcurrentDetection.assistants { lanes[lane].deallocate() }
        lanes.deinitialize(count: 1 + ConcurrentDetection.assistants)
        lanes.deallocate()
        index.deallocate()
        marking.deallocate()
    }

    /// Objects validated in one pause at most, unless one component of the tentative garbage is
    /// larger (a component is never split: a cycle cut in two would be kept alive by its other
    /// half). Validation and teardown cost some tens of nanoseconds an object.
    static let pauseBudget = 4096

    /// What a detection found.
    struct Outcome {
        /// The tentative garbage's addresses, component by component.
        var tentative: [UInt] = []
        /// Ranges of `tentative`, each validated in a pause of its own: whole components (by the
        /// walk's edges), at most `pauseBudget` objects unless one component is larger.
        var batches: [Range<Int>] = []
        var candidates = 0
        var pages = 0
        /// Pages walked by assisting mutators.
        var pagesAssisted = 0
    }

    /// Pacing (top of the file): the budget in young thresholds, and the blocks walked that make
    /// room for one object.
    static let budgetThresholds = 16
    static let blocksPerRoom = 4

    /// A walk of at most this many pages (64 KiB each) and no large block runs in the pause
    /// instead: its pause is shorter than the concurrent path's, which adds a second look at
    /// every garbage object (validation), and its cost per object is a third.
    static let pausePages = 16

    /// Steps 2–4 for a collection of `generation` over `plan` (top of the file). World running;
    /// the caller holds the collection gate and has begun a concurrent walk of `heap.allocator`.
    func detect(in heap: Heap, generation: Int, plan: ConcurrentWalkPlan) -> Outcome {
        heap.clearEmptiedMarks(plan.pages.map(\.page), collecting: generation)
        walks &+= 1
        index.stamp = 1 << 48 | (walks & 0xFFFF_FFFF)
        heap.stampAllocations(index.stamp)
        defer { heap.stampAllocations(0) }
        index.index(plan)
        for lane in 0...ConcurrentDetection.assistants { lanes[lane].reset() }
        let filter = CandidateFilter(collecting: generation)
        let walk = SharedWalk(index: index, lanes: lanes, assistants: heap.walkAssistants, filter: filter, policy: heap.policy)
        joinable.withLock { $0 = walk }
        walk.walkPages(in: heap, lane: 0)
        joinable.withLock { $0 = nil }
        var lane = lanes[0]
        defer { lanes[0] = lane }
        var header = [UInt64](repeating: 0, count: ObjectHeader.size / 8)
        let largeBase = index.firstIndex[plan.pages.count]
        for (number, (block, size)) in plan.large.enumerated() {
            header.withUnsafeMutableBufferPointer { heapd_racy_copy_words($0.baseAddress!, block, UInt64($0.count)) }
            let slots = min(Int(header[3] >> 32), (size - ObjectHeader.size) / 8)
            var copy = [UInt64](repeating: 0, count: ObjectHeader.size / 8 + slots)
            copy.withUnsafeMutableBufferPointer { heapd_racy_copy_words($0.baseAddress!, block, UInt64($0.count)) }
            lane.reserve(candidates: 1, edges: slots)
            copy.withUnsafeMutableBytes { bytes in
                lane.visit(bytes.baseAddress!, address: UInt(bitPattern: block), block: largeBase + number,
                           limit: bytes.count, index: index, filter: filter, policy: heap.policy)
            }
        }
        heap.makeRoom(plan.large.count / ConcurrentDetection.blocksPerRoom)
        // The assistants' lanes are theirs until they leave (`finish` waits for that).
        let assisted = walk.finish()
        for other in 1...ConcurrentDetection.assistants where lanes[other].addresses.count > 0 {
            lane.absorb(lanes[other], in: index)
        }
        lane.edgeStart.append(Int32(lane.edges.count))
        let (tentative, batches) = marking.markAndPromote(lane, index: index, target: heap.promotionTarget(of: generation))
        return Outcome(tentative: tentative, batches: batches, candidates: lane.addresses.count, pages: plan.pages.count,
                       pagesAssisted: assisted)
    }

    /// Walks pages of the running concurrent walk, if there is one with pages left and a lane
    /// free: a mutator that outpaces the walk (pacing, top of the file), in a blocking region.
    func assist(in heap: Heap) {
        guard let walk = joinable.withLock({ $0 }), let lane = walk.join() else { return }
        walk.walkPages(in: heap, lane: lane)
        walk.leave(lane)
    }
}

extension Heap {
    /// Makes `stamp` (or 0: none) what every mutator's new objects start their scratch word with
    /// (top of the file). The collecting thread, the collection gate held.
    func stampAllocations(_ stamp: UInt) {
        // Releasing: pairs with the acquiring load in `Mutator.make` (top of the file).
        allocationStamp.store(stamp, ordering: .releasing)
        mutators.withLock { table in
            for record in table.values { record.storage.pointee.allocationStamp.store(stamp, ordering: .releasing) }
        }
    }

    /// Pacing (top of the file): from now until `endPacing`, allocating mutators that push
    /// count0 past the budget and the room made wait. Called again once the counts have
    /// restarted (in a collection's first validation pause); waiters wait on (top of the file),
    /// except at a walk's start (`waking`), where this replaces a bridge they may wait at.
    func beginPacing(waking: Bool = false) {
        let budget = pacingBudget()
        let count0 = counters.pointee.count0.load(ordering: .relaxed)
        let limit = count0 > Int.max - budget ? Int.max : count0 + budget
        guard waking else {
            counters.pointee.room.store(0, ordering: .relaxed)
            counters.pointee.stallAbove.store(limit, ordering: .relaxed)
            return
        }
        setPacingLimit(limit, bridge: false)
    }

    /// Pacing's limit becomes `limit` (a `bridge` or not) with no room made yet, and the waiters
    /// look at it again.
    private func setPacingLimit(_ limit: Int, bridge: Bool) {
        walkPacing.withLock {
            pacingBridged = bridge
            counters.pointee.room.store(0, ordering: .relaxed)
            counters.pointee.stallAbove.store(limit, ordering: .relaxed)
            walkPacing.broadcast()
        }
    }

    /// What mutators may make before they wait (top of the file).
    private func pacingBudget() -> Int {
        // Saturating: a threshold may be as large as a program or a client sets it.
        collectorState.withLock { state in
            let (thresholds, overflow) = state.youngThreshold.multipliedReportingOverflow(by: ConcurrentDetection.budgetThresholds)
            return max(overflow ? Int.max : thresholds, state.longLivedTotal)
        }
    }

    /// The collection has progressed: `objects` more may be made, and the mutators waiting for
    /// room are woken.
    func makeRoom(_ objects: Int) {
        // Sequentially consistent, as the load after it: with a waiter's increment of
        // `pacingWaiters` and its load of `room` (`Mutator.waitForConcurrentWalk`), one of the
        // two sides sees the other's store — the waiter the new room, or this the waiter.
        counters.pointee.room.wrappingAdd(objects, ordering: .sequentiallyConsistent)
        if counters.pointee.pacingWaiters.load(ordering: .sequentiallyConsistent) > 0 {
            walkPacing.withLock { walkPacing.broadcast() }
        }
    }

    /// The collection is about to free `objects` of garbage, which takes as many off count0
    /// (`Mutator.noteYoungObjectFreed`): pacing's limit goes down as much, so that the freeing
    /// makes no room — pacing counts what the mutators make, not what the collection gives back.
    /// The collecting thread, pacing begun.
    func discountPacing(forFreeing objects: Int) {
        let limit = counters.pointee.stallAbove.load(ordering: .relaxed)
        guard limit != Int.max else { return }
        counters.pointee.stallAbove.store(limit > Int.min + objects ? limit - objects : Int.min, ordering: .relaxed)
    }

    /// The garbage is freed: waiting mutators go on — with `bridging`, only as far as the
    /// bridge (top of the file), which the next collection's walk replaces.
    func endPacing(bridging: Bool) {
        // Outside the mutex: the budget is read under the collector state's lock.
        let limit = bridging ? bridgeLimit() : Int.max
        setPacingLimit(limit, bridge: limit != Int.max)
    }

    /// Lifts the bridge, if pacing is at one: no collection may come to replace it (the
    /// collector thread found none due, or the young threshold changed).
    func liftPacingBridge() {
        walkPacing.withLock {
            guard pacingBridged else { return }
            pacingBridged = false
            counters.pointee.stallAbove.store(Int.max, ordering: .relaxed)
            walkPacing.broadcast()
        }
    }

    /// The bridge: a budget past the young threshold or the count, whichever is higher, so that
    /// the mutators cross the threshold — and ask for the collection that replaces it — before
    /// they reach it. Int.max (none) while automatic collection is off.
    private func bridgeLimit() -> Int {
        let threshold = counters.pointee.signalThreshold.load(ordering: .relaxed)
        let budget = pacingBudget()
        let base = max(threshold, counters.pointee.count0.load(ordering: .relaxed))
        guard threshold != Int.max, base <= Int.max - budget else { return Int.max }
        return base + budget
    }

    /// Runs program code (finalizers, weak-reference and gc callbacks). On the thread of a
    /// running collection, pacing holds no one meanwhile, and its waiters go on (top of the
    /// file): the code may wait for a mutator, which pacing or a bridge would hold until this
    /// thread's collection progressed, or its next one began.
    func runningProgramCode<R>(_ body: () -> R) -> R {
        guard let me = Mutator.current, collectionGate.isHeld(by: me) else { return body() }
        // Sequentially consistent, then the broadcast under the mutex the waiters check under:
        // a waiter sees the suspension, or is woken.
        counters.pointee.pacingSuspended.wrappingAdd(1, ordering: .sequentiallyConsistent)
        walkPacing.withLock { walkPacing.broadcast() }
        defer { counters.pointee.pacingSuspended.wrappingSubtract(1, ordering: .relaxed) }
        return body()
    }

    /// Whether an allocating mutator must wait for the walk (pacing, top of the file).
    func outpacesWalk() -> Bool {
        let stallAbove = counters.pointee.stallAbove.load(ordering: .relaxed)
        guard stallAbove != Int.max, counters.pointee.pacingSuspended.load(ordering: .sequentiallyConsistent) == 0 else { return false }
        let (excess, overflow) = counters.pointee.count0.load(ordering: .relaxed).subtractingReportingOverflow(stallAbove)
        return overflow || excess > counters.pointee.room.load(ordering: .sequentiallyConsistent)
    }
}

extension Heap {
    /// Validation (top of the file): the tentative addresses that are live admissible objects of
    /// this heap now. World stopped, by the caller or by the stopper it assists
    /// (CollectionAssists.swift), before the walk ends.
    func validate(_ tentative: ArraySlice<UInt>) -> [ObjectRef] {
        assertWorldStoppedForCollection()
        let filter = CandidateFilter(collecting: 2)
        let regions = allocator.regions
        let allocatorID = allocator.id
        var kept: [ObjectRef] = []
        kept.reserveCapacity(tentative.count)
        for address in tentative {
            switch regions.kind(of: address) {
            case .arena:
                let page = Arena.page(containing: address)
                guard page.pointee.state == .owned || page.pointee.state == .abandoned,
                      page.pointee.allocatorID == allocatorID else { continue }
                let start = UInt(bitPattern: page.pointee.start)
                guard address >= start else { continue }
                let offset = address - start
                let block = Int((UInt64(offset) &* UInt64(page.pointee.reciprocal)) >> 32)
                guard block < Int(page.pointee.capacity.load(ordering: .relaxed)),
                      UInt(block * Int(page.pointee.blockSize)) == offset,
                      !page.pointee.isTaggedFree(UnsafeMutableRawPointer(bitPattern: address)!) else { continue }
            case .largeStart:
                // A large block stays mapped until the walk ends; one freed meanwhile is dead.
                break
            case .none, .largeContinuation:
                continue
            }
            let object = ObjectRef(bits: address)!
            if filter.admits(object) { kept.append(object) }
        }
        return kept
    }
}
