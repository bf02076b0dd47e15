// The checking build (BlockChecking.swift): a write into a freed block stops the process when the
// block leaves quarantine or is reused; the quarantine delays reuse by N frees; statistics, walks
// and the verifier see quarantined blocks as free. Traps run in child processes (exit tests).
//
// 8 KiB blocks make reuse predictable: a page carves one of them at a time, so a freed 8 KiB block
// is the next one handed out once the quarantine lets it go.

@testable import HeapCore
import Foundation
import Testing

private func checking(quarantine: Int) -> AllocatorConfiguration {
    AllocatorConfiguration(releasePolicy: .init(retainedEmptyArenas: 0), checking: AllocatorChecking(quarantineBlocks: quarantine))
}

@Suite struct CheckedAllocatorTests {
    // MARK: Writes after free are caught

    @Test func aWriteIntoAQuarantinedBlockIsCaughtWhenItLeaves() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator(configuration: checking(quarantine: 4))
            allocator.attachCurrentThread()
            let others = (0..<4).map { _ in allocator.allocate(byteCount: 64)! }
            let block = allocator.allocate(byteCount: 64)!
            allocator.deallocate(block)
            block.storeBytes(of: 7, toByteOffset: 40, as: UInt8.self)
            for other in others { allocator.deallocate(other) }   // the 4th pushes `block` out
        }
        expectMessage(result, "use after free: the 64-byte block at")
        expectMessage(result, "(size class 3) was written after it was freed: byte 40 is 0x7")
        expectMessage(result, "when it left quarantine")
    }

    @Test func aWriteOverTheHeaderOfAQuarantinedBlockIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator(configuration: checking(quarantine: 1))
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 32)!
            let other = allocator.allocate(byteCount: 32)!
            allocator.deallocate(block)
            block.storeBytes(of: 0, toByteOffset: 4, as: UInt32.self)   // a stale count decrement, say
            allocator.deallocate(other)
        }
        expectMessage(result, "byte 4 is 0x0")
    }

    @Test func aWriteIntoAFreeListBlockIsCaughtOnReuse() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator(configuration: checking(quarantine: 0))
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 8192)!
            allocator.deallocate(block)
            block.storeBytes(of: 0x55, toByteOffset: 8000, as: UInt8.self)
            _ = allocator.allocate(byteCount: 8192)
        }
        expectMessage(result, "the 8192-byte block at")
        expectMessage(result, "(size class 47) was written after it was freed: byte 8000 is 0x55")
        expectMessage(result, "when it was reused")
    }

    @Test func anOverwrittenFreeListLinkIsCaughtOnReuse() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator(configuration: checking(quarantine: 0))
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 8192)!
            allocator.deallocate(block)
            block.storeBytes(of: 0x1234_5670, as: UInt.self)
            _ = allocator.allocate(byteCount: 8192)
        }
        expectMessage(result, "byte 0, its free-list link, is 0x0000000012345670")
    }

    @Test func aWriteAfterAnotherThreadsFreeIsCaughtOnReuse() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator(configuration: checking(quarantine: 0))
            allocator.attachCurrentThread()
            let block = BlockAddress(allocator.allocate(byteCount: 8192)!)
            // An unattached thread: the block goes straight onto the page's thread-free list.
            runOnThreads(1) { _ in allocator.deallocate(block.pointer) }
            block.pointer.storeBytes(of: 1, toByteOffset: 16, as: UInt8.self)
            _ = allocator.allocate(byteCount: 8192)   // drains the thread-free list and pops it
        }
        expectMessage(result, "byte 16 is 0x1")
        expectMessage(result, "when it was reused")
    }

    @Test func aWriteIntoAnotherThreadsQuarantineIsCaughtAtItsDetach() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator(configuration: checking(quarantine: 16))
            allocator.attachCurrentThread()
            let block = BlockAddress(allocator.allocate(byteCount: 256)!)
            runOnThreads(1) { _ in
                allocator.attachCurrentThread()
                allocator.deallocate(block.pointer)
                block.pointer.storeBytes(of: 0, toByteOffset: 200, as: UInt8.self)
                allocator.detachCurrentThread()   // empties its quarantine, checking each block
            }
        }
        expectMessage(result, "the 256-byte block at")
        expectMessage(result, "byte 200 is 0x0")
        expectMessage(result, "when it left quarantine")
    }

    @Test func aDoubleFreeOfAQuarantinedBlockIsStillCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator(configuration: checking(quarantine: 8))
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 64)!
            allocator.deallocate(block)
            allocator.deallocate(block)
        }
        expectMessage(result, "double free")
    }

    @Test func theEnvironmentVariableTurnsCheckingOn() async {
        await #expect(processExitsWith: .success) {
            setenv("HEAPD_CHECKED_ALLOCATOR", "1", 1)
            let allocator = Allocator(configuration: AllocatorConfiguration())
            exit(allocator.checksBlocks && allocator.configuration.checking == AllocatorChecking() ? 0 : 1)
        }
    }

    // MARK: Quarantine, statistics, walks, verifier

    @Test func aFreedBlockIsReusedOnlyAfterNLaterFrees() {
        let allocator = Allocator(configuration: checking(quarantine: 3))
        onAttachedThread(allocator) {
            let a = allocator.allocate(byteCount: 8192)!
            let others = (0..<3).map { _ in allocator.allocate(byteCount: 8192)! }
            allocator.deallocate(a)
            #expect(allocator.statistics().liveBlocks == 3, "a quarantined block is not live")
            #expect(allocator.verify() == [])
            var fresh: [UnsafeMutableRawPointer] = []
            for (i, other) in others.enumerated() {
                let next = allocator.allocate(byteCount: 8192)!
                #expect(next != a, "reused after \(i) later frees")
                fresh.append(next)
                allocator.deallocate(other)
                #expect(allocator.verify() == [])
            }
            // The third later free pushed `a` out of the quarantine: it is free again.
            #expect(allocator.statistics().liveBlocks == 3)
            #expect(allocator.allocate(byteCount: 8192) == a)
            #expect(allocator.verify() == [])
            allocator.deallocate(a)
            for block in fresh { allocator.deallocate(block) }
        }
        allocator.collect()
        #expect(allocator.verify() == [])
        #expect(allocator.statistics().liveBlocks == 0)
        #expect(allocator.statistics().arenas == 0)
    }

    @Test func statisticsWalksAndVerifierSeeQuarantinedBlocksAsFree() {
        let allocator = Allocator(configuration: checking(quarantine: 16))
        allocator.attachCurrentThread()
        let blocks = (0..<100).map { i in BlockAddress(allocator.allocate(byteCount: 16 + i % 7 * 48)!) }
        let freedElsewhere = Array(blocks[0..<40])
        let freedHere = Array(blocks[40..<70])
        let parked = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        // Another heap frees 40 blocks of our pages: 16 stay in its quarantine, 24 leave it for our
        // pages' thread-free lists.
        Thread {
            allocator.attachCurrentThread()
            for block in freedElsewhere { allocator.deallocate(block.pointer) }
            parked.signal()
            resume.wait()
            allocator.detachCurrentThread()
            finished.signal()
        }.start()
        parked.wait()
        for block in freedHere { allocator.deallocate(block.pointer) }   // 16 quarantined, 14 free
        #expect(allocator.verify() == [])
        #expect(allocator.statistics().liveBlocks == 30 + 24, "30 live, 24 on thread-free lists until drained")
        allocator.collect()
        #expect(allocator.statistics().liveBlocks == 30)
        var walked = Set<UInt>()
        allocator.forEachAllocatedBlock { block, _ in walked.insert(UInt(bitPattern: block)) }
        #expect(walked == Set(blocks[70...].map(\.bits)))
        #expect(allocator.verify() == [])

        resume.signal()
        finished.wait()
        allocator.collect()
        #expect(allocator.statistics().liveBlocks == 30)
        #expect(allocator.verify() == [])
        for block in blocks[70...] { allocator.deallocate(block.pointer) }
        allocator.detachCurrentThread()
        allocator.collect()
        #expect(allocator.verify() == [])
        #expect(allocator.statistics().liveBlocks == 0)
        #expect(allocator.statistics().arenas == 0)
    }

    @Test func theFastPathsStayOffInACheckingAllocator() {
        let allocator = Allocator(configuration: checking(quarantine: 2))
        onAttachedThread(allocator) {
            let heap = ThreadHeap.current!
            #expect(ThreadHeap.fastFreeID == 0)
            let block = allocator.allocate(byteCount: 48)!
            for i in 0..<33 { #expect(heap.storage.pointee.direct[i] == allocator.emptyPage) }
            allocator.deallocate(block)
            #expect(heap.storage.pointee.quarantine.count == 1)
            #expect(allocator.verify() == [])
        }
        let plain = Allocator(configuration: AllocatorConfiguration(checking: nil))
        onAttachedThread(plain) {
            #expect(ThreadHeap.fastFreeID == ThreadHeap.current!.id)
        }
    }
}
