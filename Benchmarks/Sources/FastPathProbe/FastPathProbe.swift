// The probe's loops; see main.swift.

import BenchmarkSupport

enum FastPathProbe {
    static func run<A: BlockAllocator>(_ allocator: A, pattern: String, pairs: Int, byteCount: Int) {
        allocator.enterThread()
        if pattern == "tight" {
            for _ in 0..<pairs {
                let block = allocator.allocate(byteCount)
                keep(block)
                allocator.deallocate(block)
            }
        } else {
            let slots = BlockSlots(count: 10_000)
            for _ in 0..<pairs / slots.count {
                for index in 0..<slots.count { slots[index] = allocator.allocate(byteCount) }
                for index in 0..<slots.count { allocator.deallocate(slots[index]) }
            }
        }
        print("\(allocator.name) \(pattern) \(pairs) pairs of \(byteCount) B done")
    }
}

/// The last block seen; written so that the loop's blocks count as used.
nonisolated(unsafe) private var lastBlock: UnsafeMutableRawPointer?

/// Opaque to the optimiser: a real call and a store, a few instructions per pair, the same for both allocators.
@inline(never)
func keep(_ block: UnsafeMutableRawPointer) {
    lastBlock = block
}
