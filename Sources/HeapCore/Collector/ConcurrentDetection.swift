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
// A collection of W objects thus lets the mutators make at most 2 budgets + W/4 before the next:
// walks settle at a size set by the budget instead of growing. A mutator that outpaces the walk
// goes on as soon as room is made, a page later, instead of waiting for the end. Room-making
// wakes the waiters (`pacingWaiters` says whether there are any). Once the walk is over, a waiter
// waits on until the garbage is freed (`endPacing`): woken between validation pauses, it would
// need a CPU while the next one runs (Safepoints.swift). Each wait, in a blocking region, is a
// pause that mutator sees and is recorded as one (`mutatorPauses`); the collecting mutator never
// waits for its own collection.

import CHeapShim
import Synchronization

/// The detection phase: its tables live in a value (`Tables`) that `detect` takes out of the
/// object for the walk's length, so that the hot loops touch local memory with no dynamic
/// exclusivity check per access (a class's stored arrays cost one per access: a third of the
/// walk's time). Touched only by the thread that holds the collection gate.
final class ConcurrentDetection: @unchecked Sendable {
    /// Kept between collections, so that their memory is reused.
    private var tables = Tables()
    /// Walks begun, for their stamps.
    private var walks: UInt = 0
    /// One page's copy; owned here, freed in deinit.
    private let pageCopy = UnsafeMutableRawPointer.allocate(byteCount: Arena.pageSize, alignment: 16)

    deinit {
        pageCopy.deallocate()
        tables.deallocate()
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
        var tables = Tables()
        swap(&tables, &self.tables)
        defer { swap(&tables, &self.tables) }
        heap.clearEmptiedMarks(plan.pages.map(\.page), collecting: generation)
        walks &+= 1
        tables.stamp = 1 << 48 | (walks & 0xFFFF_FFFF)
        heap.stampAllocations(tables.stamp)
        defer { heap.stampAllocations(0) }
        tables.index(plan)
        let filter = CandidateFilter(collecting: generation)
        let policy = heap.policy
        for (number, view) in plan.pages.enumerated() {
            heap.testHooks?.beforeConcurrentPageCopy?(view.start)
            let carved = heap.allocator.copyBlocks(of: view, to: pageCopy)
            let tagKey = view.page.pointee.tagKey
            let first = tables.firstIndex[number]
            tables.reserve(candidates: carved, edges: carved &* ((view.blockSize &- ObjectHeader.size) >> 3))
            for block in 0..<carved {
                let copy = pageCopy + block &* view.blockSize
                let address = view.start &+ UInt(bitPattern: block &* view.blockSize)
                // A free block carries its tag in word 1 (Page.swift): nothing to read.
                if copy.load(fromByteOffset: 8, as: UInt.self) == tagKey ^ address { continue }
                tables.visit(copy, address: address, index: first &+ block, limit: view.blockSize, filter: filter, policy: policy)
            }
            heap.makeRoom(carved / ConcurrentDetection.blocksPerRoom)
        }
        var header = [UInt64](repeating: 0, count: ObjectHeader.size / 8)
        let largeBase = tables.firstIndex[plan.pages.count]
        for (number, (block, size)) in plan.large.enumerated() {
            header.withUnsafeMutableBufferPointer { heapd_racy_copy_words($0.baseAddress!, block, UInt64($0.count)) }
            let slots = min(Int(header[3] >> 32), (size - ObjectHeader.size) / 8)
            var copy = [UInt64](repeating: 0, count: ObjectHeader.size / 8 + slots)
            copy.withUnsafeMutableBufferPointer { heapd_racy_copy_words($0.baseAddress!, block, UInt64($0.count)) }
            tables.reserve(candidates: 1, edges: slots)
            copy.withUnsafeMutableBytes { bytes in
                tables.visit(bytes.baseAddress!, address: UInt(bitPattern: block), index: largeBase + number,
                             limit: bytes.count, filter: filter, policy: policy)
            }
        }
        heap.makeRoom(plan.large.count / ConcurrentDetection.blocksPerRoom)
        tables.edgeStart.append(Int32(tables.edges.count))
        let (tentative, batches) = tables.markAndPromote(target: heap.promotionTarget(of: generation))
        return Outcome(tentative: tentative, batches: batches, candidates: tables.addresses.count, pages: plan.pages.count)
    }
}

