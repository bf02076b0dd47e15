// Attaching and detaching threads.
//
// A thread attaches before it allocates; it gets a ThreadHeap reachable from C thread-local storage.
// Detaching abandons the heap's pages (see ThreadHeap+Lifecycle) and sweeps the abandoned lists,
// so a thread that comes and goes leaves nothing behind. A thread may be attached to one
// allocator at a time.

extension Allocator {
    /// Gives the calling thread a thread heap of this allocator, optionally pinning it to `cpu`
    /// first (so that its pages come from that CPU's node). The thread must not be attached.
    /// Returns false if pinning was asked for and the kernel refused it (the thread is attached
    /// anyway, unpinned).
    @discardableResult
    public func attachCurrentThread(pinningTo cpu: Int? = nil) -> Bool {
        require(ThreadHeap.current == nil, "heapd: this thread is already attached to an allocator; detach it first")
        let pinned = cpu.map { CPUPinning.pinCurrentThread(to: $0) } ?? true
        let heap = ThreadHeap.create(for: self)
        registry.withLock { $0[heap.address] = ThreadHeapRecord(heap: heap) }
        heap.install()
        return pinned
    }

    /// Detaches the calling thread: its empty pages return to their arenas, the others are
    /// abandoned for other heaps to adopt. Blocks stay valid and may be freed from any thread.
    public func detachCurrentThread() {
        let heap = currentHeap(for: "detachCurrentThread")
        // While the heap is still the thread's: a quarantined block of our own frees locally.
        releaseQuarantine(of: heap)
        registry.withLock { _ = $0.removeValue(forKey: heap.address) }
        ThreadHeap.uninstall()
        heap.abandonAndDestroy()
        for pool in pools { pool.sweepAbandoned() }
    }

    /// Whether the calling thread is attached to this allocator.
    public var isCurrentThreadAttached: Bool {
        guard let heap = ThreadHeap.current else { return false }
        return heap.storage.pointee.allocator == Unmanaged.passUnretained(self).toOpaque()
    }

    /// Returns memory that is no longer needed: the calling thread's heap (if attached here)
    /// drains its remote frees and gives its empty pages back, and every node's abandoned pages
    /// that have become empty are released.
    public func collect() {
        if isCurrentThreadAttached { ThreadHeap.current!.collect() }
        for pool in pools { pool.sweepAbandoned() }
    }

    /// Number of threads attached now.
    public var attachedThreadCount: Int {
        registry.withLock { $0.count }
    }

    func currentHeap(for operation: StaticString) -> ThreadHeap {
        guard let heap = ThreadHeap.current else {
            misuse("heapd: \(operation) on a thread that is not attached; call attachCurrentThread() first")
        }
        precondition(heap.storage.pointee.allocator == Unmanaged.passUnretained(self).toOpaque(),
                     "heapd: \(operation) on a thread attached to a different allocator")
        return heap
    }
}
