// Walking the allocated blocks, with the world quiescent (the heap verifier, statistics by type).
//
// A carved block of a page in use is allocated unless it is on the page's free, local-free or
// thread-free list, or on its owner heap's delayed list. Large blocks are always allocated.

extension Allocator {
    /// Calls `body` with every allocated block and its usable size. Quiescent only: no thread may
    /// allocate or free while it runs.
    public func forEachAllocatedBlock(_ body: (UnsafeMutableRawPointer, Int) -> Void) {
        var delayed = Set<UInt>()
        for record in registry.withLock({ Array($0.values) }) {
            var word = record.heap.storage.pointee.delayedFree.load(ordering: .acquiring)
            while let block = UnsafeMutableRawPointer(bitPattern: word) {
                delayed.insert(word)
                word = UInt(bitPattern: block.load(as: UnsafeMutableRawPointer?.self))
            }
        }
        for pool in pools {
            pool.withLock { state in
                var arena = state.allArenas
                while let current = arena {
                    arena = current.pointee.nextAll
                    for index in 1..<Arena.pageCount {
                        let page = Arena.page(index, of: current)
                        guard page.pointee.state == .owned || page.pointee.state == .abandoned else { continue }
                        let size = Int(page.pointee.blockSize)
                        let capacity = Int(page.pointee.capacity.load(ordering: .relaxed))
                        var free = [Bool](repeating: false, count: capacity)
                        for head in [page.pointee.free, page.pointee.localFree, page.pointee.threadFreeHead] {
                            var cursor = head
                            while let block = cursor {
                                free[(block - page.pointee.start) / size] = true
                                cursor = block.load(as: UnsafeMutableRawPointer?.self)
                            }
                        }
                        for slot in 0..<capacity where !free[slot] {
                            let block = page.pointee.start + slot * size
                            if !delayed.contains(UInt(bitPattern: block)) { body(block, size) }
                        }
                    }
                }
                var large = state.largeBlocks
                while let header = large {
                    body(LargeObjects.block(of: header), header.pointee.blockSize)
                    large = header.pointee.next
                }
            }
        }
    }
}

extension Allocator {
    /// Calls `body` with every block of the calling thread's own pages that is not on a free
    /// list, after draining their thread-free lists. Owner only; other threads may keep freeing
    /// into these pages meanwhile, so a block passed to `body` may be one another thread is
    /// freeing right now: `body` must tell such blocks apart by bytes the allocator never writes
    /// (a free block's first 16 bytes are the allocator's).
    public func forEachBlockOfCurrentThread(_ body: (UnsafeMutableRawPointer) -> Void) {
        let heap = currentHeap(for: "forEachBlockOfCurrentThread")
        heap.forEachPage { page in
            page.pointee.collect()
            let size = Int(page.pointee.blockSize)
            let capacity = Int(page.pointee.capacity.load(ordering: .relaxed))
            var free = [Bool](repeating: false, count: capacity)
            for head in [page.pointee.free, page.pointee.localFree] {
                var cursor = head
                while let block = cursor {
                    free[(block - page.pointee.start) / size] = true
                    cursor = block.load(as: UnsafeMutableRawPointer?.self)
                }
            }
            for slot in 0..<capacity where !free[slot] {
                body(page.pointee.start + slot * size)
            }
        }
    }
}
