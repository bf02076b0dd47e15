// A walk of the heap that runs while mutators allocate and free: the concurrent collector's
// (Collector/ConcurrentDetection.swift).
//
// Between `beginConcurrentWalk` and `endConcurrentWalk` every byte of the arenas and large blocks
// that exist stays mapped: no arena is unmapped or decommitted and no large block unmapped
// (ArenaPool defers them to the last walk's end). So the walk may read any page it listed and any
// large block, at any time, and find memory there — what that memory holds is another matter:
// mutators write it without synchronising with the walk, so the walk reads it with racy loads
// (CHeapShim's heapd_racy_copy_words) and treats it as a hint.
//
// A page's blocks are copied under its pool's lock, the lock that formatting and resetting a page
// take: so the page cannot change size class while it is copied, and every block boundary in the
// copy is a block boundary of the page. Its owner keeps allocating and freeing in it meanwhile
// (a copy of 64 KiB takes some microseconds).

import CHeapShim

/// A page as the walk found it under its pool's lock.
struct ConcurrentPageView {
    let page: UnsafeMutablePointer<Page>
    let start: UInt
    let blockSize: Int
    /// Page.reciprocal: `(offset * reciprocal) >> 32` is the index of the block at `offset`.
    let reciprocal: UInt32
    /// Blocks the page can hold at this size.
    let reserved: Int
    /// Index of its node pool in `Allocator.pools`.
    let pool: Int
}

/// What a concurrent walk visits: pages in use and large blocks, listed under the pools' locks.
struct ConcurrentWalkPlan {
    var pages: [ConcurrentPageView] = []
    /// Large blocks and the bytes usable in each.
    var large: [(block: UnsafeMutableRawPointer, size: Int)] = []
}

extension Allocator {
    /// A concurrent walk starts: nothing is unmapped until it ends. Any thread.
    func beginConcurrentWalk() {
        for pool in pools { pool.beginWalk() }
    }

    /// The walk ends: what was kept mapped for it is released as the release policy says.
    func endConcurrentWalk() {
        for pool in pools { pool.endWalk() }
    }

    /// The pages in use whose generation marks meet `marks` (every page when nil), and the large
    /// blocks. Between `beginConcurrentWalk` and `endConcurrentWalk`.
    func concurrentWalkPlan(inPagesMarked marks: UInt8?) -> ConcurrentWalkPlan {
        var plan = ConcurrentWalkPlan()
        forEachPageInUse(inPagesMarked: marks) { page, pool in
            plan.pages.append(ConcurrentPageView(page: page, start: UInt(bitPattern: page.pointee.start),
                                                 blockSize: Int(page.pointee.blockSize), reciprocal: page.pointee.reciprocal,
                                                 reserved: Int(page.pointee.reserved), pool: pool))
        } large: { header in
            plan.large.append((LargeObjects.block(of: header), header.pointee.blockSize))
        }
        return plan
    }

    /// Copies the carved blocks of `view`'s page to `destination` (room for `view.reserved`
    /// blocks) with racy loads, and returns how many it copied: 0 when the page no longer holds
    /// blocks of the view's size. Between `beginConcurrentWalk` and `endConcurrentWalk`.
    func copyBlocks(of view: ConcurrentPageView, to destination: UnsafeMutableRawPointer) -> Int {
        pools[view.pool].withLock { _ in
            let page = view.page
            guard page.pointee.state == .owned || page.pointee.state == .abandoned,
                  Int(page.pointee.blockSize) == view.blockSize else { return 0 }
            let carved = min(Int(page.pointee.capacity.load(ordering: .relaxed)), view.reserved)
            heapd_racy_copy_words(destination.assumingMemoryBound(to: UInt64.self), UnsafeRawPointer(bitPattern: view.start),
                                  UInt64(carved * view.blockSize / 8))
            return carved
        }
    }
}
