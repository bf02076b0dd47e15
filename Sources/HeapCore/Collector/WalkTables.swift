// WalkTables: the concurrent walk's own memory (ConcurrentDetection.swift has the algorithm).
//
//   WalkIndex    what the walk's lanes share: every block of the plan numbered (a block index),
//                the lookup from an address to its block index, and per block index the
//                candidate's count and its ordinal in its lane. The lookup tables are written
//                before the lanes start and only read while they run; a block's count and
//                ordinal are written by the one lane that walks its page.
//   WalkLane     one walking thread's output: its candidates (address, block index, where its
//                edges start) and edges (block indices), its address-lookup cursor and its page
//                copy. Lane 0 is the collecting thread's; the others are lent to mutators that
//                assist (ConcurrentDetection's `SharedWalk`).
//   WalkMarking  after the lanes are done, on the collecting thread: the lanes' candidates merged
//                into lane 0 (ordinals renumbered), the edges taken off their referents' counts,
//                marking from the candidates referenced from outside, and the unreached ones
//                grouped into components and batches.

import CHeapShim

/// The lanes' shared tables (top of the file). A value of pointers and copy-on-write
/// dictionaries: each lane takes a copy, and writes through it (`refs`, `ordinal`) reach the same
/// memory.
struct WalkIndex {
    /// Page views walked, and the first block index of each (one more entry: the first large
    /// block's index).
    var views = RawList<ConcurrentPageView>()
    var firstIndex = RawList<Int>()
    /// Arena base → offset in `viewOfPage` of the arena's `Arena.pageCount` entries (a view's
    /// number, or -1 for a page not walked).
    var arenaOffset: [UInt: Int] = [:]
    var viewOfPage = RawList<Int32>()
    /// Large block address → block index (after every page's blocks).
    var largeIndex: [UInt: Int] = [:]
    /// Per block index: the candidate's count as its lane read it (the merge takes the edges
    /// off: gc_refs), and its ordinal in its lane (-1: not a candidate; the merge renumbers them
    /// across lanes).
    var refs = RawList<Int32>()
    var ordinal = RawList<Int32>()
    /// The walk's allocation stamp: a block whose scratch word holds it was made after the walk
    /// began.
    var stamp: UInt = 0

    /// Numbers every block of the plan and fills the lookup tables.
    mutating func index(_ plan: ConcurrentWalkPlan) {
        views.removeAll()
        for view in plan.pages { views.append(view) }
        firstIndex.removeAll()
        arenaOffset.removeAll(keepingCapacity: true)
        viewOfPage.removeAll()
        largeIndex.removeAll(keepingCapacity: true)
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
    }

    /// Frees the lists' memory (the owner's deinit).
    func deallocate() {
        views.deallocate(); firstIndex.deallocate(); viewOfPage.deallocate(); refs.deallocate(); ordinal.deallocate()
    }

    var bytes: TableBytes { views.bytes + firstIndex.bytes + viewOfPage.bytes + refs.bytes + ordinal.bytes }
}

/// One walking thread's output and working memory (top of the file). Reused from one walk to the
/// next; the owner frees it (`deallocate`).
struct WalkLane {
    /// Per candidate, in the order this lane found them: its address and where its edges start
    /// in `edges` (block indices of the walked blocks its slots name). A candidate's own block
    /// index is found again from its address where it is needed (`absorb`), not kept.
    var addresses = RawList<UInt>()
    var edgeStart = RawList<Int32>()
    var edges = RawList<Int32>()
    /// The last arena looked up and its offset in `WalkIndex.viewOfPage`: a one-entry cache.
    var lastArena: UInt = 0
    var lastOffset = -1
    /// One page's copy.
    let pageCopy = UnsafeMutableRawPointer.allocate(byteCount: Arena.pageSize, alignment: 16)

    mutating func reset() {
        addresses.removeAll(); edgeStart.removeAll(); edges.removeAll()
        lastArena = 0
        lastOffset = -1
    }

    func deallocate() {
        addresses.deallocate(); edgeStart.deallocate(); edges.deallocate()
        pageCopy.deallocate()
    }

    var bytes: TableBytes { addresses.bytes + edgeStart.bytes + edges.bytes }