/// The walk's own tables: block indices for every block of the pages walked (then the large
/// blocks), gc_refs and candidates, and the edges between them.
private struct Tables {
    /// Page views walked, and the first block index of each (one more entry: the first large
    /// block's index).
    var views = RawList<ConcurrentPageView>()
    var firstIndex = RawList<Int>()
    /// Arena base → offset in `viewOfPage` of the arena's `Arena.pageCount` entries (a view's
    /// number, or -1 for a page not walked); the last arena looked up, as a one-entry cache.
    var arenaOffset: [UInt: Int] = [:]
    var viewOfPage = RawList<Int32>()
    var lastArena: UInt = 0
    var lastOffset = -1
    /// Large block address → block index (after every page's blocks).
    var largeIndex: [UInt: Int] = [:]
    /// Per block index: gc_refs (count less references from walked blocks' slots), and the
    /// candidate's ordinal (-1: not a candidate).
    var refs = RawList<Int32>()
    var ordinal = RawList<Int32>()
    /// Per candidate, in walk order: its address, and where its edges start in `edges`.
    var addresses = RawList<UInt>()
    var edgeStart = RawList<Int32>()
    var edges = RawList<Int32>()
    /// The walk's allocation stamp: a block whose scratch word holds it was made after the walk
    /// began.
    var stamp: UInt = 0
    /// Marking's and batching's working lists (`markAndPromote`, `batches`): per candidate,
    /// reached, union-find parent, component size (then next slot); the marking stack; the
    /// unreached candidates.
    var reached = RawList<Bool>()
    var parent = RawList<Int32>()
    var size = RawList<Int32>()
    var stack = RawList<Int32>()
    var unreached = RawList<Int32>()

    /// Numbers every block of the plan and fills the lookup tables.
    mutating func index(_ plan: ConcurrentWalkPlan) {
        views.removeAll()
        for view in plan.pages { views.append(view) }
        firstIndex.removeAll()
        arenaOffset.removeAll(keepingCapacity: true)
        viewOfPage.removeAll()
        largeIndex.removeAll(keepingCapacity: true)
        lastArena = 0
        lastOffset = -1
        var next = 0
        for (number, view) in plan.pages.enumerated() {
            firstIndex.append(next)
            next += view.reserved
            let arena = view.start & ~UInt(Arena.size - 1)
            let offset = arenaOffset[arena] ?? {
                let offset = viewOfPage.count
                viewOfPage.append(-1, count: Arena.pageCount)
                arenaOffset[arena] = offset
                return offset
            }()
            viewOfPage[offset + Int((view.start - arena) >> UInt(Arena.pageShift))] = Int32(number)
        }
        firstIndex.append(next)
        for (number, large) in plan.large.enumerated() { largeIndex[UInt(bitPattern: large.block)] = next + number }
        next += plan.large.count
        refs.resize(to: next, filling: 0)
        ordinal.resize(to: next, filling: -1)
        addresses.removeAll()
        edgeStart.removeAll()
        edges.removeAll()
    }

    /// Frees the lists' memory (the owner's deinit).
    func deallocate() {
        views.deallocate(); firstIndex.deallocate(); viewOfPage.deallocate()
        refs.deallocate(); ordinal.deallocate(); addresses.deallocate(); edgeStart.deallocate(); edges.deallocate()
        reached.deallocate(); parent.deallocate(); size.deallocate(); stack.deallocate(); unreached.deallocate()
    }

    /// The block index of the walked block at `address`, or -1 (not a walked block, or not a
    /// block boundary). Reads only the walk's tables.
    @inline(__always)
    mutating func blockIndex(of address: UInt) -> Int {
        let arena = address & ~UInt(Arena.size - 1)
        if arena != lastArena {
            lastArena = arena
            lastOffset = arenaOffset[arena] ?? -1
        }
        guard lastOffset >= 0 else { return largeIndex.isEmpty ? -1 : largeIndex[address] ?? -1 }
        let view = Int(viewOfPage[lastOffset &+ Int(bitPattern: (address &- arena) >> UInt(Arena.pageShift))])
        guard view >= 0 else { return -1 }
        let found = views[view]
        guard address >= found.start else { return -1 }
        let offsetInPage = address &- found.start
        let block = Int((UInt64(offsetInPage) &* UInt64(found.reciprocal)) >> 32)
        guard block < found.reserved, UInt(bitPattern: block &* found.blockSize) == offsetInPage else { return -1 }
        return firstIndex[view] &+ block
    }

