// ArenaPool: one NUMA node's arenas, its abandoned pages and its large blocks.
//
// Everything here is guarded by one lock, taken only on slow paths: a thread heap takes a page
// (once per 64 KiB of allocation), returns an empty one, abandons or adopts pages, or maps a large
// block. Counts kept under the lock:
//
//   arenas.count == Σ arenas
//   emptyArenas  == |{ arena : freeMask == dataPagesMask }|
//                <= policy.emptyArenasAllowed(inUse: arenaCount − emptyArenas)   (no walk running)
//   abandoned[c] == pages of class c in state .abandoned on this pool's lists
//
// Release policy (pymalloc keeps one empty arena to avoid thrashing): when an arena becomes empty
// and more are empty than the policy allows, empty arenas are unmapped at once until the count
// fits; a retained arena may have its data pages decommitted (MADV_DONTNEED) so that it costs
// address space but no RSS. The allowance is `retainedEmptyArenas`, plus one per
// `retainedPerArenasInUse` arenas that still hold blocks: a program that frees and rebuilds a
// structure beside a long-lived one (binary-trees' trees beside its long-lived tree) then
// reuses the freed arenas instead of unmapping them and faulting a fresh mapping in, page by
// page, for the next one; once nothing is in use, the allowance is `retainedEmptyArenas` again.

import Synchronization

/// What a node pool does with arenas that become empty.
public struct ArenaReleasePolicy: Sendable, Equatable {
    /// Empty arenas a node keeps mapped for reuse (hysteresis). 0 returns every empty arena at once.
    public var retainedEmptyArenas: Int
    /// Whether a kept arena's pages are returned to the OS (MADV_DONTNEED) while it waits.
    public var decommitRetained: Bool
    /// One more empty arena kept per this many arenas in use (0: none; the file comment).
    public var retainedPerArenasInUse: Int

    public init(retainedEmptyArenas: Int = 1, decommitRetained: Bool = false, retainedPerArenasInUse: Int = 0) {
        precondition(retainedEmptyArenas >= 0, "retainedEmptyArenas must not be negative")
        precondition(retainedPerArenasInUse >= 0, "retainedPerArenasInUse must not be negative")
        self.retainedEmptyArenas = retainedEmptyArenas
        self.decommitRetained = decommitRetained
        self.retainedPerArenasInUse = retainedPerArenasInUse
    }

    /// An allocator's default: one empty arena kept, and one more per arena in use, so that
    /// mapped arenas stay within twice those in use plus one. (One kept alone, binary-trees 18
    /// compiled against HeapCore unmapped and faulted back about 110,000 pages, 0.15–0.2 s of
    /// system time in a 2 s run; one per two in use still 64,000, as each tree of depth 18 is
    /// as large as the long-lived tree beside it: BENCHMARKS.md.)
    public static let standard = ArenaReleasePolicy(retainedEmptyArenas: 1, retainedPerArenasInUse: 1)

    /// The empty arenas a pool keeps while `inUse` of its arenas hold blocks.
    public func emptyArenasAllowed(inUse: Int) -> Int {
        retainedEmptyArenas + (retainedPerArenasInUse > 0 ? inUse / retainedPerArenasInUse : 0)
    }
}

/// `@unchecked Sendable`: `state` is touched only inside `withLock`, under `lock`.
final class ArenaPool: @unchecked Sendable {
    struct State: ~Copyable {
        var allArenas: UnsafeMutablePointer<ArenaHeader>? = nil
        var available: UnsafeMutablePointer<ArenaHeader>? = nil
        var arenaCount = 0
        var emptyArenas = 0
        var arenasCreated = 0
        var arenasReleased = 0
        var abandoned = InlineArray<48, UnsafeMutablePointer<Page>?>(repeating: nil)
        var abandonedCount = 0
        var largeBlocks: UnsafeMutablePointer<LargeBlockHeader>? = nil
        var largeCount = 0
        var largeBytes = 0
        /// Concurrent walks of the heap running (Allocator+ConcurrentWalk.swift). While there is
        /// one, no arena is unmapped or decommitted and no large block unmapped: a freed large
        /// block waits in `deferredLarge`, an empty arena stays until the last walk ends.
        var walkers = 0
        var deferredLarge: [UnsafeMutablePointer<LargeBlockHeader>] = []
        /// An arena emptied while a walk ran (the last walk's end applies the policy).
        var emptiedDuringWalk = false
    }

