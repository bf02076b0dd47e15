// Page: 64 KiB of an arena holding blocks of one size class, owned by one thread heap.
//
// A block is on exactly one of these lists, or held by the program:
//
//   free          owner only, no atomics   allocation pops here
//   localFree     owner only, no atomics   the owner's frees push here; moved to `free` when `free`
//                                          runs dry, so the owner passes its slow path regularly
//   threadFree    any thread, atomic       frees by other threads push here, a block or a chain
//                                          of one page's blocks a CAS (RemoteFreeBatch); the owner
//                                          drains it
//   heap delayed  any thread, atomic       a remote free into a page on its owner's full list goes
//                                          to the owner heap's delayed list instead (see below)
//
// Counting invariants (the verifier checks them with the world quiescent):
//
//   used + |free| + |localFree| == capacity <= reserved
//   |threadFree| + |delayed blocks of this page| + quarantined <= used
//   live blocks held by the program == used - |threadFree| - |delayed blocks of this page| - quarantined
//
// `quarantined` counts blocks of the page that sit in some thread heap's quarantine (checking
// build only, BlockChecking.swift): freed, but still counted in `used` until they leave it.
//
// `capacity` counts blocks carved so far: a page is extended 4 KiB at a time rather than threaded
// whole, so a fresh page touches little memory.
//
// Every free block carries a tag in its second word, `tagKey ^ address`; allocation clears it. A
// free that finds the tag already set is a double free. Word 0 of a free block is its list link.
//
// Page states (changed under the node pool's lock, except owned -> owned by the same owner):
//
//   state      where the page is                           who may touch its lists
//   metadata   arena page 0 (headers); never holds blocks  nobody
//   free       its arena's free mask                       pool lock holder
//   owned      a thread heap's class queue or full list    the owner thread
//   abandoned  its node pool's abandoned list              pool lock holder
//
// Debug builds check the last column at the top of the functions that rely on it: the owner by
// `assertOwnerThread` (the owning heap's thread), the pool lock by ArenaPool.assertLocked.
//
// Delayed-free states, in the low two bits of `threadFree` (mimalloc's protocol):
//
//   state           meaning                                            set by
//   noDelayed       page is in a class queue; remote frees push        owner; remote (after notifying)
//                   onto threadFree
//   useDelayed      page is on the owner's full list; the next remote  owner
//                   free goes to the owner heap's delayed list so the
//                   owner learns the page has room again
//   delayedFreeing  a remote free is pushing onto the owner heap's     remote (from useDelayed)
//                   delayed list; the heap must outlive it, so an
//                   abandoning owner waits for the state to change
//   never           page abandoned or being abandoned: remote frees    owner at abandon; an adopter
//                   push onto threadFree and tell no heap              sets noDelayed

import Synchronization

enum PageState: UInt8 {
    case metadata
    case free
    case owned
    case abandoned
}

enum DelayedFreeState: UInt {
    case noDelayed = 0
    case useDelayed = 1
    case delayedFreeing = 2
    case never = 3

    static let mask: UInt = 3
}

/// The descriptor of one page. Lives in its arena's first page at a stride of
/// `Arena.descriptorStride`; initialised when the arena is mapped and never moved.
/// Field order: the owner's fast-path fields first (one cache line), the cold queue links and
/// bookkeeping next, and `threadFree`, which other threads write, last.
struct Page: ~Copyable {
    // Owner fast path.
    var free: UnsafeMutableRawPointer?
    var localFree: UnsafeMutableRawPointer?
    /// Blocks not on `free` or `localFree`. Written only by the owner, with relaxed load + store
    /// (a plain mov: no RMW); statistics read it relaxed from other threads.
    let used: Atomic<UInt32>
    /// Blocks carved so far. Written by the owner (relaxed store); read by remote frees (relaxed).
    let capacity: Atomic<UInt32>
    /// The owning heap's id (`ThreadHeap.abandonedID` when abandoned, 0 when free). Only the owner
    /// changes it away from its own id, so a thread that reads its own id here is the owner.
    let ownerID: Atomic<UInt64>
    /// Set while the page is formatted (under the pool lock), constant while it holds blocks.
    var blockSize: UInt32
    /// ceil(2^32 / blockSize): `(offset * reciprocal) >> 32` is the exact block index for every
    /// offset below 64 KiB (the error term stays below 2^-16 < 1/blockSize).
    var reciprocal: UInt32
    var tagKey: UInt
    var allocatorID: UInt64
    var sizeClass: UInt8
    var isInFull: Bool
    var state: PageState
    /// Bit g set: the page may hold objects of the object layer's generation g (the collector
    /// walks only pages that may hold what it collects). Set by the owner when it allocates (a
    /// relaxed load, and an RMW only when the bit is clear); cleared and set by the collector with
    /// relaxed RMWs, while mutators run in a concurrent collection (a bit the owner sets after
    /// the collector cleared it stays set: an RMW loses no other writer's bit).
    let generationMarks: Atomic<UInt8>
    /// Which worker of the collector's parallel walk owns the page's objects (written with the
    /// world stopped, for that walk only; meaningless outside it).
    var walkPart: UInt8

