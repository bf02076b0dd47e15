// BlockIndex: the allocated blocks of one world-stopped walk numbered 0 ..< count, so that the
// diagnostics' walks (census, reference chains) keep per-object tables in flat arrays instead of
// dictionaries keyed by address (a million-entry dictionary was most of a report's time).
//
//   page p of arena a (in the walk's plan)  blocks first(a, p) ..< first(a, p) + p.reserved
//   block at address x in that page         first(a, p) + (x − p.start) × p.reciprocal >> 32
//   large block                             an index of its own after the pages'
//
// Valid while the world stays stopped (no page changes state, no block is made or freed); the
// caller has stopped it. Each object's recorded site (AllocationSites) is scattered into `sites`
// from the site table itself, one pass over the records, not one lookup per block.

struct BlockIndex {
    let plan: HeapWalkPlan
    /// The arenas' base addresses, ascending (an arena's ordinal is its position): a binary
    /// search, not a hash, finds an address's arena.
    private var arenas: [UInt] = []
    /// Per arena ordinal × pageCount + page index: the page's first index, −1 when not in the plan.
    private var pageFirst: [Int] = []
    private var large: [UInt: Int] = [:]
    private(set) var count = 0
    /// Per index, the site recorded for the block's object (0: none).
    private(set) var sites: [UInt32] = []

    init(allocator: Allocator, sites table: AllocationSites) {
        plan = allocator.walkPlan(inPagesMarked: nil)
        arenas = Set(plan.pages.map { UInt(bitPattern: $0) & Arena.addressMask }).sorted()
        pageFirst = Array(repeating: -1, count: arenas.count * Arena.pageCount)
        for page in plan.pages {
            let ordinal = arenaOrdinal(of: UInt(bitPattern: page))!
            pageFirst[ordinal * Arena.pageCount + Arena.pageIndex(of: page)] = count
            count += Int(page.pointee.reserved)
        }
        for block in plan.large {
            large[UInt(bitPattern: block)] = count
            count += 1
        }
        sites = Array(repeating: 0, count: table.recordCount > 0 ? count : 0)
        if !sites.isEmpty {
            table.forEachRecord { address, site in
                if let index = index(of: address) { sites[index] = site }
            }
        }
    }

    /// The index of the block at `address` (an object's address), nil when the walk has no such
    /// block.
    @inline(__always)
    private func arenaOrdinal(of address: UInt) -> Int? {
        let base = address & Arena.addressMask
        var low = 0, high = arenas.count
        while low < high {
            let middle = (low + high) / 2
            if arenas[middle] < base { low = middle + 1 } else { high = middle }
        }
        return low < arenas.count && arenas[low] == base ? low : nil
    }

    @inline(__always)
    func index(of address: UInt) -> Int? {
        if let ordinal = arenaOrdinal(of: address) {
            let pageIndex = Int((address >> UInt(Arena.pageShift)) & UInt(Arena.pageCount - 1))
            let first = pageFirst[ordinal * Arena.pageCount + pageIndex]
            guard first >= 0 else { return nil }
            let page = Arena.page(containing: address)
            let offset = UInt64(address &- UInt(bitPattern: page.pointee.start))
            return first + Int((offset &* UInt64(page.pointee.reciprocal)) >> 32)
        }
        return large[address]
    }

    /// The site of the object at `address` (0: none recorded).
    @inline(__always)
    func site(of address: UInt) -> UInt32 {
        guard !sites.isEmpty, let index = index(of: address) else { return 0 }
        return sites[index]
    }
}