    /// The block index of the walked block at `address`, or -1 (not a walked block, or not a
    /// block boundary). Reads only the walk's tables.
    @inline(__always)
    mutating func blockIndex(of address: UInt, in index: WalkIndex) -> Int {
        let arena = address & ~UInt(Arena.size - 1)
        if arena != lastArena {
            lastArena = arena
            lastOffset = index.arenaOffset[arena] ?? -1
        }
        guard lastOffset >= 0 else { return index.largeIndex.isEmpty ? -1 : index.largeIndex[address] ?? -1 }
        let view = Int(index.viewOfPage[lastOffset &+ Int(bitPattern: (address &- arena) >> UInt(Arena.pageShift))])
        guard view >= 0 else { return -1 }
        let found = index.views[view]
        guard address >= found.start else { return -1 }
        let offsetInPage = address &- found.start
        let block = Int((UInt64(offsetInPage) &* UInt64(found.reciprocal)) >> 32)
        guard block < found.reserved, UInt(bitPattern: block &* found.blockSize) == offsetInPage else { return -1 }
        return index.firstIndex[view] &+ block
    }

    /// Room for `candidates` more candidates with `edges` edges in all, so that `visit` appends
    /// without checking.
    mutating func reserve(candidates: Int, edges more: Int) {
        addresses.reserve(addresses.count + candidates)
        edgeStart.reserve(edgeStart.count + candidates)
        edges.reserve(edges.count + more)
    }

    /// Walks page `number` of the plan: copies it and visits each of its blocks. Returns the
    /// blocks it examined (pacing's room is made from them).
    mutating func walkPage(_ number: Int, of heap: Heap, index: WalkIndex, filter: CandidateFilter, policy: RefCountPolicyKind) -> Int {
        let view = index.views[number]
        heap.testHooks?.beforeConcurrentPageCopy?(view.start)
        let carved = heap.allocator.copyBlocks(of: view, to: pageCopy)
        let tagKey = view.page.pointee.tagKey
        let first = index.firstIndex[number]
        reserve(candidates: carved, edges: carved &* ((view.blockSize &- ObjectHeader.size) >> 3))
        for block in 0..<carved {
            let copy = pageCopy + block &* view.blockSize
            let address = view.start &+ UInt(bitPattern: block &* view.blockSize)
            // A free block carries its tag in word 1 (Page.swift): nothing to read.
            if copy.load(fromByteOffset: 8, as: UInt.self) == tagKey ^ address { continue }
            visit(copy, address: address, block: first &+ block, limit: view.blockSize, index: index, filter: filter, policy: policy)
        }
        return carved
    }

    /// Step 2 for one block's copy at `copy` (at most `limit` bytes of it are the block's), block
    /// index `block`. The caller has reserved room for it (`reserve`): one candidate, `limit` / 8
    /// edges.
    @inline(__always)
    mutating func visit(_ copy: UnsafeMutableRawPointer, address: UInt, block: Int, limit: Int, index: WalkIndex,
                        filter: CandidateFilter, policy: RefCountPolicyKind) {
        let word3 = copy.load(fromByteOffset: 24, as: UInt64.self)
        guard filter.admits(gcBits: UInt8(truncatingIfNeeded: word3 >> 16)),
              copy.load(fromByteOffset: 16, as: UInt.self) != index.stamp else { return }
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
        index.ordinal[block] = Int32(truncatingIfNeeded: addresses.count)
        index.refs[block] = Int32(truncatingIfNeeded: count)
        addresses.appendReserved(address)
        edgeStart.appendReserved(Int32(truncatingIfNeeded: edges.count))
        for slot in 0..<slots {
            let value = copy.load(fromByteOffset: ObjectHeader.size &+ slot &* 8, as: UInt.self)
            guard value != 0 else { continue }
            let target = blockIndex(of: value, in: index)
            guard target >= 0 else { continue }
            edges.appendReserved(Int32(truncatingIfNeeded: target))
        }
    }

    /// Appends `other`'s candidates and edges to this lane's, renumbering their ordinals in
    /// `index` to follow this lane's. The collecting thread, once `other`'s walker is done.
    mutating func absorb(_ other: WalkLane, in index: WalkIndex) {
        let base = Int32(truncatingIfNeeded: addresses.count)
        let edgeBase = Int32(truncatingIfNeeded: edges.count)
        reserve(candidates: other.addresses.count, edges: other.edges.count)
        for i in 0..<other.addresses.count {
            let address = other.addresses[i]
            // The block index `other` wrote its ordinal at: a candidate's address is the start of
            // a walked block, which the same tables map to the same index.
            let block = blockIndex(of: address, in: index)
            assert(block >= 0 && index.ordinal[block] == Int32(truncatingIfNeeded: i), "heapd: an absorbed candidate's block index differs from its walk's")
            index.ordinal[block] = base &+ Int32(truncatingIfNeeded: i)
            addresses.appendReserved(address)
            edgeStart.appendReserved(edgeBase &+ other.edgeStart[i])
        }
        for i in 0..<other.edges.count { edges.appendReserved(other.edges[i]) }
    }
}

