// AllocatorVerifier: checks every invariant of the allocator, with the world quiescent.
//
// Quiescent means no thread allocates or frees while it runs, and every thread's earlier
// operations happen-before the call (threads joined, or parked behind a barrier). It reads lists
// that only their owners may read while they run.
//
// What it checks, as equations where counts are involved:
//   region map         every arena's region is `.arena`; every large block's first region is
//                      `.largeStart` and the rest `.largeContinuation`
//   arenas             page i free <=> freeMask bit i; emptyArenas == |arenas with all pages free|
//                      <= policy.emptyArenasAllowed(inUse: arenaCount − emptyArenas);
//                      arenaCount == |arenas|
//   heap queues        each page of queues[c] is owned by the heap, of class c, not isInFull, in
//                      noDelayed, with consistent prev links; direct[i] == queues[class(i)].first
//                      (emptyPage in the checking build)
//   full lists         each page isInFull and in useDelayed, or in noDelayed when blocks of it
//                      wait on the heap's delayed list (notified; nothing is mid-notification)
//   abandoned lists    each page abandoned, of the list's class, in `never`, owner abandonedID;
//                      abandonedCount == Σ list lengths
//   ownership          owned pages in arenas == pages reachable from attached heaps
//   every page         used + |free| + |localFree| == capacity <= reserved
//                      |threadFree| + |delayed blocks of the page| + quarantined <= used
//                      each listed block lies in the page, at a block boundary, below capacity,
//                      carries its free tag, and is listed once
//   checking build     quarantined == |the page's blocks in quarantines|; a quarantined block is
//                      on no list, tagged, and poison elsewhere; a listed block is poison from
//                      byte 16 on
//   large blocks       largeCount and largeBytes match the list

