// CandidateWalk: finding a collection's candidates by walking the allocator's pages, with
// update_refs and subtract_refs done on the way (TrialDeletion.swift says what they are).
//
// For each allocated block that is a candidate (CandidateFilter): scratch += its count, and for
// each slot naming a candidate: that one's scratch -= 1, whichever of the two comes first (the
// epoch in the scratch word restarts a stale word at zero).
//
// A small walk is one thread's. A large one (`pagesPerWorker` pages or more per worker) is
// shared by up to `Heap.pauseWorkers` threads while the world is stopped — the mutators are
// parked, so their CPUs are free. The pages are dealt to the shares in runs of `pagesPerDeal`
// (halves of the heap can differ tenfold in work: one may hold a tree's leaves, the other its
// inner nodes); each page notes its share in `Page.walkPart` (large objects belong to share 0).
// Then
//
//   step 1  each worker walks its share; a decrement for a referent of its own share is applied
//           on the spot, one for another share goes to an outbox for that share;
//   step 2  each worker applies the decrements the others sent it, then lists the roots among
//           its candidates (gc_refs > 0) for the marking that follows.
//
// So every scratch word is written by one thread only, with plain stores, and there is no atomic
// read-modify-write per object. Each share writes its candidates into one buffer from its own
// offset; the gaps are closed afterwards. The workers are pthreads started for the walk, with a
// pthread barrier between the steps (`runOnPauseThreads` says why not Dispatch).

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Which objects a collection of a generation examines: live, tracked (has slots), not frozen,
/// mortal, and of that generation or younger — one load and one mask of the object's GC bits.
struct CandidateFilter {
    private let mask: UInt8

    init(collecting generation: Int) {
        // Generations are 0b00, 0b01, 0b10: "at most 1" is "the high bit clear".
        let older: UInt8 = switch generation {
        case 0: GCBits.generationMask
        case 1: 2 << GCBits.generationShift
        default: 0
        }
        mask = GCBits.dead | GCBits.tracked | GCBits.frozen | GCBits.immortal | older
    }

    @inline(__always)
    func admits(_ object: ObjectRef) -> Bool {
        admits(gcBits: object.header.pointee.gcBits.load(ordering: .relaxed))
    }

    @inline(__always)
    func admits(gcBits: UInt8) -> Bool {
        gcBits & mask == GCBits.tracked
    }
}

extension Heap {
    /// Every live tracked mortal unfrozen object of `generation` or younger, with update_refs and
    /// subtract_refs done on the way (its scratch word holds the returned epoch), and the pages
    /// walked. A shared walk also lists the candidates that are roots (nil otherwise). World
    /// stopped; the caller gives the lists back (`CandidateWalkResult.giveBack`).
    func collectCandidates(generation: Int) -> CandidateWalkResult {
        assertWorldStopped()
        return withPolicy(CandidateWalk(heap: self, generation: generation))
    }
}

/// The walk, specialised for the heap's policy (one switch, not one per object).
private struct CandidateWalk: RefCountPolicyVisitor {
    /// A worker (a pthread: some tens of microseconds to start) is worth it from this many pages
    /// (64 KiB each). Measured on 2 CPUs, the pause with two workers over the pause with one
    /// (full collections of a live tree): 1.24-1.51 at 49 pages, 1.04-1.19 at 97, 0.93-1.11 at
    /// 193, 0.73-1.17 at 385. So two start at 128 pages, about where they break even.
    static let pagesPerWorker = 64
    /// Pages dealt to a share at a time in a parallel walk.
    static let pagesPerDeal = 4

    let heap: Heap
    let generation: Int