/// Steps 3 and 4 over the merged lanes (top of the file): the collecting thread's working lists,
/// reused between walks. Per candidate: reached, reach and piece (`batches`); the marking
/// stack; the unreached candidates; `batches`' long edges, pieces, groups and order.
struct WalkMarking {
    var reached = RawList<Bool>()
    var reach = RawList<Int32>()
    var pieceOf = RawList<Int32>()
    var stack = RawList<Int32>()
    var unreached = RawList<Int32>()
    var longEdges = RawList<Int32>()
    var pieceStart = RawList<Int32>()
    var group = RawList<Int32>()
    var order = RawList<Int32>()

    func deallocate() {
        reached.deallocate(); reach.deallocate(); pieceOf.deallocate(); stack.deallocate(); unreached.deallocate()
        longEdges.deallocate(); pieceStart.deallocate(); group.deallocate(); order.deallocate()
    }

    var bytes: TableBytes {
        reached.bytes + reach.bytes + pieceOf.bytes + stack.bytes + unreached.bytes + longEdges.bytes + pieceStart.bytes
            + group.bytes + order.bytes
    }

    /// Takes every edge off its referent's count (what is left is gc_refs), marks from the
    /// candidates with gc_refs > 0, promotes what it reached to `target`, and returns the rest,
    /// component by component, with its batches (`ConcurrentDetection.Outcome`). `lane` holds
    /// every lane's candidates, its `edgeStart` closed by a last entry.
    mutating func markAndPromote(_ lane: WalkLane, index: WalkIndex, target: UInt8) -> ([UInt], [Range<Int>]) {
        let (refs, ordinal, edges, edgeStart) = (index.refs, index.ordinal, lane.edges, lane.edgeStart)
        for edge in 0..<edges.count { refs[Int(edges[edge])] &-= 1 }
        reached.resize(to: lane.addresses.count, filling: false)
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
        for candidate in 0..<lane.addresses.count {
            guard reached[candidate] else {
                unreached.append(Int32(candidate))
                continue
            }
            // The generation bits only, and never a dead object's: a block reused meanwhile gets
            // an older generation at worst, which costs it a young collection's look.
            let address = lane.addresses[candidate]
            let bits = UnsafeMutableRawPointer(bitPattern: address)! + ObjectHeader.gcBitsOffset
            if heapd_racy_update_byte(bits, GCBits.generationMask, target << GCBits.generationShift, GCBits.dead) != 0,
               target < 2, index.largeIndex.isEmpty || index.largeIndex[address] == nil {
                Arena.page(containing: address).pointee.markGeneration(target)
            }
        }
        return batches(lane, index: index)
    }

    /// Edges between unreached candidates at most this far apart (in candidate order) are
    /// *short* (`batches`).
    static let shortEdge: Int32 = 64

