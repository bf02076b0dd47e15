// AllocatorStatistics: a snapshot of the allocator, per node and per size class.
//
// Taken by walking every node pool's arenas under its lock. `used` counts are read relaxed, so a
// snapshot taken while threads run is approximate (each count is a real value, but not all from
// one instant); with the world quiescent it is exact.
//
// A block freed by another thread counts as live until its owner drains it (the owner's next slow
// path, `collect()`, or its detach). A block in a quarantine (checking build) does not.
//
//   liveBytes       Σ (used - quarantined) × block size over pages  +  Σ large block sizes
//   committedBytes  Σ pages in use × 64 KiB  +  Σ arenas × 64 KiB (metadata page)  +  Σ large mappings
//   mappedBytes     Σ arenas × 4 MiB  +  Σ large mappings   (address space; RSS only where touched)
//   fragmentation   1 - liveBytes / committedBytes

public struct AllocatorStatistics: Sendable {
    public struct SizeClassStatistics: Sendable, Equatable {
        public let sizeClass: Int
        public let blockSize: Int
        public var pages = 0
        public var liveBlocks = 0
        /// Blocks carved in these pages so far (live + free).
        public var carvedBlocks = 0
        public var liveBytes: Int { liveBlocks * blockSize }
        public var committedBytes: Int { pages * Arena.pageSize }
    }

    public struct NodeStatistics: Sendable {
        public let node: Int
        public var arenas = 0
        public var emptyArenas = 0
        public var arenasCreated = 0
        public var arenasReleased = 0
        public var pagesInUse = 0
        public var freePages = 0
        public var abandonedPages = 0
        public var largeBlocks = 0
        public var largeBytes = 0
        public var largeMappedBytes = 0
        public var sizeClasses: [SizeClassStatistics] = SizeClass.blockSizes.enumerated().map {
            SizeClassStatistics(sizeClass: $0.offset, blockSize: $0.element)
        }

        public var liveBlocks: Int { sizeClasses.reduce(0) { $0 + $1.liveBlocks } + largeBlocks }
        public var liveBytes: Int { sizeClasses.reduce(0) { $0 + $1.liveBytes } + largeBytes }
        public var committedBytes: Int { (pagesInUse + arenas) * Arena.pageSize + largeMappedBytes }
        public var mappedBytes: Int { arenas * Arena.size + largeMappedBytes }
    }

    public var nodes: [NodeStatistics]
    public var attachedThreads: Int
    /// The process's resident set size when the snapshot was taken.
    public var residentBytes: Int

    public var liveBlocks: Int { nodes.reduce(0) { $0 + $1.liveBlocks } }
    public var liveBytes: Int { nodes.reduce(0) { $0 + $1.liveBytes } }
    public var committedBytes: Int { nodes.reduce(0) { $0 + $1.committedBytes } }
    public var mappedBytes: Int { nodes.reduce(0) { $0 + $1.mappedBytes } }
    public var arenas: Int { nodes.reduce(0) { $0 + $1.arenas } }
    public var arenasReleased: Int { nodes.reduce(0) { $0 + $1.arenasReleased } }
    public var pagesInUse: Int { nodes.reduce(0) { $0 + $1.pagesInUse } }
    public var largeBlocks: Int { nodes.reduce(0) { $0 + $1.largeBlocks } }
    public var fragmentation: Double {
        committedBytes == 0 ? 0 : 1 - Double(liveBytes) / Double(committedBytes)
    }

    /// Per size class, summed over nodes.
    public var sizeClasses: [SizeClassStatistics] {
        var total = SizeClass.blockSizes.enumerated().map { SizeClassStatistics(sizeClass: $0.offset, blockSize: $0.element) }
        for node in nodes {
            for (i, s) in node.sizeClasses.enumerated() {
                total[i].pages += s.pages
                total[i].liveBlocks += s.liveBlocks
                total[i].carvedBlocks += s.carvedBlocks
            }
        }
        return total
    }
}

extension Allocator {
    /// A snapshot of every node's arenas, pages, size classes and large blocks.
    public func statistics() -> AllocatorStatistics {
        let nodes = pools.map { pool in
            pool.withLock { state -> AllocatorStatistics.NodeStatistics in
                var node = AllocatorStatistics.NodeStatistics(node: pool.node)
                node.arenas = state.arenaCount
                node.emptyArenas = state.emptyArenas
                node.arenasCreated = state.arenasCreated
                node.arenasReleased = state.arenasReleased
                node.abandonedPages = state.abandonedCount
                node.largeBlocks = state.largeCount
                node.largeBytes = state.largeBytes
                var large = state.largeBlocks
                while let header = large {
                    node.largeMappedBytes += header.pointee.mappingSize
                    large = header.pointee.next
                }
                var arena = state.allArenas
                while let current = arena {
                    arena = current.pointee.nextAll
                    for index in 1..<Arena.pageCount {
                        let page = Arena.page(index, of: current)
                        guard page.pointee.state == .owned || page.pointee.state == .abandoned else {
                            node.freePages += 1
                            continue
                        }
                        node.pagesInUse += 1
                        let sizeClass = Int(page.pointee.sizeClass)
                        node.sizeClasses[sizeClass].pages += 1
                        // Two relaxed reads: clamped, as a snapshot taken while threads run may
                        // see a quarantine grow before the block it counts.
                        node.sizeClasses[sizeClass].liveBlocks += max(0, page.pointee.usedCount - Int(page.pointee.quarantined.load(ordering: .relaxed)))
                        node.sizeClasses[sizeClass].carvedBlocks += Int(page.pointee.capacity.load(ordering: .relaxed))
                    }
                }
                return node
            }
        }
        return AllocatorStatistics(nodes: nodes, attachedThreads: attachedThreadCount, residentBytes: OSMemory.residentBytes())
    }

    /// The process's resident set size now (bytes).
    public static func residentBytes() -> Int {
        OSMemory.residentBytes()
    }
}
