// Allocator+Fragmentation: how well the mapped memory is used — per size class, blocks in use
// and the holes in their pages; pages by state; arena occupancy; bytes in use against committed,
// mapped and resident; and what giving back the pages that hold no block would return.
//
// A page in use (owned or abandoned) is full (used == reserved), partial, or empty (used == 0,
// still held by a thread heap). Free pages sit in their arena's free mask. Per size class:
//
//   reserved blocks   = Σ pages × blocks a page holds
//   free blocks       = reserved blocks − blocks in use       (the holes, in partial and empty pages)
//   in-use bytes      = blocks in use × block size
//   committed bytes   = pages × 64 KiB
//
//   fragmentation index  = 1 − in-use bytes / (committed bytes of pages in use + large mappings)
//   releasable bytes     = resident bytes of empty and free pages (mincore: what is really
//                          touched), what returning them to the OS (madvise) would give back
//
// `used` is read relaxed under each pool's lock, as AllocatorStatistics does: exact with the world
// quiescent, approximate while threads run. Blocks freed by another thread and not yet drained by
// their owner count as in use.

#if canImport(Glibc)
import Glibc
#endif

/// The allocator's use of its memory (see the file's header).
public struct FragmentationReport: Sendable, Codable, Equatable {
    public struct SizeClassRow: Sendable, Codable, Equatable {
        public var blockSize: Int
        public var pages = 0
        public var fullPages = 0
        public var partialPages = 0
        public var emptyPages = 0
        public var blocksInUse = 0
        /// Free blocks in this class's pages (carved or not): the holes.
        public var freeBlocks = 0
        public var inUseBytes: Int { blocksInUse * blockSize }
        public var committedBytes: Int { pages * Arena.pageSize }
        /// The pages' bytes that hold no block in use.
        public var holeBytes: Int { committedBytes - inUseBytes }
    }

    /// Size classes with at least one page, smallest first.
    public var sizeClasses: [SizeClassRow] = []
    public var arenas = 0
    public var fullPages = 0
    public var partialPages = 0
    public var emptyPages = 0
    public var freePages = 0
    public var largeBlocks = 0
    public var largeBytes = 0
    public var largeMappedBytes = 0
    /// Bytes of blocks in use (size-class rounding included) and of large blocks.
    public var inUseBytes = 0
    /// Pages in use × 64 KiB + arena metadata pages + large mappings.
    public var committedBytes = 0
    public var mappedBytes = 0
    /// The process's resident set (all of it, heapd's own memory included).
    public var residentBytes = 0
    /// Resident bytes of the heap's arenas, and of its empty and free pages.
    public var arenaResidentBytes = 0
    public var releasableBytes = 0

    /// Pages in use over the data pages of every arena (0...1).
    public var arenaOccupancy: Double {
        arenas == 0 ? 0 : Double(fullPages + partialPages + emptyPages) / Double(arenas * Arena.dataPageCount)
    }

    /// 1 − bytes in use / committed bytes (0: no holes).
    public var fragmentationIndex: Double {
        committedBytes == 0 ? 0 : 1 - Double(inUseBytes) / Double(committedBytes)
    }

    public init() {}
}

extension Allocator {
    /// The allocator's use of its memory now (see FragmentationReport). Takes each pool's lock.
    public func fragmentationReport() -> FragmentationReport {
        var report = FragmentationReport()
        var rows = SizeClass.blockSizes.map { FragmentationReport.SizeClassRow(blockSize: $0) }
        let systemPage = Int(sysconf(Int32(_SC_PAGESIZE)))
        let residency = UnsafeMutablePointer<UInt8>.allocate(capacity: Arena.size / systemPage)
        defer { residency.deallocate() }
        let pagesPerArenaPage = Arena.pageSize / systemPage
        for pool in pools {
            pool.withLock { state in
                var large = state.largeBlocks
                while let header = large {
                    report.largeMappedBytes += header.pointee.mappingSize
                    large = header.pointee.next
                }
                report.largeBlocks += state.largeCount
                report.largeBytes += state.largeBytes
                var arena = state.allArenas
                while let current = arena {
                    arena = current.pointee.nextAll
                    report.arenas += 1
                    let known = mincore(UnsafeMutableRawPointer(current), Arena.size, residency) == 0
                    for index in 1..<Arena.pageCount {
                        var resident = 0
                        if known {
                            for cell in 0..<pagesPerArenaPage where residency[index * pagesPerArenaPage + cell] & 1 != 0 { resident += systemPage }
                        }
                        report.arenaResidentBytes += resident
                        let page = Arena.page(index, of: current)
                        guard page.pointee.state == .owned || page.pointee.state == .abandoned else {
                            report.freePages += 1
                            report.releasableBytes += resident
                            continue
                        }
                        let sizeClass = Int(page.pointee.sizeClass)
                        let used = max(0, page.pointee.usedCount - Int(page.pointee.quarantined.load(ordering: .relaxed)))
                        let reserved = Int(page.pointee.reserved)
                        rows[sizeClass].pages += 1
                        rows[sizeClass].blocksInUse += used
                        rows[sizeClass].freeBlocks += reserved - used
                        if used == 0 {
                            rows[sizeClass].emptyPages += 1
                            report.emptyPages += 1
                            report.releasableBytes += resident
                        } else if used >= reserved {
                            rows[sizeClass].fullPages += 1
                            report.fullPages += 1
                        } else {
                            rows[sizeClass].partialPages += 1
                            report.partialPages += 1
                        }
                    }
                    if known { report.arenaResidentBytes += (0..<pagesPerArenaPage).filter { residency[$0] & 1 != 0 }.count * systemPage }
                }
            }
        }
        report.sizeClasses = rows.filter { $0.pages > 0 }
        report.inUseBytes = report.sizeClasses.reduce(0) { $0 + $1.inUseBytes } + report.largeBytes
        report.committedBytes = (report.fullPages + report.partialPages + report.emptyPages + report.arenas) * Arena.pageSize + report.largeMappedBytes
        report.mappedBytes = report.arenas * Arena.size + report.largeMappedBytes
        report.residentBytes = OSMemory.residentBytes()
        return report
    }
}