    /// Room for `candidates` more candidates with `edges` edges in all, so that `visit` appends
    /// without checking.
    mutating func reserve(candidates: Int, edges more: Int) {
        addresses.reserve(addresses.count + candidates)
        edgeStart.reserve(edgeStart.count + candidates + 1)
        edges.reserve(edges.count + more)
    }

    /// Step 2 for one block's copy at `copy` (at most `limit` bytes of it are the block's). The
    /// caller has reserved room for it (`reserve`): one candidate, `limit` / 8 edges.
    @inline(__always)
    mutating func visit(_ copy: UnsafeMutableRawPointer, address: UInt, index: Int, limit: Int, filter: CandidateFilter, policy: RefCountPolicyKind) {
        let word3 = copy.load(fromByteOffset: 24, as: UInt64.self)
        guard filter.admits(gcBits: UInt8(truncatingIfNeeded: word3 >> 16)),
              copy.load(fromByteOffset: 16, as: UInt.self) != stamp else { return }
        let slots = Int(word3 >> 32)
        guard ObjectHeader.size &+ slots &* 8 <= limit else { return }
        let local = copy.load(fromByteOffset: 4, as: UInt32.self)
        let shared = copy.load(fromByteOffset: 8, as: Int.self)
        let count = switch policy {
        // A queued object's owner has yet to merge the queue's reference, which the pause will
        // hold and not count (Finalization's subtractPauseHeld): not one from outside either.
        // A striped object's local word is its stripe id: its count is the merged one, short of
        // the mutators' tables, which the pause merges before validation (Heap+Striping).
        case .biased where copy.load(as: UInt32.self) == Striping.owner: SharedState.count(shared)
        case .biased: Int(local) + SharedState.count(shared) - (SharedState.state(shared) == SharedState.queued ? 1 : 0)
        case .atomic: shared
        case .globalLock: Int(local)
        }
        ordinal[index] = Int32(truncatingIfNeeded: addresses.count)
        addresses.appendReserved(address)
        edgeStart.appendReserved(Int32(truncatingIfNeeded: edges.count))
        refs[index] &+= Int32(truncatingIfNeeded: count)
        for slot in 0..<slots {
            let value = copy.load(fromByteOffset: ObjectHeader.size &+ slot &* 8, as: UInt.self)
            guard value != 0 else { continue }
            let target = blockIndex(of: value)
            guard target >= 0 else { continue }
            refs[target] &-= 1
            edges.appendReserved(Int32(truncatingIfNeeded: target))
        }
    }

    /// Steps 3 and 4: marks from the roots, promotes what it reached, returns the rest, component
    /// by component, and its batches (`Outcome`).
    mutating func markAndPromote(target: UInt8) -> ([UInt], [Range<Int>]) {
        reached.resize(to: addresses.count, filling: false)
        stack.removeAll()
        for index in 0..<ordinal.count {
            let root = ordinal[index]
            guard root >= 0, refs[index] > 0, !reached[Int(root)] else { continue }
            reached[Int(root)] = true
            stack.append(root)
            while let next = stack.popLast() {
                for edge in Int(edgeStart[Int(next)])..<Int(edgeStart[Int(next) + 1]) {
                    let referent = ordinal[Int(edges[edge])]
                    guard referent >= 0, !reached[Int(referent)] else { continue }
                    reached[Int(referent)] = true
                    stack.append(referent)
                }
            }
        }
        unreached.removeAll()
        for candidate in 0..<addresses.count {
            guard reached[candidate] else {
                unreached.append(Int32(candidate))
                continue
            }
            // The generation bits only, and never a dead object's: a block reused meanwhile gets
            // an older generation at worst, which costs it a young collection's look.
            let address = addresses[candidate]
            let bits = UnsafeMutableRawPointer(bitPattern: address)! + ObjectHeader.gcBitsOffset
            if heapd_racy_update_byte(bits, GCBits.generationMask, target << GCBits.generationShift, GCBits.dead) != 0,
               target < 2, largeIndex.isEmpty || largeIndex[address] == nil {
                Arena.page(containing: address).pointee.markGeneration(target)
            }
        }
        return batches()
    }

