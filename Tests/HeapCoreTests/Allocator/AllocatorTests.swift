@testable import HeapCore
import Foundation
import Synchronization
import Testing

/// Runs `body` on a fresh thread attached to `allocator`, detaching afterwards.
func onAttachedThread(_ allocator: Allocator, pinTo cpu: Int? = nil, _ body: @escaping @Sendable () -> Void) {
    runOnThreads(1) { _ in
        allocator.attachCurrentThread(pinningTo: cpu)
        body()
        allocator.detachCurrentThread()
    }
}

/// The owner thread allocates `count` 64-byte blocks (several pages: all but the last go to its
/// full list, so that frees by another thread take the delayed-free notification path); a second
/// thread, attached, frees every one of them with `free`; then the owner checks the heap and
/// takes every block back through its slow path, in the pages it has, and the arenas empty.
func allocateHereFreeThere(count: Int, free: @escaping @Sendable (Allocator, [BlockAddress]) -> Void) {
    let allocator = Allocator(configuration: .init(releasePolicy: .init(retainedEmptyArenas: 0)))
    let handoff = Locked<[BlockAddress]>([])
    let ready = Barrier(parties: 2)
    let freed = Barrier(parties: 2)
    runOnThreads(2) { i in
        allocator.attachCurrentThread()
        if i == 0 {
            let blocks = (0..<count).map { _ in BlockAddress(allocator.allocate(byteCount: 64)!) }
            handoff.withLock { $0 = blocks }
            ready.wait()
            freed.wait()
            #expect(allocator.verify() == [])
            freed.wait()                             // the other thread stays still until now
            let arenas = allocator.statistics().arenas
            let again = (0..<count).map { _ in allocator.allocate(byteCount: 64)! }
            #expect(allocator.statistics().arenas == arenas)
            #expect(Set(again.map { UInt(bitPattern: $0) }).count == count)
            for block in again { allocator.deallocate(block) }
            allocator.collect()
            #expect(allocator.statistics().liveBlocks == 0)
        } else {
            ready.wait()
            free(allocator, handoff.withLock { $0 })
            freed.wait()
            freed.wait()
        }
        allocator.detachCurrentThread()
    }
    #expect(allocator.verify() == [])
    #expect(allocator.statistics().arenas == 0)
}

