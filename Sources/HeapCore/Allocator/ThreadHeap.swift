// ThreadHeap: one attached thread's pages, one queue per size class, and its fast paths.
//
// The storage is owned by the thread it was attached on; only that thread touches it, except for
// `delayedFree`, an atomic stack of blocks that other threads push (see Page's delayed-free
// states). The calling thread's heap and id live in C thread-local slots (CHeapShim). Debug
// builds check the rule at the top of the slow paths (`assertOwnerThread`), by the thread id the
// storage keeps of its owner (the slots are cleared before a detaching heap gives its pages up).
//
//   direct[i]      the page that serves requests of (i*16 - 15)...(i*16) bytes, i = 0...32: the
//                  first page of that class's queue, or the allocator's empty sentinel page (whose
//                  free list is always nil, so the fast path needs no nil test on the page)
//   queues[c]      pages of class c that may have room, most useful first
//   full           pages found without room; a remote free into one of them notifies us
//   quarantine     (checking build) freed blocks not yet reusable; see BlockChecking.swift
//
// Invariants (owner's view):
//   direct[i] == queues[class(i)].first ?? emptyPage     (emptyPage always, in the checking build)
//   page in queues[c] or full  <=>  page.ownerID == id && page.state == .owned
//   page.isInFull  <=>  page is on `full`  <=>  page's delayed state is useDelayed/delayedFreeing

import CHeapShim
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct PageQueue {
    var first: UnsafeMutablePointer<Page>?
    var last: UnsafeMutablePointer<Page>?
}

struct ThreadHeapStorage: ~Copyable {
    /// First, so that the fast path's table is at offset 0.
    var direct: InlineArray<33, UnsafeMutablePointer<Page>>
    /// The Allocator, retained while the heap is attached (an `Unmanaged` opaque pointer).
    let allocator: UnsafeMutableRawPointer
    let id: UInt64
    /// Copies of what the slow paths need from the allocator, so that they never touch its
    /// reference count (a cache line every thread would write).
    let emptyPage: UnsafeMutablePointer<Page>
    let tagKey: UInt
    /// The allocator's `checksBlocks`: direct entries stay on emptyPage and allocations are
    /// checked (the checking build).
    let checksBlocks: Bool
    let pools: UnsafeMutablePointer<Unmanaged<ArenaPool>>
    let nodeMap: NodeMap
    /// Blocks that other threads freed into pages on our full list (a Treiber stack through word 0).
    let delayedFree: Atomic<UInt>
    var queues: InlineArray<48, PageQueue>
    var full: PageQueue
    /// Blocks this thread freed that may not be reused yet (checking build; capacity 0 otherwise).
    var quarantine: Quarantine
    #if DEBUG
    /// The thread that attached (the storage is made on it), for `assertOwnerThread`. Debug
    /// builds only; last, so that release builds' layout is the same.
    let ownerThread = pthread_self()
    #endif
}

/// A handle on a thread heap's storage. Copies are cheap; the storage lives from attach to detach.
struct ThreadHeap {
    let storage: UnsafeMutablePointer<ThreadHeapStorage>

    /// Owner id of abandoned pages: no thread ever has it.
    static let abandonedID: UInt64 = .max

    /// Ids are never reused, so a page cannot mistake a new heap for its old owner.
    private static let nextID = Atomic<UInt64>(1)

    static func makeID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// The calling thread's heap, if it is attached.
    @inline(__always)
    static var current: ThreadHeap? {
        guard let raw = heapd_current_thread_heap() else { return nil }
        return ThreadHeap(storage: raw.assumingMemoryBound(to: ThreadHeapStorage.self))
    }

    /// What `deallocate` compares with a page's owner id to take the owner's fast free: the
    /// calling thread's heap id; 0, which no page in use carries, when the thread is not attached
    /// or its allocator checks blocks (so that all its frees take the checking slow path).
    @inline(__always)
    static var fastFreeID: UInt64 { heapd_current_thread_heap_id() }