extension Allocator {
    /// Every broken invariant, as a sentence naming where; empty when the allocator is sound.
    public func verify() -> [String] {
        var problems: [String] = []
        let heaps = registry.withLock { Array($0.values) }.map(\.heap)

        // Where each owned page should be, according to the heaps.
        var placedPages: [UInt: String] = [:]
        var delayedPerPage: [UInt: [UnsafeMutableRawPointer]] = [:]
        var quarantinedPerPage: [UInt: [UnsafeMutableRawPointer]] = [:]
        for heap in heaps {
            heap.storage.pointee.quarantine.forEach { block in
                guard regions.isArena(UInt(bitPattern: block)) else {
                    return problems.append("heap \(heap.id): quarantined block \(block) is not in an arena")
                }
                quarantinedPerPage[UInt(bitPattern: Arena.page(containing: UInt(bitPattern: block))), default: []].append(block)
            }
            var word = heap.storage.pointee.delayedFree.load(ordering: .acquiring)
            var count = 0
            while let block = UnsafeMutableRawPointer(bitPattern: word) {
                let page = Arena.page(containing: UInt(bitPattern: block))
                delayedPerPage[UInt(bitPattern: page), default: []].append(block)
                // The page was on the full list when the block was pushed; the owner may have taken
                // it back since (a local free), but it is still the owner's.
                if page.pointee.ownerID.load(ordering: .relaxed) != heap.id {
                    problems.append("heap \(heap.id): delayed block \(block) belongs to a page the heap does not own")
                }
                word = UInt(bitPattern: block.load(as: UnsafeMutableRawPointer?.self))
                count += 1
                if count > 1 << 30 { problems.append("heap \(heap.id): delayed list is cyclic"); break }
            }
            verifyHeapLists(heap, delayed: delayedPerPage, placed: &placedPages, problems: &problems)
        }

        var ownedInArenas = 0
        for pool in pools {
            pool.withLock { state in
                var arenas = 0
                var empty = 0
                var cursor = state.allArenas
                while let arena = cursor {
                    cursor = arena.pointee.nextAll
                    arenas += 1
                    let base = UInt(bitPattern: arena)
                    if regions.kind(of: base) != .arena { problems.append("arena \(arena): region map does not say arena") }
                    if arena.pointee.node != pool.node { problems.append("arena \(arena): node \(arena.pointee.node) on pool \(pool.node)") }
                    if arena.pointee.allocatorID != id { problems.append("arena \(arena): belongs to allocator \(arena.pointee.allocatorID)") }
                    let mask = arena.pointee.freeMask
                    if mask & ~Arena.dataPagesMask != 0 { problems.append("arena \(arena): free mask marks the metadata page") }
                    if mask == Arena.dataPagesMask { empty += 1 }
                    if (mask != 0) != arena.pointee.isAvailableListed { problems.append("arena \(arena): available-list membership disagrees with its free mask") }
                    for index in 1..<Arena.pageCount {
                        let page = Arena.page(index, of: arena)
                        let isFree = mask & (UInt64(1) << UInt64(index)) != 0
                        let where_ = "arena \(arena) page \(index)"
                        switch page.pointee.state {
                        case .free:
                            if !isFree { problems.append("\(where_): free page not in its arena's free mask") }
                        case .owned:
                            if isFree { problems.append("\(where_): owned page marked free") }
                            ownedInArenas += 1
                            if placedPages[UInt(bitPattern: page)] == nil {
                                problems.append("\(where_): owned by heap \(page.pointee.ownerID.load(ordering: .relaxed)) but on none of its lists")
                            }
                            verifyBlocks(page, delayed: delayedPerPage[UInt(bitPattern: page)] ?? [],
                                         quarantined: quarantinedPerPage.removeValue(forKey: UInt(bitPattern: page)) ?? [], where: where_, problems: &problems)
                        case .abandoned:
                            if isFree { problems.append("\(where_): abandoned page marked free") }
                            verifyBlocks(page, delayed: [], quarantined: quarantinedPerPage.removeValue(forKey: UInt(bitPattern: page)) ?? [],
                                         where: where_, problems: &problems)
                        case .metadata:
                            problems.append("\(where_): data page in the metadata state")
                        }
                    }
                }
                if arenas != state.arenaCount { problems.append("pool \(pool.node): arenaCount \(state.arenaCount), found \(arenas)") }
                if empty != state.emptyArenas { problems.append("pool \(pool.node): emptyArenas \(state.emptyArenas), found \(empty)") }
                let allowed = pool.policy.emptyArenasAllowed(inUse: arenas - empty)
                if empty > allowed { problems.append("pool \(pool.node): \(empty) empty arenas kept, policy allows \(allowed)") }

                var abandoned = 0
                for sizeClass in 0..<SizeClass.count {
                    var previous: UnsafeMutablePointer<Page>? = nil
                    var page = state.abandoned[sizeClass]
                    while let current = page {
                        abandoned += 1
                        if current.pointee.state != .abandoned { problems.append("pool \(pool.node): page \(current) on the abandoned list in state \(current.pointee.state)") }
                        if Int(current.pointee.sizeClass) != sizeClass { problems.append("pool \(pool.node): page of class \(current.pointee.sizeClass) on the class-\(sizeClass) abandoned list") }
                        if current.pointee.delayedState != .never { problems.append("pool \(pool.node): abandoned page \(current) in delayed state \(current.pointee.delayedState)") }
                        if current.pointee.ownerID.load(ordering: .relaxed) != ThreadHeap.abandonedID { problems.append("pool \(pool.node): abandoned page \(current) still names an owner") }
                        if Arena.arena(of: current).pointee.node != pool.node { problems.append("pool \(pool.node): abandoned page \(current) of another node's arena") }
                        if current.pointee.prev != previous { problems.append("pool \(pool.node): broken prev link on the abandoned list") }
                        previous = current
                        page = current.pointee.next
                    }
                }
                if abandoned != state.abandonedCount { problems.append("pool \(pool.node): abandonedCount \(state.abandonedCount), found \(abandoned)") }

                var largeCount = 0
                var largeBytes = 0
                var large = state.largeBlocks
                while let header = large {
                    largeCount += 1
                    largeBytes += header.pointee.blockSize
                    let base = UInt(bitPattern: header)
                    if regions.kind(of: base) != .largeStart { problems.append("large block \(header): region map does not say largeStart") }
                    var region = base + UInt(Arena.size)
                    while region < base + UInt(header.pointee.mappingSize) {
                        if regions.kind(of: region) != .largeContinuation { problems.append("large block \(header): a later region is not largeContinuation") }
                        region += UInt(Arena.size)
                    }
                    if header.pointee.node != pool.node { problems.append("large block \(header): node \(header.pointee.node) on pool \(pool.node)") }
                    large = header.pointee.next
                }
                if largeCount != state.largeCount || largeBytes != state.largeBytes {
                    problems.append("pool \(pool.node): large counts \(state.largeCount)/\(state.largeBytes) B, found \(largeCount)/\(largeBytes) B")
                }
            }
        }
        for (page, blocks) in quarantinedPerPage {
            problems.append("\(blocks.count) quarantined block(s) in page \(UnsafeRawPointer(bitPattern: page)!), which is not in use by this allocator")
        }
        if ownedInArenas != placedPages.count {
            problems.append("\(placedPages.count) pages on heap lists, \(ownedInArenas) owned pages in arenas")
        }
        return problems
    }