    /// The unreached candidates' addresses grouped into batches of whole components (by the
    /// edges between them) of at most `pauseBudget` objects, unless one component is larger.
    ///
    /// A mutator's objects sit together in its pages, so most components are runs of candidates
    /// close together, linked by short edges (`shortEdge`). In candidate order, the unreached are
    /// first cut wherever no short edge crosses: each *piece* between two cuts is closed under
    /// short edges. The long edges (an object far from its neighbours, a cycle through two
    /// threads' pages) then join pieces into groups, by a union-find over the few pieces they
    /// touch. A group is whole components; groups are packed into batches in order of their
    /// first piece, and the rare group larger than the budget (a large component, or components
    /// interleaved with one) is split into its components.
    private mutating func batches(_ lane: WalkLane, index: WalkIndex) -> ([UInt], [Range<Int>]) {
        let (ordinal, edges, edgeStart, addresses) = (index.ordinal, lane.edges, lane.edgeStart, lane.addresses)
        // `reach[x]`: the farthest unreached candidate that a short edge links with x, x the
        // nearer to the start; the long edges are listed, nearer end first.
        reach.resize(to: addresses.count, filling: -1)
        for i in 0..<unreached.count { reach[Int(unreached[i])] = unreached[i] }
        let reach = self.reach
        longEdges.removeAll()
        for i in 0..<unreached.count {
            let candidate = unreached[i]
            for edge in Int(edgeStart[Int(candidate)])..<Int(edgeStart[Int(candidate) + 1]) {
                let referent = ordinal[Int(edges[edge])]
                guard referent >= 0, !reached[Int(referent)] else { continue }
                let (near, far) = candidate < referent ? (candidate, referent) : (referent, candidate)
                if far &- near <= WalkMarking.shortEdge {
                    if reach[Int(near)] < far { reach[Int(near)] = far }
                } else {
                    longEdges.append(near)
                    longEdges.append(far)
                }
            }
        }
        // The pieces: a cut before the k-th unreached when no short edge from an earlier one
        // reaches it. `pieceOf` numbers each unreached candidate's piece.
        pieceStart.removeAll()
        pieceOf.resize(to: addresses.count, filling: -1)
        var farthest: Int32 = -1
        for k in 0..<unreached.count {
            let candidate = unreached[k]
            if candidate > farthest { pieceStart.append(Int32(truncatingIfNeeded: k)) }
            farthest = max(farthest, reach[Int(candidate)])
            pieceOf[Int(candidate)] = Int32(truncatingIfNeeded: pieceStart.count &- 1)
        }
        let pieces = pieceStart.count
        pieceStart.append(Int32(truncatingIfNeeded: unreached.count))
        // The groups: a union-find over the pieces the long edges touch (-1: a piece no long
        // edge touches). A group is named by its first piece: a union links the larger root
        // under the smaller, so the root is met first in order.
        group.resize(to: pieces, filling: -1)
        let group = self.group
        @inline(__always) func root(_ x: Int32) -> Int32 {
            var x = x
            while group[Int(x)] >= 0 && group[Int(x)] != x {
                group[Int(x)] = group[Int(group[Int(x)])]      // path halving
                x = group[Int(x)]
            }
            return x
        }
        for edge in stride(from: 0, to: longEdges.count, by: 2) {
            let (a, b) = (root(pieceOf[Int(longEdges[edge])]), root(pieceOf[Int(longEdges[edge + 1])]))
            guard a != b else { continue }
            group[Int(min(a, b))] = min(a, b)
            group[Int(max(a, b))] = min(a, b)
        }
        // Each group's pieces, root first: (root, piece) pairs in order.
        var members: [UInt64] = []
        if longEdges.count > 0 {
            for piece in 0..<pieces where group[piece] >= 0 {
                members.append(UInt64(UInt32(root(Int32(piece)))) << 32 | UInt64(piece))
            }
            members.sort()
        }
        // The groups in order, each packed whole, except one over the budget: split by its
        // components (`splitByComponent`), so that a batch over the budget is one component.
        order.removeAll()
        order.reserve(unreached.count)
        var packing = BatchPacking()
        var member = 0
        for piece in 0..<pieces {
            let start = order.count
            if group[piece] < 0 {
                appendPiece(piece)
            } else if group[piece] == Int32(piece) {
                // A root: its members follow it in `members`, and none was appended yet.
                while member < members.count && members[member] >> 32 == UInt64(piece) {
                    appendPiece(Int(members[member] & 0xFFFF_FFFF))
                    member += 1
                }
            } else {
                continue
            }
            if order.count - start > ConcurrentDetection.pauseBudget {
                splitByComponent(start..<order.count, lane, index: index, &packing)
            } else {
                packing.add(order.count - start)
            }
        }
        let order = self.order
        // Not `unsafeUninitializedCapacity: 0`: it writes the count of the runtime's one shared
        // empty-array storage, which every other collector's empty arrays read.
        guard order.count > 0 else { return ([], packing.finish()) }
        let tentative = [UInt](unsafeUninitializedCapacity: order.count) { tentative, initialized in
            for i in 0..<order.count { tentative[i] = addresses[Int(order[i])] }
            initialized = order.count
        }
        return (tentative, packing.finish())
    }

    /// Appends piece `piece`'s candidates to `order`.
    private mutating func appendPiece(_ piece: Int) {
        for k in Int(pieceStart[piece])..<Int(pieceStart[piece + 1]) { order.appendReserved(unreached[k]) }
    }

