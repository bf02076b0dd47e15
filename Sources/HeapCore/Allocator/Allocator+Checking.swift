// The checking build's free path (BlockChecking.swift has the poison, the quarantine and the
// table of what happens when).
//
// Every free of a checking allocator arrives at `freeChecked`, from any thread: the block is the
// freeing thread's until it is published, so it tags and poisons it there, before any list push
// (the thread-free CAS's release then carries the poison to the owner that drains it). The block
// then waits in the freeing thread's quarantine, still counted in its page's `used` and now in
// its `quarantined`, until it leaves: then it is checked and freed for real, by the thread whose
// quarantine held it — locally if that thread owns the page by then, else as a remote free.
//
//   page.quarantined == |blocks of the page in all quarantines|     (the verifier checks it)

extension Allocator {
    /// Tags and poisons `block` and quarantines it on the calling thread's heap (when the thread
    /// is attached to this allocator); frees for real the block that leaves the quarantine.
    @inline(never)
    func freeChecked(_ block: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>) {
        block.storeBytes(of: page.pointee.tag(of: block), toByteOffset: 8, as: UInt.self)
        block.storeBytes(of: BlockPoison.word, as: UInt64.self)
        BlockPoison.fill(block, from: 16, size: Int(page.pointee.blockSize))
        guard let heap = ThreadHeap.current,
              heap.storage.pointee.allocator == Unmanaged.passUnretained(self).toOpaque(),
              heap.storage.pointee.quarantine.capacity > 0
        else {
            return freePoisoned(block, page: page)
        }
        page.pointee.quarantined.add(1, ordering: .relaxed)
        if let leaving = heap.storage.pointee.quarantine.admit(block) {
            releaseQuarantined(leaving)
        }
    }

    /// Empties `heap`'s quarantine (at detach). The heap must be the calling thread's.
    func releaseQuarantine(of heap: ThreadHeap) {
        assert(ThreadHeap.current?.id == heap.id, "heapd: releaseQuarantine(of:) is for the calling thread's own heap")
        while let block = heap.storage.pointee.quarantine.removeOldest() {
            releaseQuarantined(block)
        }
    }

    /// A block leaving the calling thread's quarantine: checked, then freed for real.
    private func releaseQuarantined(_ block: UnsafeMutableRawPointer) {
        let page = Arena.page(containing: UInt(bitPattern: block))
        BlockPoison.checkQuarantined(block, page: page)
        // Before the free: once freed, the page may empty and be released.
        page.pointee.quarantined.subtract(1, ordering: .relaxed)
        freePoisoned(block, page: page)
    }

    /// Pushes a tagged, poisoned block onto its page's lists, as its owner or as a remote free.
    private func freePoisoned(_ block: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>) {
        // Heap ids are unique across allocators, so matching the page's owner means owning it.
        if let heap = ThreadHeap.current, page.pointee.ownerID.load(ordering: .relaxed) == heap.id {
            page.pointee.freeLocal(block, page: page)
        } else {
            pushRemote(block, page: page)
        }
    }
}
