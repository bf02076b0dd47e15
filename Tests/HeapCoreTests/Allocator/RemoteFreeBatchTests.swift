@testable import HeapCore
import Synchronization
import Testing

/// Frees of many blocks of other threads' pages chained a page at a time
/// (`Allocator.deallocateTrusted(_:isSmall:batching:)`, the collector's teardown).
@Suite struct RemoteFreeBatchTests {
    /// The other thread frees the owner's blocks through one batch (in allocation order, or
    /// shuffled by `shuffleSeed`) together with blocks of its own.
    private func freeThroughBatch(count: Int, shuffleSeed: UInt64? = nil) {
        allocateHereFreeThere(count: count) { allocator, handed in
            // Some blocks of this thread's own pages in between: those take the owner's path.
            let mine = (0..<100).map { _ in allocator.allocate(byteCount: 64)! }
            var batch = RemoteFreeBatch()
            var blocks = handed
            if let shuffleSeed {
                var generator = SeededRandom(seed: shuffleSeed)
                blocks.shuffle(using: &generator)
            }
            for (n, block) in blocks.enumerated() {
                allocator.deallocateTrusted(block.pointer, isSmall: true, batching: &batch)
                if n % 50 == 0, n / 50 < mine.count {
                    allocator.deallocateTrusted(mine[n / 50], isSmall: true, batching: &batch)
                }
            }
            for block in mine.dropFirst((count + 49) / 50) {
                allocator.deallocateTrusted(block, isSmall: true, batching: &batch)
            }
            allocator.flush(&batch)
        }
    }

    @Test func runsOfOnePagesBlocksArePushedAndTheOwnerTakesThemBack() {
        // In allocation order: long runs of one page, pages on the full list among them.
        freeThroughBatch(count: 5000)
    }

    @Test func shuffledFreesFlushAtEveryChangeOfPage() {
        freeThroughBatch(count: 5000, shuffleSeed: 18)
    }

    @Test func aPageOnItsOwnersFullListIsToldByItsFirstBlock() {
        let allocator = Allocator()
        let blocks = Locked<[BlockAddress]>([])
        let filled = Barrier(parties: 2)
        let pushed = Barrier(parties: 2)
        runOnThreads(2) { i in
            allocator.attachCurrentThread()
            if i == 0 {
                // One page full exactly, and one block of the next, so the first is on the full list.
                let perPage = Arena.pageSize / 64
                blocks.withLock { $0 = (0...perPage).map { _ in BlockAddress(allocator.allocate(byteCount: 64)!) } }
                filled.wait()
                pushed.wait()
                let page = Arena.page(containing: UInt(bitPattern: blocks.withLock { $0[0] }.pointer))
                // The first block went to this heap's delayed list, the other ten to the page.
                #expect(page.pointee.delayedState == .noDelayed)
                var onPage = 0
                var block = page.pointee.threadFreeHead
                while let current = block {
                    onPage += 1
                    block = current.load(as: UnsafeMutableRawPointer?.self)
                }
                #expect(onPage == 10)
                #expect(allocator.verify() == [])
                allocator.collect()
                for block in blocks.withLock({ $0 }).dropFirst(11) { allocator.deallocate(block.pointer) }
                allocator.collect()
                #expect(allocator.statistics().liveBlocks == 0)
            } else {
                filled.wait()
                var batch = RemoteFreeBatch()
                for block in blocks.withLock({ $0 }).prefix(11) {
                    allocator.deallocateTrusted(block.pointer, isSmall: true, batching: &batch)
                }
                allocator.flush(&batch)
                pushed.wait()
            }
            allocator.detachCurrentThread()
        }
        #expect(allocator.verify() == [])
    }
}