    func visit<Policy: RefCountPolicy>(_ policy: Policy.Type) -> CandidateWalkResult {
        let plan = heap.allocator.walkPlan(inPagesMarked: heap.pageMarks(collecting: generation))
        let epoch = heap.nextEpoch()
        let walk = ObjectWalk<Policy>(filter: CandidateFilter(collecting: generation), epoch: epoch)
        let workers = min(heap.pauseWorkers, plan.pages.count / CandidateWalk.pagesPerWorker, Int(UInt8.max))
        var candidates = heap.collectorBuffers.take(capacity: plan.blockBound)
        var roots: ObjectList?
        if workers <= 1 {
            walk.walk(plan.pages[...], large: plan.large, plan: plan, into: &candidates) { walk.subtract($0) }
        } else {
            (candidates.count, roots) = walkInParallel(walk, plan: plan, workers: workers, into: candidates.base)
        }
        return CandidateWalkResult(candidates: candidates, roots: roots, epoch: epoch, pages: plan.pages)
    }

    /// The parallel walk (see the top of the file); returns the number of candidates written
    /// from `base`, and the roots among them.
    private func walkInParallel<Policy: RefCountPolicy>(_ walk: ObjectWalk<Policy>, plan: HeapWalkPlan, workers: Int,
                                                        into base: UnsafeMutablePointer<ObjectRef>) -> (count: Int, roots: ObjectList) {
        // Share w gets runs of pages in turn and writes its candidates from base + offset[w].
        let shares = workers
        var pagesOf = Array(repeating: [UnsafeMutablePointer<Page>](), count: shares)
        var bound = Array(repeating: 0, count: shares)
        bound[0] = plan.large.count
        for (index, page) in plan.pages.enumerated() {
            let share = index / CandidateWalk.pagesPerDeal % shares
            page.pointee.walkPart = UInt8(share)
            pagesOf[share].append(page)
            bound[share] += Int(page.pointee.capacity.load(ordering: .relaxed))
        }
        var offset = [0]
        for share in 1..<shares { offset.append(offset[share - 1] + bound[share - 1]) }

        // written[w]: how many candidates share w wrote.
        let written = UnsafeMutablePointer<Int>.allocate(capacity: shares)
        written.initialize(repeating: 0, count: shares)
        // outboxes[sender * shares + receiver]: decrements for the receiver's objects.
        let outboxes = UnsafeMutablePointer<ObjectList>.allocate(capacity: shares * shares)
        for index in 0..<shares * shares { (outboxes + index).initialize(to: heap.collectorBuffers.take(capacity: 1024)) }
        let rootsOf = UnsafeMutablePointer<ObjectList>.allocate(capacity: shares)
        for share in 0..<shares { (rootsOf + share).initialize(to: heap.collectorBuffers.take(capacity: 64)) }
        defer {
            written.deallocate()
            for index in 0..<shares * shares { heap.collectorBuffers.give(outboxes[index]) }
            outboxes.deinitialize(count: shares * shares)
            outboxes.deallocate()
            for share in 0..<shares { heap.collectorBuffers.give(rootsOf[share]) }
            rootsOf.deinitialize(count: shares)
            rootsOf.deallocate()
        }
        runOnPauseThreads(shares) { share, barrier in
            // Step 1: walk the share.
            var candidates = ObjectList(in: base + offset[share], capacity: bound[share])
            walk.walk(pagesOf[share][...], large: share == 0 ? plan.large : [], plan: plan, into: &candidates) { referent in
                let owner = referent.isSmall ? Int(Arena.page(containing: referent.bits).pointee.walkPart) : 0
                if owner == share {
                    walk.subtract(referent)
                } else {
                    outboxes[share * shares + owner].appendGrowing(referent)
                }
            }
            written[share] = candidates.count
            barrier.wait()
            // Step 2: apply what the others sent, then list the share's roots.
            for sender in 0..<shares where sender != share {
                for referent in outboxes[sender * shares + share].buffer { walk.subtract(referent) }
            }
            for object in UnsafeMutableBufferPointer(start: base + offset[share], count: written[share])
            where Scratch.isRoot(object.header.pointee.scratch) {
                rootsOf[share].appendGrowing(object)
            }
        }

        // Close the gaps between the shares' candidates; gather their roots.
        var count = written[0]
        for share in 1..<shares {
            if offset[share] != count {
                (base + count).moveInitialize(from: base + offset[share], count: written[share])
            }
            count += written[share]
        }
        var roots = heap.collectorBuffers.take(capacity: (0..<shares).reduce(0) { $0 + rootsOf[$1].count })
        for share in 0..<shares {
            for root in rootsOf[share].buffer { roots.append(root) }
        }
        return (count, roots)
    }
}

