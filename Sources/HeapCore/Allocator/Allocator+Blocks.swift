// Allocating and freeing blocks, and the checks that stop misuse.
//
// deallocate's order of checks (each failure stops the process naming the pointer):
//   1. region map: the address must be in a live arena or be the start of a large block;
//   2. page: in use by this allocator (owned or abandoned);
//   3. offset: the exact start of a block (block index by reciprocal multiply, no division);
//   4. tag: not already free.
// Only then is the block written. The owner pushes onto its local list; any other thread pushes
// onto the page's thread-free list.

extension Allocator {
    /// Allocates `byteCount` bytes, 16-byte aligned, on the calling thread's heap. Returns nil when
    /// the OS has no memory to give. The calling thread must be attached to this allocator.
    /// Budget for up to 512 bytes: one TLS load, one owner compare, then ThreadHeap.allocateSmall.
    public func allocate(byteCount: Int) -> UnsafeMutableRawPointer? {
        if UInt(bitPattern: byteCount) <= UInt(SizeClass.maxDirectSize),
           let heap = ThreadHeap.current,
           heap.storage.pointee.allocator == Unmanaged.passUnretained(self).toOpaque() {
            return heap.allocateSmall(byteCount)
        }
        return allocateOther(byteCount: byteCount)
    }

    /// Sizes above 512 bytes, and every misuse.
    @inline(never)
    private func allocateOther(byteCount: Int) -> UnsafeMutableRawPointer? {
        require(byteCount >= 0, "heapd: allocate(byteCount: \(byteCount)): negative size")
        let heap = currentHeap(for: "allocate")
        if byteCount <= SizeClass.maxDirectSize {
            return heap.allocateSmall(byteCount)
        }
        if byteCount <= SizeClass.maxSmallSize {
            return heap.allocateGeneric(byteCount)
        }
        return pool(forNode: topology.currentNode()).allocateLarge(byteCount: byteCount)
    }