    // Cold.
    var reserved: UInt32
    /// Blocks of this page in thread heaps' quarantines (checking build). Any thread that
    /// quarantines or releases one changes it (relaxed RMW); statistics read it relaxed.
    let quarantined: Atomic<UInt32>
    /// First byte of the page's blocks; fixed for the arena's life.
    let start: UnsafeMutableRawPointer
    /// Class-queue, full-list or abandoned-list links (owner, or pool lock holder).
    var next: UnsafeMutablePointer<Page>?
    var prev: UnsafeMutablePointer<Page>?
    /// The owning heap's storage address, read by a remote free only in `delayedFreeing`.
    let ownerHeap: Atomic<UInt>

    // Written by other threads.
    /// Head block of the thread-free list, with a DelayedFreeState in the low two bits (blocks are
    /// 16-byte aligned, so those bits of a block address are zero).
    let threadFree: Atomic<UInt>

    init(start: UnsafeMutableRawPointer, state: PageState) {
        free = nil
        localFree = nil
        used = Atomic(0)
        capacity = Atomic(0)
        ownerID = Atomic(0)
        blockSize = 0
        reciprocal = 0
        tagKey = 0
        allocatorID = 0
        sizeClass = 0
        isInFull = false
        self.state = state
        generationMarks = Atomic(0)
        walkPart = 0
        reserved = 0
        quarantined = Atomic(0)
        self.start = start
        next = nil
        prev = nil
        ownerHeap = Atomic(0)
        threadFree = Atomic(DelayedFreeState.never.rawValue)
    }

    /// Bytes carved per extension: 4 KiB (mimalloc's choice), at least one block.
    static let extendBytes = 4096
}

// MARK: - Owner operations

extension Page {
    #if DEBUG
    /// Whether the calling thread owns the page: it is owned, by a heap attached on this thread.
    /// Debug builds only.
    var isOwnedByCurrentThread: Bool {
        guard state == .owned,
              let heap = UnsafeMutablePointer<ThreadHeapStorage>(bitPattern: ownerHeap.load(ordering: .relaxed))
        else { return false }
        return ThreadHeap(storage: heap).isOwnedByCurrentThread
    }
    #endif

    /// The debug-build check of "owner only" (or, with `orAbandoned`, "or the pool lock holder of
    /// an abandoned page": that lock is the caller's to check). Nothing in release builds.
    @inline(__always)
    func assertOwnerThread(_ function: StaticString = #function, orAbandoned: Bool = false) {
        #if DEBUG
        assert(isOwnedByCurrentThread || (orAbandoned && state == .abandoned),
               "heapd: \(function) is for the page's owner thread only")
        #endif
    }

    @inline(__always)
    func tag(of block: UnsafeMutableRawPointer) -> UInt {
        tagKey ^ UInt(bitPattern: block)
    }

    @inline(__always)
    func isTaggedFree(_ block: UnsafeMutableRawPointer) -> Bool {
        block.load(fromByteOffset: 8, as: UInt.self) == tag(of: block)
    }

    /// Sets the mark of generation `generation` (an RMW only when it is clear). Any thread.
    @inline(__always)
    func markGeneration(_ generation: UInt8) {
        if generationMarks.load(ordering: .relaxed) & 1 << generation == 0 {
            generationMarks.bitwiseOr(1 << generation, ordering: .relaxed)
        }
    }

    @inline(__always)
    var usedCount: Int { Int(used.load(ordering: .relaxed)) }

    /// Owner only: relaxed load + store, no read-modify-write (see `used`).
    @inline(__always)
    func setUsed(_ value: Int) {
        used.store(UInt32(truncatingIfNeeded: value), ordering: .relaxed)
    }

    /// The owner's free of a block the caller has checked; `page` is this page's own address.
    /// Budget: tag, push, counter; the slow path only when the page is on the full list or empties
    /// while its class has other pages.
    @inline(__always)
    mutating func freeLocal(_ block: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>) {
        block.storeBytes(of: tag(of: block), toByteOffset: 8, as: UInt.self)
        block.storeBytes(of: localFree, as: UnsafeMutableRawPointer?.self)
        localFree = block
        let remaining = usedCount &- 1
        setUsed(remaining)
        // An emptied page is retired unless it is its class's only page (freeLocalSlow keeps
        // that one), so a lone page that empties needs no call: the alloc/free ping-pong case.
        if isInFull || (remaining == 0 && (next != nil || prev != nil)) {
            ThreadHeap.current.unsafelyUnwrapped.freeLocalSlow(page)
        }
    }

