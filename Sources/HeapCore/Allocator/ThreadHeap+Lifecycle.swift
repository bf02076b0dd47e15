// ThreadHeap lifecycle: creation at attach, collection on request, abandonment at detach.
//
// Detaching follows mimalloc's order, which is what makes freeing the storage safe:
//   1. every page goes to the `never` delayed state, waiting out any remote free that is pushing
//      onto our delayed list (it holds a pointer to this storage);
//   2. the delayed list is drained (no remote free can add to it any more);
//   3. each page is collected; empty pages go back to their arenas, the rest to their node's
//      abandoned list, where other heaps adopt them and remote frees keep landing on threadFree.

import CHeapShim

/// Runs (from a pthread key destructor) when a thread exits without detaching: detaches it, so its
/// pages are abandoned for others and its allocator is released, as an explicit detach would. A
/// thread that is also a heap's mutator detaches that (which detaches its allocator too): a
/// mutator left behind would hold every later pause waiting for it.
private let threadExitHook: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
    guard let raw, let current = ThreadHeap.current, UnsafeMutableRawPointer(current.storage) == raw else { return }
    if let mutator = Mutator.current {
        mutator.heap.detachCurrentThread()
    } else {
        current.allocator.detachCurrentThread()
    }
}

extension ThreadHeap {
    /// Allocates and initialises the storage of a new heap for `allocator` (retained until `destroy`).
    static func create(for allocator: Allocator) -> ThreadHeap {
        let storage = UnsafeMutablePointer<ThreadHeapStorage>.allocate(capacity: 1)
        storage.initialize(to: ThreadHeapStorage(
            direct: InlineArray(repeating: allocator.emptyPage),
            allocator: Unmanaged.passRetained(allocator).toOpaque(),
            id: makeID(),
            emptyPage: allocator.emptyPage,
            tagKey: allocator.tagKey,
            checksBlocks: allocator.checksBlocks,
            pools: allocator.poolTable,
            nodeMap: allocator.nodeMap,
            delayedFree: .init(0),
            queues: InlineArray(repeating: PageQueue(first: nil, last: nil)),
            full: PageQueue(first: nil, last: nil),
            quarantine: Quarantine(capacity: allocator.configuration.checking?.quarantineBlocks ?? 0)))
        return ThreadHeap(storage: storage)
    }

    /// Makes this heap the calling thread's, and arranges for it to be detached if the thread
    /// exits still attached. A checking heap's fast-free id is 0 (see `fastFreeID`).
    func install() {
        heapd_set_current_thread_heap(UnsafeMutableRawPointer(storage), storage.pointee.checksBlocks ? 0 : id)
        heapd_register_thread_exit(threadExitHook, UnsafeMutableRawPointer(storage))
    }

    static func uninstall() {
        heapd_unregister_thread_exit()
        heapd_set_current_thread_heap(nil, 0)
    }

    /// Gives every page back (empty ones to their arenas, the rest abandoned), releases the
    /// allocator and frees the storage. Owner only, its quarantine already emptied
    /// (`Allocator.releaseQuarantine`); the handle is dead afterwards.
    func abandonAndDestroy() {
        assertOwnerThread()
        forEachPage { $0.pointee.setDelayedState(.never, override: true) }
        processDelayedFrees()
        forEachPage { page in
            page.pointee.collect()
            page.pointee.next = nil
            page.pointee.prev = nil
            withPool(forNode: Arena.arena(of: page).pointee.node) { pool in
                if page.pointee.usedCount == 0 {
                    pool.releasePage(page)
                } else {
                    pool.abandon(page)
                }
            }
        }
        let opaque = storage.pointee.allocator
        storage.pointee.quarantine.deallocate()
        storage.deinitialize(count: 1)
        storage.deallocate()
        Unmanaged<Allocator>.fromOpaque(opaque).release()
    }

    /// Drains every remote free, returns every empty page (even a class's last one) to its arena
    /// and takes back pages from the full list that have room. Owner only.
    func collect() {
        assertOwnerThread()
        processDelayedFrees()
        var empty: [UnsafeMutablePointer<Page>] = []
        forEachPage { page in
            page.pointee.collect()
            if page.pointee.isInFull && (page.pointee.free != nil || page.pointee.localFree != nil) {
                moveFromFull(page)
            }
            if page.pointee.usedCount == 0 { empty.append(page) }
        }
        for page in empty { retire(page) }
    }
}