/// What `collectCandidates` found.
struct CandidateWalkResult {
    var candidates: ObjectList
    /// The candidates that are roots (gc_refs > 0), when the walk listed them.
    var roots: ObjectList?
    var epoch: UInt
    var pages: [UnsafeMutablePointer<Page>]

    /// Returns the lists to `buffers` for the next collection.
    func giveBack(to buffers: CollectorBuffers) {
        buffers.give(candidates)
        if let roots { buffers.give(roots) }
    }
}

/// The work per object, the same for the serial and the parallel walk.
private struct ObjectWalk<Policy: RefCountPolicy> {
    let filter: CandidateFilter
    let epoch: UInt

    /// Walks `pages` and `large`: every candidate gets its count added and is appended to
    /// `candidates`; `referent` is called for each slot naming a candidate.
    @inline(__always)
    func walk(_ pages: ArraySlice<UnsafeMutablePointer<Page>>, large: [UnsafeMutableRawPointer], plan: HeapWalkPlan,
              into candidates: inout ObjectList, referent: (ObjectRef) -> Void) {
        @inline(__always) func visit(_ object: ObjectRef) {
            guard filter.admits(object) else { return }
            object.header.pointee.scratch = Scratch.current(object.header.pointee.scratch, epoch: epoch)
                &+ (UInt(bitPattern: Policy.count(object)) & Scratch.refsMask)
            var slot = object.slot(0)
            for _ in 0..<object.slotCount {
                if let target = ObjectRef(bits: slot.pointee.load(ordering: .relaxed)), filter.admits(target) { referent(target) }
                slot += 1
            }
            candidates.append(object)
        }
        for page in pages {
            plan.forEachAllocatedBlock(in: page) { visit(ObjectRef($0)) }
        }
        for block in large { visit(ObjectRef(block)) }
    }

    /// subtract_refs for one reference to `referent`, a candidate.
    @inline(__always)
    func subtract(_ referent: ObjectRef) {
        referent.header.pointee.scratch = Scratch.current(referent.header.pointee.scratch, epoch: epoch) &- 1
    }
}

/// One pause worker's start: the body and its share, handed to a new pthread.
private final class PauseWorker: @unchecked Sendable {
    let body: (Int, Barrier) -> Void
    let share: Int
    let barrier: Barrier

    init(body: @escaping (Int, Barrier) -> Void, share: Int, barrier: Barrier) {
        self.body = body
        self.share = share
        self.barrier = barrier
    }
}

/// Runs `body(0, barrier)` on the calling thread and `body(1..<count, barrier)` on threads of
/// their own, and waits for them; `barrier` is for all `count`. Plain pthreads, made for each
/// shared walk (tens of microseconds, against milliseconds of walk): with
/// DispatchQueue.concurrentPerform here, heapd aborted a few runs later in a worker thread's
/// exit ("free(): double free detected in tcache 2" in libdispatch's _dispatch_cache_cleanup),
/// three times out of three with `heapctl bench cycle-churn --threads 1,2 --rc
/// biased,atomic,global-lock --repeat 3` against one heapd, and never with these threads.
/// pthread_create and pthread_join also order the steps for ThreadSanitizer.
private func runOnPauseThreads(_ count: Int, _ body: (Int, Barrier) -> Void) {
    let barrier = Barrier(parties: count)
    withoutActuallyEscaping(body) { body in
        var threads: [pthread_t] = []
        for share in 1..<count {
            let worker = Unmanaged.passRetained(PauseWorker(body: body, share: share, barrier: barrier)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let worker = Unmanaged<PauseWorker>.fromOpaque(raw!).takeRetainedValue()
                worker.body(worker.share, worker.barrier)
                return nil
            }, worker)
            if rc != 0 { fatalError("heapd: the collector could not start a pause worker (pthread_create: \(rc))") }
            threads.append(thread)
        }
        body(0, barrier)
        for thread in threads { pthread_join(thread, nil) }
    }
}