@Suite struct AllocatorTests {
    @Test func blocksAreAlignedDistinctAndWritable() {
        let allocator = Allocator(configuration: .init(releasePolicy: .init(retainedEmptyArenas: 0), checking: nil))
        onAttachedThread(allocator) {
            var blocks: [(UnsafeMutableRawPointer, Int)] = []
            for size in [0, 1, 8, 16, 17, 32, 100, 256, 511, 512, 513, 1000, 4096, 8192, 8193, 100_000] {
                for _ in 0..<50 {
                    let block = allocator.allocate(byteCount: size)!
                    #expect(UInt(bitPattern: block) % 16 == 0)
                    #expect(allocator.usableSize(of: block) >= size)
                    block.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: size), count: max(size, 1))
                    blocks.append((block, size))
                }
            }
            #expect(Set(blocks.map { UInt(bitPattern: $0.0) }).count == blocks.count)
            for (block, size) in blocks {
                let bytes = block.assumingMemoryBound(to: UInt8.self)
                #expect(bytes[0] == UInt8(truncatingIfNeeded: size))
                #expect(bytes[max(size, 1) - 1] == UInt8(truncatingIfNeeded: size))
            }
            #expect(allocator.verify() == [])
            for (block, _) in blocks { allocator.deallocate(block) }
            #expect(allocator.verify() == [])
        }
        allocator.collect()
        let stats = allocator.statistics()
        #expect(stats.liveBlocks == 0)
        #expect(stats.arenas == 0)
        #expect(stats.largeBlocks == 0)
        #expect(allocator.verify() == [])
    }

    @Test func aLimitOnMappedMemoryFailsAllocationsAndFreesMakeRoomAgain() {
        let allocator = Allocator(configuration: AllocatorConfiguration(topology: SimulatedTopology(virtualNodes: 1), limitBytes: 8 << 20))
        onAttachedThread(allocator) {
            var blocks: [BlockAddress] = []
            while let block = allocator.allocate(byteCount: 4096) { blocks.append(BlockAddress(block)) }
            // Two 4 MiB arenas, each with 63 data pages of 16 blocks of 4 KiB.
            #expect(blocks.count == 2 * 63 * 16)
            #expect(allocator.mappedBytes == 8 << 20)
            #expect(allocator.allocate(byteCount: 100_000) == nil)      // large blocks count too
            for block in blocks { allocator.deallocate(block.pointer) }
            #expect(allocator.allocate(byteCount: 4096) != nil)
            #expect(allocator.peakMappedBytes == 8 << 20)      // the high-water mark stays
        }
    }

    @Test func freedBlocksAreReusedByTheOwner() {
        // Immediate reuse is what is tested: no quarantine, whatever HEAPD_CHECKED_ALLOCATOR says.
        let allocator = Allocator(configuration: .init(checking: nil))
        onAttachedThread(allocator) {
            let first = allocator.allocate(byteCount: 48)!
            allocator.deallocate(first)
            // The local free list is consulted once `free` runs dry; drain it.
            var seen: Set<UInt> = []
            var blocks: [UnsafeMutableRawPointer] = []
            for _ in 0..<(Arena.pageSize / 48 + 1) {
                let block = allocator.allocate(byteCount: 48)!
                seen.insert(UInt(bitPattern: block))
                blocks.append(block)
            }
            #expect(seen.contains(UInt(bitPattern: first)))
            for block in blocks { allocator.deallocate(block) }
        }
    }

    @Test func statisticsCountLiveBlocksPerSizeClassAndNode() {
        let allocator = Allocator()
        onAttachedThread(allocator) {
            let small = (0..<100).map { _ in allocator.allocate(byteCount: 32)! }
            let medium = (0..<10).map { _ in allocator.allocate(byteCount: 1000)! }
            let large = allocator.allocate(byteCount: 1 << 20)!
            let stats = allocator.statistics()
            #expect(stats.liveBlocks == 111)
            #expect(stats.sizeClasses[SizeClass.index(forSize: 32)].liveBlocks == 100)
            #expect(stats.sizeClasses[SizeClass.index(forSize: 1000)].liveBlocks == 10)
            #expect(stats.liveBytes == 100 * 32 + 10 * 1024 + allocator.usableSize(of: large))
            #expect(stats.largeBlocks == 1)
            #expect(stats.pagesInUse == 2)
            #expect(stats.arenas == 1)
            #expect(stats.committedBytes >= stats.liveBytes)
            #expect(stats.fragmentation > 0 && stats.fragmentation < 1)
            #expect(stats.residentBytes > 0)
            #expect(stats.attachedThreads == 1)
            for block in small + medium + [large] { allocator.deallocate(block) }
            #expect(allocator.statistics().liveBlocks == 0)
        }
    }

    @Test func remoteFreesReachTheOwnerAndItsPagesEmpty() {
        allocateHereFreeThere(count: 5000) { allocator, blocks in
            for block in blocks { allocator.deallocate(block.pointer) }
        }
    }

    @Test func unattachedThreadsMayFree() {
        let allocator = Allocator()
        let blocks = Locked<[BlockAddress]>([])
        onAttachedThread(allocator) {
            blocks.withLock { $0 = (0..<100).map { _ in BlockAddress(allocator.allocate(byteCount: 24)!) } }
        }
        runOnThreads(1) { _ in
            #expect(!allocator.isCurrentThreadAttached)
            for block in blocks.withLock({ $0 }) { allocator.deallocate(block.pointer) }
        }
        allocator.collect()
        #expect(allocator.statistics().liveBlocks == 0)
        #expect(allocator.verify() == [])
    }

    @Test func detachedHeapsPagesAreAdoptedByOtherThreads() {
        let allocator = Allocator()
        let kept = Locked<[BlockAddress]>([])
        onAttachedThread(allocator) {
            // Leave a half-used page behind.
            let blocks = (0..<200).map { _ in allocator.allocate(byteCount: 128)! }
            for (i, block) in blocks.enumerated() where i % 2 == 0 { allocator.deallocate(block) }
            kept.withLock { $0 = blocks.enumerated().filter { $0.offset % 2 == 1 }.map { BlockAddress($0.element) } }
        }
        var stats = allocator.statistics()
        #expect(stats.nodes.reduce(0) { $0 + $1.abandonedPages } == 1)
        #expect(stats.liveBlocks == 100)
        #expect(allocator.verify() == [])
        onAttachedThread(allocator) {
            // The new heap adopts the abandoned page instead of taking a fresh one.
            let block = allocator.allocate(byteCount: 128)!
            let page = Arena.page(containing: UInt(bitPattern: block))
            #expect(page == Arena.page(containing: kept.withLock { $0[0] }.bits))
            #expect(allocator.statistics().nodes.reduce(0) { $0 + $1.abandonedPages } == 0)
            allocator.deallocate(block)
            for block in kept.withLock({ $0 }) { allocator.deallocate(block.pointer) }
            #expect(allocator.verify() == [])
        }
        stats = allocator.statistics()
        #expect(stats.liveBlocks == 0)
        #expect(stats.pagesInUse == 0)
    }

    @Test func abandonedPagesEmptiedByRemoteFreesAreReleased() {
        let allocator = Allocator(configuration: .init(releasePolicy: .init(retainedEmptyArenas: 0)))
        let blocks = Locked<[BlockAddress]>([])
        onAttachedThread(allocator) {
            blocks.withLock { $0 = (0..<3000).map { _ in BlockAddress(allocator.allocate(byteCount: 96)!) } }
        }
        #expect(allocator.statistics().nodes.reduce(0) { $0 + $1.abandonedPages } > 0)
        for block in blocks.withLock({ $0 }) { allocator.deallocate(block.pointer) }
        allocator.collect()
        let stats = allocator.statistics()
        #expect(stats.liveBlocks == 0)
        #expect(stats.arenas == 0)
        #expect(stats.arenasReleased == 1)
        #expect(allocator.verify() == [])
    }

    @Test func releasePolicyKeepsTheConfiguredNumberOfEmptyArenas() {
        for retained in [0, 1, 2] {
            let allocator = Allocator(configuration: .init(releasePolicy: .init(retainedEmptyArenas: retained), checking: nil))
            onAttachedThread(allocator) {
                // 4 arenas' worth of 8 KiB blocks, then free them all.
                let blocks = (0..<(4 * Arena.dataPageCount * 8)).map { _ in allocator.allocate(byteCount: 8192)! }
                #expect(allocator.statistics().arenas == 4)
                for block in blocks { allocator.deallocate(block) }
                allocator.collect()
                let stats = allocator.statistics()
                #expect(stats.arenas == retained)
                #expect(stats.arenasReleased == 4 - retained)
                #expect(allocator.verify() == [])
            }
        }
    }

    @Test func releasePolicyKeepsMoreEmptyArenasWhileOthersAreInUse() {
        let allocator = Allocator(configuration: .init(releasePolicy: .init(retainedEmptyArenas: 1, retainedPerArenasInUse: 2), checking: nil))
        onAttachedThread(allocator) {
            // 6 arenas' worth of 8 KiB blocks; free the last two arenas' blocks: with 4 arenas in
            // use the policy allows 1 + 4 / 2 = 3 empty ones, so both stay mapped.
            let perArena = Arena.dataPageCount * 8
            let blocks = (0..<(6 * perArena)).map { _ in allocator.allocate(byteCount: 8192)! }
            #expect(allocator.statistics().arenas == 6)
            for block in blocks[(4 * perArena)...] { allocator.deallocate(block) }
            allocator.collect()
            var stats = allocator.statistics()
            #expect(stats.arenas == 6)
            #expect(stats.arenasReleased == 0)
            #expect(allocator.verify() == [])
            // Building again reuses them: no new mapping.
            let again = (0..<(2 * perArena)).map { _ in allocator.allocate(byteCount: 8192)! }
            #expect(allocator.statistics().nodes.reduce(0) { $0 + $1.arenasCreated } == 6)
            // Everything freed: nothing is in use, so one empty arena stays.
            for block in blocks[..<(4 * perArena)] + again { allocator.deallocate(block) }
            allocator.collect()
            stats = allocator.statistics()
            #expect(stats.arenas == 1)
            #expect(stats.arenasReleased == 5)
            #expect(allocator.verify() == [])
        }
    }

    @Test func decommittedArenasKeepTheirMappingButNotTheirMemory() {
        let allocator = Allocator(configuration: .init(releasePolicy: .init(retainedEmptyArenas: 1, decommitRetained: true), checking: nil))
        onAttachedThread(allocator) {
            let blocks = (0..<(Arena.dataPageCount * 8)).map { _ in allocator.allocate(byteCount: 8192)! }
            for block in blocks { block.initializeMemory(as: UInt8.self, repeating: 1, count: 8192) }
            let touched = Allocator.residentBytes()
            for block in blocks { allocator.deallocate(block) }
            allocator.collect()
            #expect(allocator.statistics().arenas == 1)
            // The arena's ~4 MiB of pages went back to the OS (allow for unrelated growth).
            #expect(Allocator.residentBytes() < touched - 2 * (1 << 20))
            // And it is reused: allocating again maps no new arena.
            let again = allocator.allocate(byteCount: 8192)!
            #expect(allocator.statistics().arenas == 1)
            allocator.deallocate(again)
        }
    }

    @Test func largeBlocksHaveTheirOwnMappingAndAreReturnedAtOnce() {
        let allocator = Allocator()
        onAttachedThread(allocator) {
            let sizes = [8193, 65536, 5 << 20, 9 << 20]
            let blocks = sizes.map { allocator.allocate(byteCount: $0)! }
            for (block, size) in zip(blocks, sizes) {
                block.initializeMemory(as: UInt8.self, repeating: 7, count: size)
                #expect(RegionMap.shared.kind(of: UInt(bitPattern: block)) == .largeStart)
                #expect(RegionMap.shared.kind(of: UInt(bitPattern: block) + UInt(size) - 1) == (size > Arena.size - 64 ? .largeContinuation : .largeStart))
            }
            #expect(allocator.statistics().largeBlocks == 4)
            #expect(allocator.verify() == [])
            for block in blocks { allocator.deallocate(block) }
            #expect(allocator.statistics().largeBlocks == 0)
            // (The freed regions' map entries are cleared too, but other tests running in parallel
            // may map new blocks at the same addresses at once, so that is not asserted here.)
        }
    }

    @Test func arenaMemoryIsPlacedOnNodeZero() {
        let allocator = Allocator()
        onAttachedThread(allocator) {
            let block = allocator.allocate(byteCount: 256)!
            block.initializeMemory(as: UInt8.self, repeating: 1, count: 256)
            #expect(allocator.node(of: block) == 0)
            let nodes = Allocator.physicalNodes(of: block, byteCount: 256)
            #expect(nodes == [0])
            let large = allocator.allocate(byteCount: 1 << 16)!
            large.initializeMemory(as: UInt8.self, repeating: 1, count: 1 << 16)
            #expect(Allocator.physicalNodes(of: large, byteCount: 1 << 16).allSatisfy { $0 == 0 })
            allocator.deallocate(block)
            allocator.deallocate(large)
        }
    }

    @Test func simulatedNodesGiveEachCPUItsOwnArenaPool() {
        guard CPUPinning.allowedCPUCount() >= 2 else { return }
        let allocator = Allocator(configuration: .init(topology: SimulatedTopology(virtualNodes: 2)))
        let blocks = Locked<[Int: BlockAddress]>([:])
        runOnThreads(2) { cpu in
            allocator.attachCurrentThread(pinningTo: cpu)
            let block = allocator.allocate(byteCount: 64)!
            blocks.withLock { $0[cpu] = BlockAddress(block) }
            #expect(allocator.node(of: block) == cpu)
            // Both virtual nodes are backed by the one real node.
            block.storeBytes(of: 1, as: UInt8.self)
            #expect(Allocator.physicalNodes(of: block, byteCount: 64) == [0])
            allocator.detachCurrentThread()
        }
        let stats = allocator.statistics()
        #expect(stats.nodes.count == 2)
        #expect(stats.nodes.map(\.arenas) == [1, 1])
        #expect(stats.nodes.map(\.liveBlocks) == [1, 1])
        #expect(allocator.verify() == [])
        // A block goes back to the pool of its arena's node, whichever thread frees it.
        for block in blocks.withLock({ Array($0.values) }) { allocator.deallocate(block.pointer) }
        allocator.collect()
        #expect(allocator.statistics().liveBlocks == 0)
        #expect(allocator.verify() == [])
    }

    @Test func attachAndDetachAreReflectedInTheRegistry() {
        let allocator = Allocator()
        #expect(!allocator.isCurrentThreadAttached)
        onAttachedThread(allocator) {
            #expect(allocator.isCurrentThreadAttached)
            #expect(allocator.attachedThreadCount == 1)
        }
        #expect(allocator.attachedThreadCount == 0)
    }
}

@Suite struct AllocatorThreadExitTests {
    @Test func aThreadThatExitsAttachedIsDetachedAndItsPagesAbandoned() {
        let allocator = Allocator()
        let kept = Locked<BlockAddress?>(nil)
        runOnThreads(1) { _ in
            allocator.attachCurrentThread()
            kept.withLock { $0 = BlockAddress(allocator.allocate(byteCount: 64)!) }
            // No detach: the thread ends attached.
        }
        // The exit hook runs as the thread ends; wait for it (bounded by a count, not a clock).
        var spins = 0
        while allocator.attachedThreadCount != 0 && spins < 1_000_000 { spins += 1; sched_yield() }
        #expect(allocator.attachedThreadCount == 0)
        #expect(allocator.statistics().nodes.reduce(0) { $0 + $1.abandonedPages } == 1)
        allocator.deallocate(kept.withLock { $0! }.pointer)
        allocator.collect()
        #expect(allocator.statistics().liveBlocks == 0)
        #expect(allocator.verify() == [])
    }
}