    private func verifyHeapLists(_ heap: ThreadHeap, delayed: [UInt: [UnsafeMutableRawPointer]], placed: inout [UInt: String], problems: inout [String]) {
        func place(_ page: UnsafeMutablePointer<Page>, _ list: String) {
            if let other = placed.updateValue(list, forKey: UInt(bitPattern: page)) {
                problems.append("page \(page) is on two lists: \(other) and \(list)")
            }
            if page.pointee.ownerID.load(ordering: .relaxed) != heap.id || page.pointee.state != .owned {
                problems.append("page \(page) on \(list) is not owned by heap \(heap.id)")
            }
        }
        for sizeClass in 0..<SizeClass.count {
            let list = "heap \(heap.id) queue \(sizeClass)"
            let queue = heap.storage.pointee.queues[sizeClass]
            var previous: UnsafeMutablePointer<Page>? = nil
            var cursor = queue.first
            while let page = cursor {
                place(page, list)
                if Int(page.pointee.sizeClass) != sizeClass { problems.append("\(list): page of class \(page.pointee.sizeClass)") }
                if page.pointee.isInFull { problems.append("\(list): page \(page) marked full") }
                if page.pointee.delayedState != .noDelayed { problems.append("\(list): page \(page) in delayed state \(page.pointee.delayedState)") }
                if page.pointee.prev != previous { problems.append("\(list): broken prev link at \(page)") }
                previous = page
                cursor = page.pointee.next
            }
            if queue.last != previous { problems.append("\(list): last pointer is wrong") }
            if sizeClass < 32 {
                let expected = checksBlocks ? emptyPage : queue.first ?? emptyPage
                if heap.storage.pointee.direct[sizeClass + 1] != expected || (sizeClass == 0 && heap.storage.pointee.direct[0] != expected) {
                    problems.append("heap \(heap.id): direct entry for class \(sizeClass) is not its queue's first page")
                }
            }
        }
        let list = "heap \(heap.id) full list"
        var previous: UnsafeMutablePointer<Page>? = nil
        var cursor = heap.storage.pointee.full.first
        while let page = cursor {
            place(page, list)
            if !page.pointee.isInFull { problems.append("\(list): page \(page) not marked full") }
            // useDelayed, or noDelayed once a remote free has notified us through the delayed list.
            let notified = delayed[UInt(bitPattern: page)] != nil
            if page.pointee.delayedState != (notified ? .noDelayed : .useDelayed) {
                problems.append("\(list): page \(page) in delayed state \(page.pointee.delayedState)\(notified ? " after a notification" : "")")
            }
            if page.pointee.prev != previous { problems.append("\(list): broken prev link at \(page)") }
            previous = page
            cursor = page.pointee.next
        }
        if heap.storage.pointee.full.last != previous { problems.append("\(list): last pointer is wrong") }
    }