    /// The unreached candidates' addresses grouped by component (union-find over the edges
    /// between them), and batches of whole components of at most `pauseBudget` objects.
    private mutating func batches() -> ([UInt], [Range<Int>]) {
        // A component is named by its root, its smallest candidate: a union links the larger
        // root under the smaller and path halving only shortens links, so a parent is never
        // greater than its child (`parent[x] <= x`).
        parent.resize(to: addresses.count, filling: -1)
        for i in 0..<unreached.count { parent[Int(unreached[i])] = unreached[i] }
        let parent = self.parent
        @inline(__always) func root(_ x: Int32) -> Int32 {
            var x = x
            while parent[Int(x)] != x {
                parent[Int(x)] = parent[Int(parent[Int(x)])]      // path halving
                x = parent[Int(x)]
            }
            return x
        }
        for i in 0..<unreached.count {
            let candidate = unreached[i]
            for edge in Int(edgeStart[Int(candidate)])..<Int(edgeStart[Int(candidate) + 1]) {
                let referent = ordinal[Int(edges[edge])]
                guard referent >= 0, !reached[Int(referent)] else { continue }
                let (a, b) = (root(candidate), root(referent))
                if a != b { parent[Int(max(a, b))] = min(a, b) }
            }
        }
        // Every link straight to its root, in increasing order (`unreached` is): a parent,
        // smaller, already links to its root.
        for i in 0..<unreached.count {
            let x = Int(unreached[i])
            parent[x] = parent[Int(parent[x])]
        }
        // A counting sort of the unreached by component (no allocation per component): sizes,
        // then each component's first slot in `tentative`, in order of first appearance — the
        // roots in increasing order. `size` holds, for a root, its size and then its next slot.
        size.resize(to: addresses.count, filling: 0)
        for i in 0..<unreached.count { size[Int(parent[Int(unreached[i])])] &+= 1 }
        var batches: [Range<Int>] = []
        var next: Int32 = 0
        var batchStart = 0
        for i in 0..<unreached.count {
            let component = Int(unreached[i])
            guard parent[component] == Int32(component) else { continue }   // a root
            let count = Int(size[component])
            if Int(next) > batchStart && Int(next) - batchStart + count > ConcurrentDetection.pauseBudget {
                batches.append(batchStart..<Int(next))
                batchStart = Int(next)
            }
            size[component] = next
            next += Int32(count)
        }
        if Int(next) > batchStart { batches.append(batchStart..<Int(next)) }
        var tentative = [UInt](repeating: 0, count: unreached.count)
        tentative.withUnsafeMutableBufferPointer { tentative in
            for i in 0..<unreached.count {
                let component = Int(parent[Int(unreached[i])])
                tentative[Int(size[component])] = addresses[Int(unreached[i])]
                size[component] &+= 1
            }
        }
        return (tentative, batches)
    }
}