    let node: Int
    let physicalNode: Int?
    let binding: NumaBinding
    let policy: ArenaReleasePolicy
    let allocatorID: UInt64
    private let lock = Lock()
    private var state = State()
    /// Pages on the abandoned lists, mirrored outside the lock so that a heap's slow path can skip
    /// the lock when there is nothing to adopt. Written under the lock; read relaxed (a hint).
    private let abandonedHint = Atomic<Int>(0)

    /// Mapped memory against the allocator's limit (shared by every pool of the allocator).
    let budget: MemoryBudget

    init(node: Int, physicalNode: Int?, binding: NumaBinding, policy: ArenaReleasePolicy, allocatorID: UInt64, budget: MemoryBudget) {
        self.budget = budget
        self.node = node
        self.physicalNode = physicalNode
        self.binding = binding
        self.policy = policy
        self.allocatorID = allocatorID
    }

    deinit {
        withLock { state in
            while let large = state.largeBlocks {
                state.largeBlocks = large.pointee.next
                budget.release(large.pointee.blockSize)
                LargeObjects.destroy(large)
            }
            while let arena = state.allArenas {
                state.allArenas = arena.pointee.nextAll
                arena.pointee.freeMask = Arena.dataPagesMask   // the allocator is gone: so are its blocks
                Arena.destroy(arena)
                budget.release(Arena.size)
            }
        }
    }

    /// Runs `body` with the pool locked: every change of state, statistics and the verifier.
    func withLock<R>(_ body: (inout State) -> R) -> R {
        lock.withLock { body(&state) }
    }

    /// The debug-build check of "pool lock held" (Lock.assertHeldByCurrentThread), at the top of
    /// the functions that rely on it outside `withLock`'s own body: the `…Locked` helpers and
    /// Page's `format` and `reset`. Nothing in release builds.
    @inline(__always)
    func assertLocked(_ function: StaticString = #function) {
        lock.assertHeldByCurrentThread(function)
    }

    // MARK: Pages

    /// A free page formatted for `sizeClass` and owned by `ownerID`; nil when no arena can be mapped.
    func takePage(sizeClass: Int, ownerID: UInt64, ownerHeap: UInt, key: UInt) -> UnsafeMutablePointer<Page>? {
        withLock { state -> UnsafeMutablePointer<Page>? in
            if state.available == nil {
                guard budget.reserve(Arena.size) else { return nil }
                guard let arena = Arena.create(node: node, physicalNode: physicalNode, binding: binding, allocatorID: allocatorID) else {
                    budget.release(Arena.size)
                    return nil
                }
                arena.pointee.nextAll = state.allArenas
                state.allArenas?.pointee.prevAll = arena
                state.allArenas = arena
                state.arenaCount += 1
                state.arenasCreated += 1
                state.emptyArenas += 1
                Self.linkAvailable(arena, &state)
            }
            let arena = state.available!
            let mask = arena.pointee.freeMask
            if mask == Arena.dataPagesMask { state.emptyArenas -= 1 }
            let index = mask.trailingZeroBitCount
            arena.pointee.freeMask = mask & ~(UInt64(1) << UInt64(index))
            if arena.pointee.freeMask == 0 { Self.unlinkAvailable(arena, &state) }
            let page = Arena.page(index, of: arena)
            page.pointee.format(sizeClass: sizeClass, ownerID: ownerID, ownerHeap: ownerHeap, allocatorID: allocatorID, key: key, pool: self)
            return page
        }
    }

    /// Returns an empty page (already unlinked from its heap) to its arena.
    func releasePage(_ page: UnsafeMutablePointer<Page>) {
        withLock { state in
            self.releasePageLocked(page, &state)
        }
    }