    /// Prepares a free page to hold `sizeClass` blocks for the heap `ownerID`. The lock of `pool`,
    /// the page's node pool, held.
    mutating func format(sizeClass: Int, ownerID: UInt64, ownerHeap: UInt, allocatorID: UInt64, key: UInt, pool: ArenaPool) {
        pool.assertLocked()
        precondition(state == .free, "formatting a page that is not free")
        let size = SizeClass.blockSize(ofClass: sizeClass)
        self.sizeClass = UInt8(sizeClass)
        blockSize = UInt32(size)
        reciprocal = UInt32(((UInt64(1) << 32) + UInt64(size) - 1) / UInt64(size))
        reserved = UInt32(Arena.pageSize / size)
        tagKey = key ^ UInt(bitPattern: start)
        self.allocatorID = allocatorID
        free = nil
        localFree = nil
        isInFull = false
        generationMarks.store(0, ordering: .relaxed)
        walkPart = 0
        used.store(0, ordering: .relaxed)
        capacity.store(0, ordering: .relaxed)
        self.ownerID.store(ownerID, ordering: .relaxed)
        self.ownerHeap.store(ownerHeap, ordering: .relaxed)
        threadFree.store(DelayedFreeState.noDelayed.rawValue, ordering: .relaxed)
        state = .owned
    }

    /// Returns the page to the free state. The lock of `pool`, the page's node pool, held; the
    /// page holds no blocks.
    mutating func reset(pool: ArenaPool) {
        pool.assertLocked()
        precondition(usedCount == 0, "releasing a page that still holds blocks")
        precondition(quarantined.load(ordering: .relaxed) == 0, "releasing a page with quarantined blocks")
        free = nil
        localFree = nil
        capacity.store(0, ordering: .relaxed)
        ownerID.store(0, ordering: .relaxed)
        ownerHeap.store(0, ordering: .relaxed)
        threadFree.store(DelayedFreeState.never.rawValue, ordering: .relaxed)
        blockSize = 0
        reciprocal = 0
        isInFull = false
        generationMarks.store(0, ordering: .relaxed)
        walkPart = 0
        next = nil
        prev = nil
        state = .free
    }

    /// Carves up to 4 KiB of fresh blocks onto `free`. Owner (or pool lock holder) only.
    mutating func extend() {
        assertOwnerThread(orAbandoned: true)
        let carved = Int(capacity.load(ordering: .relaxed))
        let remaining = Int(reserved) - carved
        guard remaining > 0 else { return }
        let size = Int(blockSize)
        let count = min(remaining, max(1, Page.extendBytes / size))
        let first = start + carved * size
        // Link the new blocks in address order; the last one points to the old `free` head.
        var block = first
        for i in 0..<count {
            let next: UnsafeMutableRawPointer? = i + 1 < count ? block + size : free
            block.storeBytes(of: next, as: UnsafeMutableRawPointer?.self)
            block.storeBytes(of: tag(of: block), toByteOffset: 8, as: UInt.self)
            block += size
        }
        free = first
        capacity.store(UInt32(carved + count), ordering: .relaxed)
    }

    /// Moves `localFree` to `free` when `free` is empty, and drains `threadFree` onto `free`.
    /// Owner (or pool lock holder of an abandoned page) only.
    mutating func collect() {
        assertOwnerThread(orAbandoned: true)
        if free == nil, let local = localFree {
            free = local
            localFree = nil
        }
        drainThreadFree()
    }