    /// Reorders `order[range]`, a group (closed under the edges between the unreached, its
    /// candidates in increasing order), by component, and packs the components. A union-find
    /// over its edges: a component is named by its root, its smallest candidate (a union links
    /// the larger root under the smaller, and path halving only shortens links, so a parent is
    /// never greater than its child). `reach` and `pieceOf` are done with: they hold the parents
    /// and the sizes.
    private mutating func splitByComponent(_ range: Range<Int>, _ lane: WalkLane, index: WalkIndex, _ packing: inout BatchPacking) {
        let (ordinal, edges, edgeStart) = (index.ordinal, lane.edges, lane.edgeStart)
        let (order, parent, size) = (self.order, self.reach, self.pieceOf)
        for i in range {
            parent[Int(order[i])] = order[i]
            size[Int(order[i])] = 0
        }
        @inline(__always) func root(_ x: Int32) -> Int32 {
            var x = x
            while parent[Int(x)] != x {
                parent[Int(x)] = parent[Int(parent[Int(x)])]      // path halving
                x = parent[Int(x)]
            }
            return x
        }
        for i in range {
            let candidate = order[i]
            for edge in Int(edgeStart[Int(candidate)])..<Int(edgeStart[Int(candidate) + 1]) {
                let referent = ordinal[Int(edges[edge])]
                guard referent >= 0, !reached[Int(referent)] else { continue }
                let (a, b) = (root(candidate), root(referent))
                if a != b { parent[Int(max(a, b))] = min(a, b) }
            }
        }
        // Every link straight to its root, in increasing order: a parent, smaller, already
        // links to its root. Then a counting sort: sizes, then each component's next position.
        for i in range {
            let x = Int(order[i])
            parent[x] = parent[Int(parent[x])]
        }
        for i in range { size[Int(parent[Int(order[i])])] &+= 1 }
        var next = Int32(truncatingIfNeeded: range.lowerBound)
        for i in range where parent[Int(order[i])] == order[i] {
            let root = Int(order[i])
            let count = size[root]
            packing.add(Int(count))
            size[root] = next
            next &+= count
        }
        stack.removeAll()
        for i in range { stack.append(order[i]) }
        for i in 0..<stack.count {
            let root = Int(parent[Int(stack[i])])
            order[Int(size[root])] = stack[i]
            size[root] &+= 1
        }
    }
}

/// Batches of the tentative garbage (`ConcurrentDetection.Outcome`): consecutive groups, each
/// whole components, packed in order into ranges of at most `pauseBudget` objects (a larger
/// group alone).
struct BatchPacking {
    private(set) var batches: [Range<Int>] = []
    private var start = 0
    private var end = 0

    mutating func add(_ count: Int) {
        if end > start && end - start + count > ConcurrentDetection.pauseBudget {
            batches.append(start..<end)
            start = end
        }
        end += count
    }

    mutating func finish() -> [Range<Int>] {
        if end > start { batches.append(start..<end) }
        start = end
        return batches
    }
}

/// A `RawList` of at least this many bytes is mapped from the kernel and unmapped when it grows
/// or is freed. From malloc, a large list freed was kept by glibc once its dynamic mmap threshold
/// had risen past it, and the walk's tables, regrown from walk to walk and given back after a
/// large one (`ConcurrentDetection.trimTables`), held their peak's memory that way.
let rawListMappedBytes = 256 << 10

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
        let grown = RawList.allocate(minimumCapacity)
        if let base {
            grown.update(from: base, count: count)
            RawList.free(base, capacity: capacity)
        }
        base = grown
        capacity = minimumCapacity
    }

    func deallocate() {
        if let base { RawList.free(base, capacity: capacity) }
    }

    /// Memory for `capacity` elements: from malloc, or mapped from the kernel when it is at
    /// least `rawListMappedBytes`.
    private static func allocate(_ capacity: Int) -> UnsafeMutablePointer<Element> {
        let bytes = capacity * MemoryLayout<Element>.stride
        guard bytes >= rawListMappedBytes else { return .allocate(capacity: capacity) }
        guard let mapped = OSMemory.mapAligned(size: mappedSize(bytes), alignment: OSMemory.pageSize) else {
            fatalError("heapd: the collector's tables could not map \(bytes) bytes")
        }
        return mapped.bindMemory(to: Element.self, capacity: capacity)
    }

    private static func free(_ base: UnsafeMutablePointer<Element>, capacity: Int) {
        let bytes = capacity * MemoryLayout<Element>.stride
        guard bytes >= rawListMappedBytes else { return base.deallocate() }
        OSMemory.unmap(UnsafeMutableRawPointer(base), size: mappedSize(bytes))
    }

    private static func mappedSize(_ bytes: Int) -> Int {
        (bytes + OSMemory.pageSize - 1) & ~(OSMemory.pageSize - 1)
    }

    /// Bytes held, and bytes the last use filled.
    var bytes: TableBytes {
        TableBytes(capacity: capacity * MemoryLayout<Element>.stride, used: count * MemoryLayout<Element>.stride)
    }
}

/// Memory a walk's tables hold and what the last walk used of it (`ConcurrentDetection.trimTables`).
struct TableBytes: Equatable {
    var capacity = 0
    var used = 0

    static func + (a: TableBytes, b: TableBytes) -> TableBytes {
        TableBytes(capacity: a.capacity + b.capacity, used: a.used + b.used)
    }
}
