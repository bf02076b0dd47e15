// Walking the allocated blocks, with the world quiescent (the heap verifier, statistics by type).
//
// A carved block of a page in use is allocated unless it is on the page's free, local-free or
// thread-free list, on its owner heap's delayed list, or in a thread heap's quarantine (checking
// build). Large blocks are always allocated.

/// What a walk of the heap visits, gathered under the pools' locks: the pages in use (those
/// whose generation marks meet the walk's, when it has marks), the large blocks, and the freed
/// blocks that look allocated in their pages (on delayed-free lists, or quarantined). Valid while
/// the world is quiescent; a walk may then split `pages` between threads.
struct HeapWalkPlan {
    var pages: [UnsafeMutablePointer<Page>] = []
    var large: [UnsafeMutableRawPointer] = []
    /// Delayed and quarantined blocks.
    var delayed = Set<UInt>()
    /// At most this many blocks are allocated in `pages` and `large` (blocks carved + large).
    var blockBound = 0

    /// Calls `body` with every allocated block of `page` (one of `pages`), in address order.
    @inline(__always)
    func forEachAllocatedBlock(in page: UnsafeMutablePointer<Page>, _ body: (UnsafeMutableRawPointer) -> Void) {
        if delayed.isEmpty {
            page.pointee.forEachBlockNotFree(includingThreadFree: true, body)
        } else {
            page.pointee.forEachBlockNotFree(includingThreadFree: true) { block in
                if !delayed.contains(UInt(bitPattern: block)) { body(block) }
            }
        }
    }
}

extension Allocator {
    /// Calls `body` with every allocated block and its usable size. Quiescent only: no thread may
    /// allocate or free while it runs.
    public func forEachAllocatedBlock(_ body: (UnsafeMutableRawPointer, Int) -> Void) {
        forEachAllocatedBlock(inPagesMarked: nil) { block, page in
            body(block, page.map { Int($0.pointee.blockSize) } ?? LargeObjects.blockSize(of: block))
        }
    }

    /// Like `forEachAllocatedBlock`, but only in pages whose generation marks meet `marks` (every
    /// page when nil; large blocks always), passing each block's page (nil for a large block).
    func forEachAllocatedBlock(inPagesMarked marks: UInt8?, _ body: (UnsafeMutableRawPointer, UnsafeMutablePointer<Page>?) -> Void) {
        let plan = walkPlan(inPagesMarked: marks)
        for page in plan.pages {
            plan.forEachAllocatedBlock(in: page) { body($0, page) }
        }
        for block in plan.large { body(block, nil) }
    }

    /// The pages and blocks a walk visits (see `HeapWalkPlan`). Quiescent only.
    func walkPlan(inPagesMarked marks: UInt8?) -> HeapWalkPlan {
        var plan = HeapWalkPlan()
        for record in registry.withLock({ Array($0.values) }) {
            var word = record.heap.storage.pointee.delayedFree.load(ordering: .acquiring)
            while let block = UnsafeMutableRawPointer(bitPattern: word) {
                plan.delayed.insert(word)
                word = UInt(bitPattern: block.load(as: UnsafeMutableRawPointer?.self))
            }
            record.heap.storage.pointee.quarantine.forEach { plan.delayed.insert(UInt(bitPattern: $0)) }
        }
        forEachPageInUse(inPagesMarked: marks) { page, _ in
            plan.pages.append(page)
            plan.blockBound += Int(page.pointee.capacity.load(ordering: .relaxed))
        } large: { header in
            plan.large.append(LargeObjects.block(of: header))
        }
        plan.blockBound += plan.large.count
        return plan
    }
}

extension Allocator {
    /// Calls `page` with every page in use (owned or abandoned) whose generation marks meet
    /// `marks` (every one when nil) and the index of its pool, and `large` with every large
    /// block's header, each under its pool's lock.
    func forEachPageInUse(inPagesMarked marks: UInt8?, _ page: (UnsafeMutablePointer<Page>, Int) -> Void,
                          large: (UnsafeMutablePointer<LargeBlockHeader>) -> Void) {
        for (index, pool) in pools.enumerated() {
            pool.withLock { state in
                var arena = state.allArenas
                while let current = arena {
                    arena = current.pointee.nextAll
                    for pageIndex in 1..<Arena.pageCount {
                        let candidate = Arena.page(pageIndex, of: current)
                        guard candidate.pointee.state == .owned || candidate.pointee.state == .abandoned else { continue }
                        if let marks, candidate.pointee.generationMarks.load(ordering: .relaxed) & marks == 0 { continue }
                        page(candidate, index)
                    }
                }
                var header = state.largeBlocks
                while let current = header {
                    large(current)
                    header = current.pointee.next
                }
            }
        }
    }

    /// Calls `body` with every block of the calling thread's own pages that is not on a free
    /// list, after draining their thread-free lists. Owner only; other threads may keep freeing
    /// into these pages meanwhile, so a block passed to `body` may be one another thread is
    /// freeing right now (or one in a quarantine, in the checking build): `body` must tell such
    /// blocks apart by bytes the allocator never writes (a free block's first 16 bytes are the
    /// allocator's), or, in the checking build, writes only as the poison 0xDF, with relaxed
    /// atomic stores (BlockChecking.swift).
    public func forEachBlockOfCurrentThread(_ body: (UnsafeMutableRawPointer) -> Void) {
        let heap = currentHeap(for: "forEachBlockOfCurrentThread")
        heap.forEachPage { page in
            page.pointee.collect()
            page.pointee.forEachBlockNotFree(includingThreadFree: false, body)
        }
    }
}

extension Page {
    /// Calls `body` with every carved block that is not on `free` or `localFree` (nor on
    /// `threadFree` when `includingThreadFree`), in address order. Owner, pool lock holder, or the
    /// world quiescent. A 4096-bit map on the stack marks the free blocks: no allocation per page.
    @inline(__always)
    func forEachBlockNotFree(includingThreadFree: Bool, _ body: (UnsafeMutableRawPointer) -> Void) {
        let size = Int(blockSize)
        let carved = Int(capacity.load(ordering: .relaxed))
        let words = (carved + 63) / 64
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Arena.pageSize / 16 / 64) { free in
            free.initialize(repeating: 0)
            func mark(_ head: UnsafeMutableRawPointer?) {
                var cursor = head
                while let block = cursor {
                    let offset = UInt64(block - start)
                    let index = Int((offset &* UInt64(reciprocal)) >> 32)
                    free[index >> 6] |= 1 << UInt64(index & 63)
                    cursor = block.load(as: UnsafeMutableRawPointer?.self)
                }
            }
            mark(self.free)
            mark(localFree)
            if includingThreadFree { mark(threadFreeHead) }
            for word in 0..<words {
                var allocated = ~free[word]
                let base = word * 64
                if base + 64 > carved { allocated &= (UInt64(1) << UInt64(carved - base)) &- 1 }
                while allocated != 0 {
                    let bit = allocated.trailingZeroBitCount
                    body(start + (base + bit) * size)
                    allocated &= allocated &- 1
                }
            }
        }
    }
}