    private func releasePageLocked(_ page: UnsafeMutablePointer<Page>, _ state: inout State) {
        assertLocked()
        let arena = Arena.arena(of: page)
        precondition(arena.pointee.node == node, "page returned to the wrong node pool")
        page.pointee.reset(pool: self)
        arena.pointee.freeMask |= UInt64(1) << UInt64(Arena.pageIndex(of: page))
        if !arena.pointee.isAvailableListed { Self.linkAvailable(arena, &state) }
        guard arena.pointee.freeMask == Arena.dataPagesMask else { return }
        state.emptyArenas += 1
        if state.walkers > 0 {
            state.emptiedDuringWalk = true
            return
        }
        if state.emptyArenas > allowedEmptyArenas(state) {
            destroyLocked(arena, &state)
            // The arenas in use went down by one, so the allowance may have too: an arena
            // kept empty earlier goes as well.
            while state.emptyArenas > allowedEmptyArenas(state), let other = Self.firstEmptyAvailable(state) {
                destroyLocked(other, &state)
            }
        } else if policy.decommitRetained {
            Arena.decommitDataPages(arena)
        }
    }

    /// What the policy allows now.
    private func allowedEmptyArenas(_ state: borrowing State) -> Int {
        policy.emptyArenasAllowed(inUse: state.arenaCount - state.emptyArenas)
    }

    /// An empty arena of the available list (every empty arena is on it).
    private static func firstEmptyAvailable(_ state: borrowing State) -> UnsafeMutablePointer<ArenaHeader>? {
        var arena = state.available
        while let current = arena {
            if current.pointee.freeMask == Arena.dataPagesMask { return current }
            arena = current.pointee.nextAvailable
        }
        return nil
    }

    private func destroyLocked(_ arena: UnsafeMutablePointer<ArenaHeader>, _ state: inout State) {
        assertLocked()
        Self.unlinkAvailable(arena, &state)
        if let prev = arena.pointee.prevAll { prev.pointee.nextAll = arena.pointee.nextAll } else { state.allArenas = arena.pointee.nextAll }
        arena.pointee.nextAll?.pointee.prevAll = arena.pointee.prevAll
        state.arenaCount -= 1
        state.emptyArenas -= 1
        state.arenasReleased += 1
        Arena.destroy(arena)
        budget.release(Arena.size)
    }

    private static func linkAvailable(_ arena: UnsafeMutablePointer<ArenaHeader>, _ state: inout State) {
        arena.pointee.prevAvailable = nil
        arena.pointee.nextAvailable = state.available
        state.available?.pointee.prevAvailable = arena
        state.available = arena
        arena.pointee.isAvailableListed = true
    }

    private static func unlinkAvailable(_ arena: UnsafeMutablePointer<ArenaHeader>, _ state: inout State) {
        guard arena.pointee.isAvailableListed else { return }
        if let prev = arena.pointee.prevAvailable { prev.pointee.nextAvailable = arena.pointee.nextAvailable } else { state.available = arena.pointee.nextAvailable }
        arena.pointee.nextAvailable?.pointee.prevAvailable = arena.pointee.prevAvailable
        arena.pointee.nextAvailable = nil
        arena.pointee.prevAvailable = nil
        arena.pointee.isAvailableListed = false
    }

    // MARK: Abandoned pages

    /// Takes a page from a detaching heap. The page holds live blocks, and its delayed-free state is
    /// already `never`.
    func abandon(_ page: UnsafeMutablePointer<Page>) {
        withLock { state in
            page.pointee.ownerID.store(ThreadHeap.abandonedID, ordering: .relaxed)
            page.pointee.ownerHeap.store(0, ordering: .relaxed)
            page.pointee.state = .abandoned
            page.pointee.isInFull = false
            let sizeClass = Int(page.pointee.sizeClass)
            page.pointee.prev = nil
            page.pointee.next = state.abandoned[sizeClass]
            state.abandoned[sizeClass]?.pointee.prev = page
            state.abandoned[sizeClass] = page
            state.abandonedCount += 1
            abandonedHint.store(state.abandonedCount, ordering: .relaxed)
        }
    }

    /// An abandoned page of `sizeClass`, now owned by `ownerID`; nil if there is none.
    func adopt(sizeClass: Int, ownerID: UInt64, ownerHeap: UInt) -> UnsafeMutablePointer<Page>? {
        guard abandonedHint.load(ordering: .relaxed) > 0 else { return nil }
        return withLock { state -> UnsafeMutablePointer<Page>? in
            guard let page = state.abandoned[sizeClass] else { return nil }
            Self.unlinkAbandoned(page, &state)
            abandonedHint.store(state.abandonedCount, ordering: .relaxed)
            page.pointee.ownerID.store(ownerID, ordering: .relaxed)
            page.pointee.ownerHeap.store(ownerHeap, ordering: .relaxed)
            page.pointee.state = .owned
            page.pointee.setDelayedState(.noDelayed, override: true)
            return page
        }
    }