    #if DEBUG
    /// Whether the calling thread owns this heap. Debug builds only.
    var isOwnedByCurrentThread: Bool { pthread_equal(storage.pointee.ownerThread, pthread_self()) != 0 }
    #endif

    /// The debug-build check of "owner only": stops unless the calling thread is the one this heap
    /// was attached on. Nothing in release builds.
    @inline(__always)
    func assertOwnerThread(_ function: StaticString = #function) {
        #if DEBUG
        assert(isOwnedByCurrentThread, "heapd: \(function) is for the thread heap's owner thread only")
        #endif
    }

    var id: UInt64 { storage.pointee.id }
    var address: UInt { UInt(bitPattern: storage) }

    var allocator: Allocator {
        Unmanaged<Allocator>.fromOpaque(storage.pointee.allocator).takeUnretainedValue()
    }

    /// The pool of `node`, without retaining it.
    func withPool<R>(forNode node: Int, _ body: (ArenaPool) -> R) -> R {
        let index = node < storage.pointee.nodeMap.nodeCount ? node : 0
        return storage.pointee.pools[index]._withUnsafeGuaranteedRef(body)
    }
}

// MARK: - Fast paths

extension ThreadHeap {
    /// Pops a block of at most 512 bytes, or falls to the generic path. Budget: one TLS load (by
    /// the caller), one table load, one list pop, one counter bump, one tag clear.
    @inline(__always)
    func allocateSmall(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        popDirect(byteCount) ?? allocateGeneric(byteCount)
    }

    /// allocateSmall's pop alone: nil when the direct page has no free block (then only
    /// `allocateGeneric` can find one), so that a caller can keep its fast path free of calls.
    @inline(__always)
    func popDirect(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        let page = storage.pointee.direct[unchecked: (byteCount &+ 15) >> 4]
        guard let block = page.pointee.free else { return nil }
        page.pointee.free = block.load(as: UnsafeMutableRawPointer?.self)
        page.pointee.setUsed(page.pointee.usedCount &+ 1)
        block.storeBytes(of: 0, toByteOffset: 8, as: UInt.self)
        return block
    }
}

// MARK: - Slow paths (owner)

extension ThreadHeap {
    /// Any size up to SizeClass.maxSmallSize, when the direct page has no free block.
    @inline(never)
    func allocateGeneric(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        assertOwnerThread()
        processDelayedFrees()
        let sizeClass = SizeClass.index(forSize: byteCount)
        guard let page = findPage(sizeClass) else { return nil }
        // Out of line, so that the common case saves no registers for it (6 instructions per
        // call when the check was inline).
        if storage.pointee.checksBlocks { return Self.popChecked(page) }
        let block = page.pointee.free!
        page.pointee.free = block.load(as: UnsafeMutableRawPointer?.self)
        page.pointee.setUsed(page.pointee.usedCount &+ 1)
        block.storeBytes(of: 0, toByteOffset: 8, as: UInt.self)
        return block
    }

    /// allocateGeneric's pop in the checking build: the block's poison, tag and link are checked
    /// first (BlockChecking.swift).
    @inline(never)
    private static func popChecked(_ page: UnsafeMutablePointer<Page>) -> UnsafeMutableRawPointer {
        let block = page.pointee.free!
        let next = block.load(as: UnsafeMutableRawPointer?.self)
        BlockPoison.checkReused(block, next: next, page: page)
        page.pointee.free = next
        page.pointee.setUsed(page.pointee.usedCount &+ 1)
        block.storeBytes(of: 0, toByteOffset: 8, as: UInt.self)
        return block
    }

