// OffHeapMemory: the memory runs take outside their heap's objects — channel buffers, and the
// register stacks and call frames of their threads — counted against the heap's limit, so that
// a program cannot grow the process past that limit by sizing these instead of objects.
//
//   heap.allocator.mappedBytes + bytes ≤ limit
//
// `take` keeps the equation (it fails instead). The heap's own allocations see only
// `mappedBytes ≤ limit`, so the sum can pass the limit by what threads allocate between two
// polls; every poll checks `isOverLimit` and fails the run with run.heap-limit, as a failed
// allocation does. A heap of its own has one of these for its run; the shared heap has one for
// every run that joins it (SharedHeap.swift).
//
// Any thread. Lock-free: one atomic word, relaxed, because it orders nothing — it only counts
// (as HeapCore's MemoryBudget does).

import HeapCore
import Synchronization

final class OffHeapMemory: Sendable {
    /// The heap's limit (Int.max: none).
    let limit: Int
    private let allocator: Allocator
    private let taken = Atomic<Int>(0)

    init(limit: Int?, allocator: Allocator) {
        self.limit = limit ?? Int.max
        self.allocator = allocator
    }

    /// Bytes taken now.
    var bytes: Int { taken.load(ordering: .relaxed) }

    /// Takes `count` bytes; false (and nothing taken) when the heap's mapped bytes and the
    /// bytes taken would pass the limit.
    func take(_ count: Int) -> Bool {
        precondition(count >= 0, "OffHeapMemory.take(\(count)): negative")
        var current = taken.load(ordering: .relaxed)
        while true {
            // limit − mapped − current cannot overflow: all three are in 0 ... Int.max.
            guard count <= limit - allocator.mappedBytes - current else { return false }
            let (exchanged, original) = taken.compareExchange(expected: current, desired: current + count, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Gives back `count` bytes taken before.
    func give(_ count: Int) {
        taken.wrappingSubtract(count, ordering: .relaxed)
    }

    /// Whether the heap and this memory together are past the limit now.
    var isOverLimit: Bool {
        allocator.mappedBytes > limit - taken.load(ordering: .relaxed)
    }
}