    /// Drains the thread-free lists of abandoned pages and returns the pages that became empty to
    /// their arenas. Returns the number of pages released.
    @discardableResult
    func sweepAbandoned() -> Int {
        guard abandonedHint.load(ordering: .relaxed) > 0 else { return 0 }
        return withLock { state -> Int in
            var released = 0
            for sizeClass in 0..<SizeClass.count {
                var cursor = state.abandoned[sizeClass]
                while let page = cursor {
                    cursor = page.pointee.next
                    page.pointee.collect()
                    if page.pointee.usedCount == 0 {
                        Self.unlinkAbandoned(page, &state)
                        releasePageLocked(page, &state)
                        released += 1
                    }
                }
            }
            abandonedHint.store(state.abandonedCount, ordering: .relaxed)
            return released
        }
    }

    private static func unlinkAbandoned(_ page: UnsafeMutablePointer<Page>, _ state: inout State) {
        let sizeClass = Int(page.pointee.sizeClass)
        if let prev = page.pointee.prev { prev.pointee.next = page.pointee.next } else { state.abandoned[sizeClass] = page.pointee.next }
        page.pointee.next?.pointee.prev = page.pointee.prev
        page.pointee.next = nil
        page.pointee.prev = nil
        state.abandonedCount -= 1
    }

    // MARK: Large blocks

    func allocateLarge(byteCount: Int) -> UnsafeMutableRawPointer? {
        guard budget.reserve(byteCount) else { return nil }
        guard let header = LargeObjects.create(byteCount: byteCount, node: node, physicalNode: physicalNode, binding: binding, allocatorID: allocatorID) else {
            budget.release(byteCount)
            return nil
        }
        // The reservation was for what was asked; the block is what was mapped.
        budget.adjust(by: header.pointee.blockSize - byteCount)
        withLock { state in
            header.pointee.next = state.largeBlocks
            state.largeBlocks?.pointee.prev = header
            state.largeBlocks = header
            state.largeCount += 1
            state.largeBytes += header.pointee.blockSize
        }
        return LargeObjects.block(of: header)
    }

    func releaseLarge(_ header: UnsafeMutablePointer<LargeBlockHeader>) {
        let deferred = withLock { state -> Bool in
            if let prev = header.pointee.prev { prev.pointee.next = header.pointee.next } else { state.largeBlocks = header.pointee.next }
            header.pointee.next?.pointee.prev = header.pointee.prev
            state.largeCount -= 1
            state.largeBytes -= header.pointee.blockSize
            if state.walkers > 0 { state.deferredLarge.append(header) }
            return state.walkers > 0
        }
        if deferred { return }
        budget.release(header.pointee.blockSize)
        LargeObjects.destroy(header)
    }

    // MARK: Concurrent walks

    /// A concurrent walk starts: nothing is unmapped until it ends.
    func beginWalk() {
        withLock { $0.walkers += 1 }
    }

    /// A concurrent walk ends. The last one unmaps the large blocks freed meanwhile and releases
    /// the empty arenas beyond the policy's allowance (decommitting those it keeps).
    func endWalk() {
        let large = withLock { state -> [UnsafeMutablePointer<LargeBlockHeader>] in
            state.walkers -= 1
            guard state.walkers == 0 else { return [] }
            var arena = state.emptiedDuringWalk ? state.allArenas : nil
            state.emptiedDuringWalk = false
            while let current = arena {
                arena = current.pointee.nextAll
                guard current.pointee.freeMask == Arena.dataPagesMask else { continue }
                if state.emptyArenas > allowedEmptyArenas(state) {
                    destroyLocked(current, &state)
                } else if policy.decommitRetained {
                    Arena.decommitDataPages(current)
                }
            }
            defer { state.deferredLarge = [] }
            return state.deferredLarge
        }
        for header in large {
            budget.release(header.pointee.blockSize)
            LargeObjects.destroy(header)
        }
    }
}