    /// Frees a block of this allocator, from any thread (attached or not).
    public func deallocate(_ pointer: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: pointer)
        guard regions.isArena(address) else {
            return deallocateLarge(pointer)
        }
        let page = Arena.page(containing: address)
        let offset = UInt32(truncatingIfNeeded: address & UInt(Arena.pageSize - 1))
        let index = UInt32(truncatingIfNeeded: (UInt64(offset) &* UInt64(page.pointee.reciprocal)) >> 32)
        guard index &* page.pointee.blockSize == offset,
              index < page.pointee.capacity.load(ordering: .relaxed),
              page.pointee.allocatorID == id,
              !page.pointee.isTaggedFree(pointer)
        else {
            invalidFree(pointer, page: page)
        }
        if page.pointee.ownerID.load(ordering: .relaxed) == ThreadHeap.fastFreeID {
            page.pointee.freeLocal(pointer, page: page)
        } else {
            freeRemote(pointer, page: page)
        }
    }

    /// The number of bytes usable in the block at `pointer` (at least what was asked for).
    public func usableSize(of pointer: UnsafeMutableRawPointer) -> Int {
        let address = UInt(bitPattern: pointer)
        switch regions.kind(of: address) {
        case .arena:
            return Int(Arena.page(containing: address).pointee.blockSize)
        case .largeStart:
            return Arena.header(ofAddress: address).withMemoryRebound(to: LargeBlockHeader.self, capacity: 1) { $0.pointee.blockSize }
        case .none, .largeContinuation:
            misuse("heapd: usableSize(of: \(pointer)): not a heapd block")
        }
    }

    /// The node whose pool holds the block at `pointer`.
    public func node(of pointer: UnsafeMutableRawPointer) -> Int {
        let address = UInt(bitPattern: pointer)
        switch regions.kind(of: address) {
        case .arena:
            return Arena.header(ofAddress: address).pointee.node
        case .largeStart:
            return Arena.header(ofAddress: address).withMemoryRebound(to: LargeBlockHeader.self, capacity: 1) { $0.pointee.node }
        case .none, .largeContinuation:
            misuse("heapd: node(of: \(pointer)): not a heapd block")
        }
    }

    /// The physical NUMA node of each OS page of `[pointer, pointer + byteCount)`, as the kernel
    /// reports it (`move_pages`); a negative entry is an errno (`-ENOENT`: not yet touched).
    public static func physicalNodes(of pointer: UnsafeRawPointer, byteCount: Int) -> [Int] {
        NumaMemory.nodesOfPages(pointer, size: byteCount)
    }

    // MARK: Trusted paths for the object layer

    /// Allocates for a caller that knows the calling thread is attached to this allocator (the
    /// object layer, whose mutator attached it). Budget for up to 512 bytes: one TLS load, then
    /// ThreadHeap.allocateSmall.
    @inline(__always)
    func allocateTrusted(byteCount: Int) -> UnsafeMutableRawPointer? {
        if byteCount <= SizeClass.maxDirectSize {
            return ThreadHeap.current.unsafelyUnwrapped.allocateSmall(byteCount)
        }
        return allocate(byteCount: byteCount)
    }

    /// Frees a block the caller knows to be a live block of this allocator, small (at most
    /// SizeClass.maxSmallSize bytes) or not (the object layer, freeing an object it allocated):
    /// no region-map, interior or double-free check. Budget for a small block freed by its owner:
    /// the page by masking, one TLS load, then Page.freeLocal.
    @inline(__always)
    func deallocateTrusted(_ pointer: UnsafeMutableRawPointer, isSmall: Bool) {
        guard isSmall else { return deallocate(pointer) }
        let page = Arena.page(containing: UInt(bitPattern: pointer))
        if page.pointee.ownerID.load(ordering: .relaxed) == ThreadHeap.fastFreeID {
            page.pointee.freeLocal(pointer, page: page)
        } else {
            freeRemote(pointer, page: page)
        }
    }

    /// Frees a block as `deallocateTrusted` does, for a thread that frees many blocks it mostly
    /// does not own (the collector's teardown): a run of consecutive blocks of one page that is
    /// not ours is chained in `batch` and pushed onto the page's thread-free list with one CAS
    /// when the run ends (`flush`), not one CAS a block.
    @inline(__always)
    func deallocateTrusted(_ pointer: UnsafeMutableRawPointer, isSmall: Bool, batching batch: inout RemoteFreeBatch) {
        guard isSmall else { return deallocate(pointer) }
        let page = Arena.page(containing: UInt(bitPattern: pointer))
        if page.pointee.ownerID.load(ordering: .relaxed) == ThreadHeap.fastFreeID {
            page.pointee.freeLocal(pointer, page: page)
        } else if checksBlocks {
            freeChecked(pointer, page: page)
        } else {
            if batch.page != page {
                flush(&batch)
                batch.page = page
                batch.tail = pointer
            }
            pointer.storeBytes(of: page.pointee.tag(of: pointer), toByteOffset: 8, as: UInt.self)
            pointer.storeBytes(of: batch.head, as: UnsafeMutableRawPointer?.self)
            batch.head = pointer
        }
    }

    /// Pushes the run `batch` holds, leaving it empty.
    func flush(_ batch: inout RemoteFreeBatch) {
        guard let page = batch.page, var head = batch.head, let tail = batch.tail else { return }
        batch.page = nil
        batch.head = nil
        batch.tail = nil
        while !page.pointee.pushThreadFreeChain(head: head, tail: tail) {
            // On its owner's full list: one block through the path that tells the owner.
            let first = head
            let rest = first.load(as: UnsafeMutableRawPointer?.self)
            pushRemote(first, page: page)
            guard first != tail, let rest else { return }
            head = rest
        }
    }

    // MARK: Remote and large frees

    /// Every free that is not the owner's fast one: other threads' frees, and every free of a
    /// checking allocator (its heaps' fast-free id matches no page).
    @inline(never)
    func freeRemote(_ block: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>) {
        if checksBlocks { return freeChecked(block, page: page) }
        pushRemote(block, page: page)
    }

    /// A free by a thread that does not own `page`: its thread-free list, or its owner's delayed
    /// list when the page is on the owner's full list.
    @inline(__always)
    func pushRemote(_ block: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>) {
        if page.pointee.pushThreadFreeRemote(block) {
            // The page is on its owner's full list: tell the owner (the delayedFreeing state keeps
            // the owner heap alive until we are done).
            let owner = ThreadHeap(storage: UnsafeMutablePointer(bitPattern: page.pointee.ownerHeap.load(ordering: .acquiring))!)
            owner.pushDelayedFreeRemote(block)
            page.pointee.finishDelayedFreeRemote()
        }
    }

    @inline(never)
    private func deallocateLarge(_ pointer: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: pointer)
        let kind = regions.kind(of: address)
        guard kind == .largeStart else {
            if kind == .largeContinuation {
                misuse("heapd: free of \(pointer), which points inside a large block, not at its start")
            }
            misuse("heapd: free of \(pointer), which is not a live heapd block (never allocated here, or already freed)")
        }
        let header = UnsafeMutableRawPointer(Arena.header(ofAddress: address)).assumingMemoryBound(to: LargeBlockHeader.self)
        guard pointer == LargeObjects.block(of: header) else {
            misuse("heapd: free of \(pointer), which points inside a \(header.pointee.blockSize)-byte large block starting at \(LargeObjects.block(of: header))")
        }
        require(header.pointee.allocatorID == id, "heapd: free of \(pointer), a block of another allocator")
        pool(forNode: header.pointee.node).releaseLarge(header)
    }

    /// Names what is wrong with a pointer that failed deallocate's checks, and stops.
    @inline(never)
    private func invalidFree(_ pointer: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>) -> Never {
        let state = page.pointee.state
        guard state == .owned || state == .abandoned else {
            misuse("heapd: free of \(pointer), which lies in a heapd arena page that holds no blocks (never allocated, or its page was already released: double free)")
        }
        require(page.pointee.allocatorID == id, "heapd: free of \(pointer), a block of another allocator")
        let size = UInt(page.pointee.blockSize)
        let offset = UInt(bitPattern: pointer) - UInt(bitPattern: page.pointee.start)
        if offset % size != 0 {
            let start = page.pointee.start + Int(offset - offset % size)
            misuse("heapd: free of \(pointer), which points \(offset % size) bytes inside the \(size)-byte block at \(start)")
        }
        if offset / size >= UInt(page.pointee.capacity.load(ordering: .relaxed)) {
            misuse("heapd: free of \(pointer), a \(size)-byte slot that was never allocated")
        }
        misuse("heapd: double free of the \(size)-byte block at \(pointer)")
    }
}

/// A run of blocks one thread has freed into a page it does not own, not yet pushed
/// (`Allocator.deallocateTrusted(_:isSmall:batching:)`). Flush it before the blocks' page can be
/// looked at: its blocks are still counted in the page's `used`.
struct RemoteFreeBatch: ~Copyable {
    fileprivate var page: UnsafeMutablePointer<Page>?
    fileprivate var head: UnsafeMutableRawPointer?
    fileprivate var tail: UnsafeMutableRawPointer?

    init() {}

    deinit { assert(page == nil, "heapd: a remote-free batch was dropped without its flush") }
}
