// BatchQueue: a small lock-protected FIFO of batch numbers, the hand-off between the producer and
// the consumer of the cross-thread-free benchmark. Batch numbers, not pointers, travel through it:
// the blocks stay in a BlockSlots that the batch number indexes.
//
// Capacity is fixed (no allocation while measuring); a pop on an empty queue yields the CPU and
// tries again, since on this 2-core machine both sides of the hand-off run at once.

import Glibc
import Synchronization

final class BatchQueue: Sendable {
    static let capacity = 16

    private struct Ring {
        var entries = InlineArray<16, Int>(repeating: 0)
        var head = 0
        var count = 0
    }

    /// What `pop` returns after `close()`: the producer has no more batches.
    private static let endMarker = -1

    private let ring = Mutex(Ring())

    func push(_ batch: Int) {
        precondition(batch >= 0, "batch numbers are non-negative")
        enqueue(batch)
    }

    /// Tells the consumer that no batch follows the ones already pushed.
    func close() {
        enqueue(BatchQueue.endMarker)
    }

    /// The oldest batch, waiting for one if the queue is empty; nil once the queue is closed.
    func pop() -> Int? {
        while true {
            let entry = ring.withLock { ring -> Int? in
                guard ring.count > 0 else { return nil }
                let entry = ring.entries[ring.head]
                ring.head = (ring.head + 1) % BatchQueue.capacity
                ring.count -= 1
                return entry
            }
            if let entry { return entry == BatchQueue.endMarker ? nil : entry }
            sched_yield()
        }
    }

    private func enqueue(_ entry: Int) {
        ring.withLock { ring in
            precondition(ring.count < BatchQueue.capacity, "BatchQueue overflow: more batches in flight than its capacity")
            ring.entries[(ring.head + ring.count) % BatchQueue.capacity] = entry
            ring.count += 1
        }
    }
}