    private func verifyBlocks(_ page: UnsafeMutablePointer<Page>, delayed: [UnsafeMutableRawPointer], quarantined: [UnsafeMutableRawPointer],
                              where location: String, problems: inout [String]) {
        let size = Int(page.pointee.blockSize)
        let capacity = Int(page.pointee.capacity.load(ordering: .relaxed))
        let reserved = Int(page.pointee.reserved)
        let used = page.pointee.usedCount
        guard size > 0, capacity <= reserved else {
            problems.append("\(location): block size \(size), capacity \(capacity) > reserved \(reserved)")
            return
        }
        var seen = [Bool](repeating: false, count: capacity)
        func walk(_ head: UnsafeMutableRawPointer?, _ name: String) -> Int {
            var count = 0
            var cursor = head
            while let block = cursor {
                let offset = Int(bitPattern: block) - Int(bitPattern: page.pointee.start)
                guard offset >= 0, offset < Arena.pageSize, offset % size == 0, offset / size < capacity else {
                    problems.append("\(location): \(name) holds \(block), not a carved block of the page")
                    return count
                }
                if seen[offset / size] {
                    problems.append("\(location): block \(block) listed twice (\(name))")
                    return count
                }
                seen[offset / size] = true
                if !page.pointee.isTaggedFree(block) { problems.append("\(location): free block \(block) on \(name) lacks its free tag") }
                if checksBlocks, let changed = BlockPoison.firstChange(in: block, from: 16, size: size) {
                    problems.append("\(location): free block \(block) on \(name) was written after its free (byte \(changed))")
                }
                count += 1
                cursor = block.load(as: UnsafeMutableRawPointer?.self)
            }
            return count
        }
        let free = walk(page.pointee.free, "free")
        let local = walk(page.pointee.localFree, "localFree")
        let thread = walk(page.pointee.threadFreeHead, "threadFree")
        var delayedCount = 0
        for block in delayed {
            let offset = Int(bitPattern: block) - Int(bitPattern: page.pointee.start)
            if offset % size != 0 || offset / size >= capacity || seen[offset / size] {
                problems.append("\(location): delayed block \(block) is not a distinct carved block")
            } else {
                seen[offset / size] = true
                delayedCount += 1
                if checksBlocks, let changed = BlockPoison.firstChange(in: block, from: 16, size: size) {
                    problems.append("\(location): delayed block \(block) was written after its free (byte \(changed))")
                }
            }
        }
        for block in quarantined {
            let offset = Int(bitPattern: block) - Int(bitPattern: page.pointee.start)
            guard offset >= 0, offset < Arena.pageSize, offset % size == 0, offset / size < capacity, !seen[offset / size] else {
                problems.append("\(location): quarantined block \(block) is not a distinct carved block off every list")
                continue
            }
            seen[offset / size] = true
            if !page.pointee.isTaggedFree(block) { problems.append("\(location): quarantined block \(block) lacks its free tag") }
            if let changed = BlockPoison.firstChange(in: block, from: 0, size: 8) ?? BlockPoison.firstChange(in: block, from: 16, size: size) {
                problems.append("\(location): quarantined block \(block) was written after its free (byte \(changed))")
            }
        }
        let quarantinedCount = Int(page.pointee.quarantined.load(ordering: .relaxed))
        if quarantinedCount != quarantined.count {
            problems.append("\(location): quarantined \(quarantinedCount), but \(quarantined.count) of its blocks are in quarantines")
        }
        if used + free + local != capacity {
            problems.append("\(location): used \(used) + free \(free) + localFree \(local) != capacity \(capacity)")
        }
        if thread + delayedCount + quarantinedCount > used {
            problems.append("\(location): threadFree \(thread) + delayed \(delayedCount) + quarantined \(quarantinedCount) > used \(used)")
        }
    }
}