    /// A page of `sizeClass` with a free block, at the front of its queue: the queue's pages in
    /// order (collecting each, moving the exhausted ones to the full list), then an abandoned page
    /// of the current node, then a fresh page. Nil when no arena can be mapped.
    private func findPage(_ sizeClass: Int) -> UnsafeMutablePointer<Page>? {
        var cursor = storage.pointee.queues[sizeClass].first
        while let page = cursor {
            cursor = page.pointee.next
            page.pointee.collect()
            if page.pointee.free == nil { extend(page) }
            if page.pointee.free != nil {
                if storage.pointee.queues[sizeClass].first != page {
                    unlink(page, from: sizeClass)
                    pushFront(page, to: sizeClass)
                }
                return page
            }
            moveToFull(page)
        }
        let node = storage.pointee.nodeMap.currentNode()
        let adopted = withPool(forNode: node) { pool -> UnsafeMutablePointer<Page>? in
            while let page = pool.adopt(sizeClass: sizeClass, ownerID: id, ownerHeap: address) {
                page.pointee.collect()
                if page.pointee.free == nil { extend(page) }
                pushFront(page, to: sizeClass)
                if page.pointee.free != nil { return page }
                moveToFull(page)
            }
            return nil
        }
        if let adopted { return adopted }
        let key = storage.pointee.tagKey
        guard let page = withPool(forNode: node, { $0.takePage(sizeClass: sizeClass, ownerID: id, ownerHeap: address, key: key) }) else {
            return nil
        }
        extend(page)
        pushFront(page, to: sizeClass)
        return page
    }

    /// Carves fresh blocks onto `page`'s free list; the checking build poisons them. Inlined (one
    /// test per call site) and apart from Page.extend, whose loop would otherwise need more
    /// registers in every build.
    @inline(__always)
    private func extend(_ page: UnsafeMutablePointer<Page>) {
        page.pointee.extend()
        if storage.pointee.checksBlocks { BlockPoison.fillCarved(page) }
    }

    /// After a local free that emptied the page or hit a page on the full list.
    @inline(never)
    func freeLocalSlow(_ page: UnsafeMutablePointer<Page>) {
        assertOwnerThread()
        if page.pointee.isInFull { moveFromFull(page) }
        let sizeClass = Int(page.pointee.sizeClass)
        let queue = storage.pointee.queues[sizeClass]
        // Keep the last page of a class (mimalloc's retire delay): a thread that frees and
        // reallocates one block at a time must not bounce a page to the pool and back.
        if page.pointee.usedCount == 0 && queue.first != queue.last {
            retire(page)
        }
    }

    /// Frees, as the owner, every block that other threads pushed onto `delayedFree`.
    func processDelayedFrees() {
        assertOwnerThread()
        guard storage.pointee.delayedFree.load(ordering: .relaxed) != 0 else { return }
        // Acquire pairs with the release CAS in `pushDelayedFreeRemote`.
        var word = storage.pointee.delayedFree.exchange(0, ordering: .acquiring)
        while let block = UnsafeMutableRawPointer(bitPattern: word) {
            word = UInt(bitPattern: block.load(as: UnsafeMutableRawPointer?.self))
            let page = Arena.page(containing: UInt(bitPattern: block))
            // The remote free already tagged the block.
            block.storeBytes(of: page.pointee.localFree, as: UnsafeMutableRawPointer?.self)
            page.pointee.localFree = block
            page.pointee.setUsed(page.pointee.usedCount - 1)
            freeLocalSlow(page)
        }
    }

    private func moveToFull(_ page: UnsafeMutablePointer<Page>) {
        let sizeClass = Int(page.pointee.sizeClass)
        unlink(page, from: sizeClass)
        page.pointee.isInFull = true
        link(page, toFullListFront: ())
        page.pointee.setDelayedState(.useDelayed, override: false)
        // A remote free between our collect and the state change pushed onto threadFree without
        // telling us: take the page back now rather than strand that block.
        if page.pointee.threadFreeHead != nil { moveFromFull(page) }
    }

    func moveFromFull(_ page: UnsafeMutablePointer<Page>) {
        assertOwnerThread()
        unlinkFromFull(page)
        page.pointee.isInFull = false
        page.pointee.setDelayedState(.noDelayed, override: false)
        pushBack(page, to: Int(page.pointee.sizeClass))
    }

    /// Unlinks an empty page and gives it back to its arena's pool.
    func retire(_ page: UnsafeMutablePointer<Page>) {
        assertOwnerThread()
        unlink(page, from: Int(page.pointee.sizeClass))
        withPool(forNode: Arena.arena(of: page).pointee.node) { $0.releasePage(page) }
    }
}