    /// Takes the whole thread-free list (keeping the delayed state) and prepends it to `free`.
    mutating func drainThreadFree() {
        var word = threadFree.load(ordering: .relaxed)
        while word & ~DelayedFreeState.mask != 0 {
            // Acquire pairs with the release CAS in `pushThreadFreeRemote`: the blocks' link words,
            // written before their push, are visible when we walk them.
            let (exchanged, original) = threadFree.compareExchange(
                expected: word, desired: word & DelayedFreeState.mask,
                successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged { break }
            word = original
        }
        guard let head = UnsafeMutableRawPointer(bitPattern: word & ~DelayedFreeState.mask) else { return }
        var count = 1
        var tail = head
        while let next = tail.load(as: UnsafeMutableRawPointer?.self) {
            require(count <= Int(reserved), "heapd: thread-free list of a \(blockSize)-byte page is cyclic: a block was freed twice by other threads")
            tail = next
            count += 1
        }
        tail.storeBytes(of: free, as: UnsafeMutableRawPointer?.self)
        free = head
        setUsed(usedCount - count)
    }

    /// Moves the delayed-free state to `new`, waiting while a remote free is notifying the owner.
    /// Unless `override`, a page in `never` stays there. Owner only.
    func setDelayedState(_ new: DelayedFreeState, override: Bool) {
        assertOwnerThread()
        var word = threadFree.load(ordering: .relaxed)
        while true {
            let current = DelayedFreeState(rawValue: word & DelayedFreeState.mask)!
            if current == .delayedFreeing {
                // A remote free holds our heap pointer; it finishes in a few instructions.
                word = threadFree.load(ordering: .acquiring)   // pairs with the remote's reset CAS
                continue
            }
            if current == new || (current == .never && !override) { return }
            let (exchanged, original) = threadFree.compareExchange(
                expected: word, desired: (word & ~DelayedFreeState.mask) | new.rawValue,
                successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return }
            word = original
        }
    }

    /// The delayed-free state now (relaxed: owner's own reads, or the verifier with the world quiescent).
    var delayedState: DelayedFreeState {
        DelayedFreeState(rawValue: threadFree.load(ordering: .relaxed) & DelayedFreeState.mask)!
    }

    /// The head of the thread-free list now (verifier only).
    var threadFreeHead: UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: threadFree.load(ordering: .acquiring) & ~DelayedFreeState.mask)
    }
}

// MARK: - Remote operations (any thread)

extension Page {
    /// Pushes `block` for a thread that does not own the page. Returns true if, instead, the
    /// owner must be notified: the page was on its owner's full list, the state is now
    /// `delayedFreeing`, and the caller must push the block onto the owner heap's delayed list and
    /// then call `finishDelayedFreeRemote`.
    @inline(__always)
    func pushThreadFreeRemote(_ block: UnsafeMutableRawPointer) -> Bool {
        block.storeBytes(of: tag(of: block), toByteOffset: 8, as: UInt.self)
        var word = threadFree.load(ordering: .relaxed)
        while true {
            let state = word & DelayedFreeState.mask
            let notify = state == DelayedFreeState.useDelayed.rawValue
            let desired: UInt
            if notify {
                desired = (word & ~DelayedFreeState.mask) | DelayedFreeState.delayedFreeing.rawValue
            } else {
                block.storeBytes(of: UnsafeMutableRawPointer(bitPattern: word & ~DelayedFreeState.mask), as: UnsafeMutableRawPointer?.self)
                desired = UInt(bitPattern: block) | state
            }
            // Release pairs with the owner's acquire in `drainThreadFree`/`setDelayedState`.
            let (exchanged, original) = threadFree.compareExchange(
                expected: word, desired: desired,
                successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return notify }
            word = original
        }
    }

    /// Pushes the chain `head`…`tail` (tagged, linked through word 0 up to `tail`) for a thread
    /// that does not own the page, with one CAS. Returns false, pushing nothing, when the page is
    /// on its owner's full list (`useDelayed`): the owner must be told, which only a single-block
    /// free does (`Allocator.pushRemote`); the caller frees one block that way and tries again.
    @inline(__always)
    func pushThreadFreeChain(head: UnsafeMutableRawPointer, tail: UnsafeMutableRawPointer) -> Bool {
        var word = threadFree.load(ordering: .relaxed)
        while true {
            let state = word & DelayedFreeState.mask
            if state == DelayedFreeState.useDelayed.rawValue { return false }
            tail.storeBytes(of: UnsafeMutableRawPointer(bitPattern: word & ~DelayedFreeState.mask), as: UnsafeMutableRawPointer?.self)
            // Release pairs with the owner's acquire in `drainThreadFree`: every link of the
            // chain is visible with its head.
            let (exchanged, original) = threadFree.compareExchange(
                expected: word, desired: UInt(bitPattern: head) | state,
                successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return true }
            word = original
        }
    }

    /// Ends a notification begun by `pushThreadFreeRemote`: delayedFreeing -> noDelayed.
    func finishDelayedFreeRemote() {
        var word = threadFree.load(ordering: .relaxed)
        while true {
            // Release pairs with the owner's acquire while it waits in `setDelayedState`.
            let (exchanged, original) = threadFree.compareExchange(
                expected: word, desired: (word & ~DelayedFreeState.mask) | DelayedFreeState.noDelayed.rawValue,
                successOrdering: .releasing, failureOrdering: .relaxed)
            if exchanged { return }
            word = original
        }
    }
}
