// The workloads, each written once and generic over BlockAllocator; the benchmarks specialise
// them for heapd and for glibc. Every workload frees everything it allocates, so an iteration
// leaves the allocator as it found it (up to cached pages).

import BenchmarkSupport

/// Allocates `slots.count` blocks of `byteCount` bytes, then frees them in the same order.
@inline(__always)
func allocateThenFree<A: BlockAllocator>(_ allocator: A, byteCount: Int, slots: BlockSlots) {
    for index in 0..<slots.count {
        slots[index] = allocator.allocate(byteCount)
    }
    for index in 0..<slots.count {
        allocator.deallocate(slots[index])
    }
}

/// The xmalloc-test pattern (mimalloc-bench): the calling thread allocates batches of blocks and
/// hands each batch to a consumer thread, which frees every block in it. Blocks are allocated on
/// one thread and always freed on another.
///
/// At most `batchesInFlight` batches exist at once: the producer waits for the consumer to hand
/// an emptied batch back before it fills another.
final class CrossThreadFree: Sendable {
    let batchSize: Int
    let batchesInFlight: Int
    /// Batch `b` is `slots[b * batchSize ..< (b + 1) * batchSize]`; whoever popped `b` owns it.
    private let slots: BlockSlots
    private let filled = BatchQueue()
    private let emptied = BatchQueue()

    init(batchSize: Int, batchesInFlight: Int) {
        precondition(batchesInFlight < BatchQueue.capacity, "the filled queue also holds the end marker")
        self.batchSize = batchSize
        self.batchesInFlight = batchesInFlight
        slots = BlockSlots(count: batchSize * batchesInFlight)
    }

    /// Produces `batchCount` batches of `byteCount`-byte blocks on the calling thread (which must
    /// have entered `allocator`) and frees them on a new consumer thread. Returns when every block
    /// has been freed.
    func run<A: BlockAllocator>(_ allocator: A, byteCount: Int, batchCount: Int) {
        for batch in 0..<batchesInFlight { emptied.push(batch) }
        let consumer = WorkerThread { [self] in
            allocator.enterThread()
            while let batch = filled.pop() {
                for index in blockRange(of: batch) { allocator.deallocate(slots[index]) }
                emptied.push(batch)
            }
            allocator.leaveThread()
        }
        for _ in 0..<batchCount {
            let batch = emptied.pop()!
            for index in blockRange(of: batch) { slots[index] = allocator.allocate(byteCount) }
            filled.push(batch)
        }
        filled.close()
        consumer.join()
        for _ in 0..<batchesInFlight { _ = emptied.pop() }
    }

    private func blockRange(of batch: Int) -> Range<Int> {
        batch * batchSize ..< (batch + 1) * batchSize
    }
}

/// Runs one worker thread per element of `slots`; each enters `allocator`, repeats
/// `allocateThenFree` `roundsPerThread` times on its own slots, and leaves. Returns when all
/// workers have finished.
func runIndependentWorkers<A: BlockAllocator>(_ allocator: A, byteCount: Int, slots: [BlockSlots], roundsPerThread: Int) {
    let workers = slots.map { threadSlots in
        WorkerThread {
            allocator.enterThread()
            for _ in 0..<roundsPerThread {
                allocateThenFree(allocator, byteCount: byteCount, slots: threadSlots)
            }
            allocator.leaveThread()
        }
    }
    for worker in workers { worker.join() }
}