/// A growable list of plain values in memory of its own, for the walk's hot loops: no
/// copy-on-write (an Array's uniqueness check on every append and store was a tenth of the
/// walk's instructions), no bounds check in release builds. A value type of pointers: copies
/// share the memory, and writes through any of them (`subscript`'s setter is nonmutating) are
/// seen by all; growing reallocates, so only the copy that grew may be used after. The owner
/// frees it (`deallocate`).
struct RawList<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>?
    private(set) var count = 0
    private(set) var capacity = 0

    @inline(__always)
    subscript(index: Int) -> Element {
        get {
            assert(index >= 0 && index < count, "heapd: RawList index out of range")
            return base.unsafelyUnwrapped[index]
        }
        nonmutating set {
            assert(index >= 0 && index < count, "heapd: RawList index out of range")
            base.unsafelyUnwrapped[index] = newValue
        }
    }

    @inline(__always)
    mutating func append(_ element: Element) {
        if count == capacity { reserve(max(capacity * 2, 1024)) }
        base.unsafelyUnwrapped[count] = element
        count += 1
    }

    /// `append` where `reserve` has made the room.
    @inline(__always)
    mutating func appendReserved(_ element: Element) {
        assert(count < capacity, "heapd: RawList.appendReserved past the room reserved")
        base.unsafelyUnwrapped[count] = element
        count &+= 1
    }

    @inline(__always)
    mutating func popLast() -> Element? {
        guard count > 0 else { return nil }
        count -= 1
        return base.unsafelyUnwrapped[count]
    }

    mutating func removeAll() { count = 0 }

    /// Appends `value` `count` times.
    mutating func append(_ value: Element, count more: Int) {
        if count + more > capacity { reserve(max(capacity * 2, count + more)) }
        (base.unsafelyUnwrapped + count).initialize(repeating: value, count: more)
        count += more
    }

    /// `count` elements, each `value`; the memory is kept from one use to the next.
    mutating func resize(to newCount: Int, filling value: Element) {
        if newCount > capacity { reserve(newCount) }
        base?.update(repeating: value, count: newCount)
        count = newCount
    }

    mutating func reserve(_ minimumCapacity: Int) {
        guard minimumCapacity > capacity else { return }
        let minimumCapacity = max(minimumCapacity, capacity * 2)
        let grown = UnsafeMutablePointer<Element>.allocate(capacity: minimumCapacity)
        if let base {
            grown.update(from: base, count: count)
            base.deallocate()
        }
        base = grown
        capacity = minimumCapacity
    }

    func deallocate() { base?.deallocate() }
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
    /// restarted (in a collection's first validation pause); waiters wait on (top of the file).
    func beginPacing() {
        // Saturating: a threshold may be as large as a program or a client sets it.
        let budget = collectorState.withLock { state in
            let (thresholds, overflow) = state.youngThreshold.multipliedReportingOverflow(by: ConcurrentDetection.budgetThresholds)
            return max(overflow ? Int.max : thresholds, state.longLivedTotal)
        }
        let count0 = counters.pointee.count0.load(ordering: .relaxed)
        counters.pointee.room.store(0, ordering: .relaxed)
        counters.pointee.stallAbove.store(count0 > Int.max - budget ? Int.max : count0 + budget, ordering: .relaxed)
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

    /// The walk is over: waiting mutators go on.
    func endPacing() {
        walkPacing.withLock {
            counters.pointee.stallAbove.store(Int.max, ordering: .relaxed)
            walkPacing.broadcast()
        }
    }

    /// Whether an allocating mutator must wait for the walk (pacing, top of the file).
    func outpacesWalk() -> Bool {
        let stallAbove = counters.pointee.stallAbove.load(ordering: .relaxed)
        guard stallAbove != Int.max else { return false }
        let (excess, overflow) = counters.pointee.count0.load(ordering: .relaxed).subtractingReportingOverflow(stallAbove)
        return overflow || excess > counters.pointee.room.load(ordering: .sequentiallyConsistent)
    }
}

extension Mutator {
    /// Waits, in a blocking region, until the running concurrent collection has made room or
    /// its pacing has ended (top of the file). Records the wait as a pause this mutator saw.
    @inline(never)
    func waitForConcurrentWalk() {
        // The collecting mutator never waits for its own collection (it does not allocate while
        // it walks, but it frees, and a finalizer of a nested collection may allocate).
        guard withHeap({ $0.outpacesWalk() && !$0.collectionGate.isHeld(by: self) }) else { return }
        let start = monotonicNanoseconds()
        enterBlockingRegion()
        withHeap { heap in
            heap.walkPacing.withLock {
                // Sequentially consistent: pairs with `makeRoom` (its comment). `stallAbove` is
                // lowered to Int.max under this mutex by `endPacing`.
                heap.counters.pointee.pacingWaiters.wrappingAdd(1, ordering: .sequentiallyConsistent)
                while heap.outpacesWalk() { heap.walkPacing.wait() }
                heap.counters.pointee.pacingWaiters.wrappingSubtract(1, ordering: .relaxed)
            }
        }
        leaveBlockingRegion()
        withHeap { heap in heap.world.withLock { heap.world.recordMutatorPauseLocked(monotonicNanoseconds() - start) } }
    }
}

extension Heap {
    /// Validation (top of the file): the tentative addresses that are live admissible objects of
    /// this heap now. World stopped, before the walk ends.
    func validate(_ tentative: ArraySlice<UInt>) -> [ObjectRef] {
        assertWorldStopped()
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
