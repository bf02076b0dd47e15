// The allocator's rules checked in debug builds: "pool lock held" and "owner only" (thread heaps,
// pages, quarantines). Each exit test breaks one rule through an internal function and expects
// the debug assertion to stop the process, naming the function and the rule.

#if DEBUG
@testable import HeapCore
import Foundation
import Testing

@Suite struct AllocatorRuleTests {
    @Test func aPageIsNotResetWithoutItsPoolLock() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let page = Arena.page(containing: UInt(bitPattern: allocator.allocate(byteCount: 64)!))
            page.pointee.reset(pool: allocator.pool(forNode: Arena.arena(of: page).pointee.node))
        }
        expectMessage(result, "reset(pool:) needs the lock held by the calling thread")
    }

    @Test func anotherThreadCannotCollectAThreadHeap() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let storage = UInt(bitPattern: ThreadHeap.current!.storage)
            runOnThreads(1) { _ in
                ThreadHeap(storage: UnsafeMutablePointer(bitPattern: storage)!).collect()
            }
        }
        expectMessage(result, "collect() is for the thread heap's owner thread only")
    }

    @Test func anotherThreadCannotCollectAPage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let block = UInt(bitPattern: allocator.allocate(byteCount: 64)!)
            runOnThreads(1) { _ in
                allocator.attachCurrentThread()   // a thread heap, but not the page's owner
                Arena.page(containing: block).pointee.collect()
            }
        }
        expectMessage(result, "collect() is for the page's owner thread only")
    }

    @Test func anotherThreadCannotEmptyAQuarantine() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator(configuration: AllocatorConfiguration(checking: AllocatorChecking()))
            allocator.attachCurrentThread()
            allocator.deallocate(allocator.allocate(byteCount: 64)!)
            let storage = UInt(bitPattern: ThreadHeap.current!.storage)
            runOnThreads(1) { _ in
                allocator.releaseQuarantine(of: ThreadHeap(storage: UnsafeMutablePointer(bitPattern: storage)!))
            }
        }
        expectMessage(result, "releaseQuarantine(of:) is for the calling thread's own heap")
    }
}
#endif