// MARK: - Queues (owner)

extension ThreadHeap {
    private func updateDirect(_ sizeClass: Int) {
        // The checking build keeps every direct entry on emptyPage: allocations take the slow path.
        guard sizeClass < 32, !storage.pointee.checksBlocks else { return }
        let page = storage.pointee.queues[sizeClass].first ?? storage.pointee.emptyPage
        storage.pointee.direct[sizeClass + 1] = page
        if sizeClass == 0 { storage.pointee.direct[0] = page }
    }

    private func pushFront(_ page: UnsafeMutablePointer<Page>, to sizeClass: Int) {
        page.pointee.prev = nil
        page.pointee.next = storage.pointee.queues[sizeClass].first
        if let first = storage.pointee.queues[sizeClass].first { first.pointee.prev = page } else { storage.pointee.queues[sizeClass].last = page }
        storage.pointee.queues[sizeClass].first = page
        updateDirect(sizeClass)
    }

    private func pushBack(_ page: UnsafeMutablePointer<Page>, to sizeClass: Int) {
        guard let last = storage.pointee.queues[sizeClass].last else { return pushFront(page, to: sizeClass) }
        page.pointee.next = nil
        page.pointee.prev = last
        last.pointee.next = page
        storage.pointee.queues[sizeClass].last = page
    }

    private func unlink(_ page: UnsafeMutablePointer<Page>, from sizeClass: Int) {
        let wasFirst = page.pointee.prev == nil
        if let prev = page.pointee.prev { prev.pointee.next = page.pointee.next } else { storage.pointee.queues[sizeClass].first = page.pointee.next }
        if let next = page.pointee.next { next.pointee.prev = page.pointee.prev } else { storage.pointee.queues[sizeClass].last = page.pointee.prev }
        page.pointee.next = nil
        page.pointee.prev = nil
        if wasFirst { updateDirect(sizeClass) }
    }

    private func link(_ page: UnsafeMutablePointer<Page>, toFullListFront: Void) {
        page.pointee.prev = nil
        page.pointee.next = storage.pointee.full.first
        if let first = storage.pointee.full.first { first.pointee.prev = page } else { storage.pointee.full.last = page }
        storage.pointee.full.first = page
    }

    private func unlinkFromFull(_ page: UnsafeMutablePointer<Page>) {
        if let prev = page.pointee.prev { prev.pointee.next = page.pointee.next } else { storage.pointee.full.first = page.pointee.next }
        if let next = page.pointee.next { next.pointee.prev = page.pointee.prev } else { storage.pointee.full.last = page.pointee.prev }
        page.pointee.next = nil
        page.pointee.prev = nil
    }

    /// Every page the heap owns: its class queues, then its full list.
    func forEachPage(_ body: (UnsafeMutablePointer<Page>) -> Void) {
        for sizeClass in 0..<SizeClass.count {
            var cursor = storage.pointee.queues[sizeClass].first
            while let page = cursor {
                cursor = page.pointee.next
                body(page)
            }
        }
        var cursor = storage.pointee.full.first
        while let page = cursor {
            cursor = page.pointee.next
            body(page)
        }
    }
}

// MARK: - Remote operations (any thread)

extension ThreadHeap {
    /// Pushes a block for the owner to free (the page is on its full list and in delayedFreeing,
    /// which keeps this heap alive until `finishDelayedFreeRemote`).
    func pushDelayedFreeRemote(_ block: UnsafeMutableRawPointer) {
        var head = storage.pointee.delayedFree.load(ordering: .relaxed)
        while true {
            block.storeBytes(of: UnsafeMutableRawPointer(bitPattern: head), as: UnsafeMutableRawPointer?.self)
            // Release pairs with the owner's acquire exchange in `processDelayedFrees`.
            let (exchanged, original) = storage.pointee.delayedFree.compareExchange(
                expected: head, desired: UInt(bitPattern: block),
                successOrdering: .releasing, failureOrdering: .relaxed)
            if exchanged { return }
            head = original
        }
    }
}
