// LargeObjects: blocks of more than SizeClass.maxSmallSize bytes, each in a mapping of its own.
//
//   mapping base (4 MiB aligned)   LargeBlockHeader
//   base + headerSize              the block
//
// The mapping is aligned to a region so that the region map can say "largeStart" for its first
// region and "largeContinuation" for the rest: a pointer into the middle of a large block is then
// recognised instead of followed. Large blocks have no owner thread; any thread frees one directly.
// Each belongs to the node pool of the thread that allocated it, whose lock guards the list.

struct LargeBlockHeader: ~Copyable {
    let allocatorID: UInt64
    let node: Int
    /// Bytes usable by the program.
    let blockSize: Int
    /// Bytes mapped, header included.
    let mappingSize: Int
    /// The node pool's list of live large blocks. Pool lock.
    var next: UnsafeMutablePointer<LargeBlockHeader>?
    var prev: UnsafeMutablePointer<LargeBlockHeader>?
}

enum LargeObjects {
    /// The block starts one cache line after the mapping base.
    static let headerSize = 64

    /// The usable size of the large block at `block`.
    static func blockSize(of block: UnsafeMutableRawPointer) -> Int {
        (block - headerSize).assumingMemoryBound(to: LargeBlockHeader.self).pointee.blockSize
    }

    static func block(of header: UnsafeMutablePointer<LargeBlockHeader>) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(header) + headerSize
    }

    /// Maps, binds and registers a large block. Nil when the OS refuses.
    static func create(byteCount: Int, node: Int, physicalNode: Int?, binding: NumaBinding, allocatorID: UInt64) -> UnsafeMutablePointer<LargeBlockHeader>? {
        precondition(MemoryLayout<LargeBlockHeader>.size <= headerSize, "large block header larger than its slot")
        let page = OSMemory.pageSize
        let (total, overflow) = byteCount.addingReportingOverflow(headerSize + page - 1)
        guard !overflow else { return nil }
        let mappingSize = total & ~(page - 1)
        guard let base = OSMemory.mapAligned(size: mappingSize, alignment: Arena.size) else { return nil }
        if let physical = physicalNode {
            NumaMemory.bind(base, size: mappingSize, toNode: physical, binding: binding)
        }
        let header = base.bindMemory(to: LargeBlockHeader.self, capacity: 1)
        header.initialize(to: LargeBlockHeader(
            allocatorID: allocatorID, node: node, blockSize: mappingSize - headerSize,
            mappingSize: mappingSize, next: nil, prev: nil))
        RegionMap.shared.mark(base: UInt(bitPattern: base), size: mappingSize, first: .largeStart, rest: .largeContinuation)
        return header
    }

    static func destroy(_ header: UnsafeMutablePointer<LargeBlockHeader>) {
        let base = UnsafeMutableRawPointer(header)
        let size = header.pointee.mappingSize
        RegionMap.shared.clear(base: UInt(bitPattern: base), size: size)
        header.deinitialize(count: 1)
        OSMemory.unmap(base, size: size)
    }
}
