// Arena: a 4 MiB mapping aligned to 4 MiB, carved into 64 pages of 64 KiB.
//
//   offset 0          ArenaHeader (node, free mask, pool links)
//   offset 256        64 page descriptors, `descriptorStride` bytes apart
//   page 0            (the header and descriptors: the metadata page; never holds blocks)
//   pages 1..63       blocks
//
// A block's page is found by masking its address: arena = address & ~(4 MiB - 1), page index =
// (address >> 16) & 63, descriptor = arena + 256 + index * stride. The region map is consulted
// first, so masking is done only for addresses inside a live arena.
//
// Why 4 MiB and 64 KiB: pages are owned per thread and per size class, so they must be big enough
// that a thread takes a new one rarely (a 64 KiB page serves 4096 16-byte or 128 256-byte blocks
// between trips to the pool lock), and arenas must be big enough to amortise a mapping over many
// pages yet small enough that returning an empty one to the OS matters: pymalloc's 1 MiB arenas
// hold 16 KiB pools; mimalloc's segments are larger still. 4 MiB is also a multiple of the 2 MiB
// transparent huge page, and the region map needs only 2^26 entries at this granularity.
//
// Invariants (pool lock held):
//   freeMask & ~Arena.dataPagesMask == 0
//   page i is free  <=>  freeMask bit i set
//   arena is empty  <=>  freeMask == Arena.dataPagesMask
//
// The header and descriptors are owned by the arena's node pool; the arena is unmapped only by
// that pool, and only when every data page is free.

import Synchronization

struct ArenaHeader: ~Copyable {
    let allocatorID: UInt64
    let node: Int
    /// Bit i set: data page i is free. Pool lock.
    var freeMask: UInt64
    /// The pool's list of all its arenas. Pool lock.
    var nextAll: UnsafeMutablePointer<ArenaHeader>?
    var prevAll: UnsafeMutablePointer<ArenaHeader>?
    /// The pool's list of arenas with at least one free page. Pool lock.
    var nextAvailable: UnsafeMutablePointer<ArenaHeader>?
    var prevAvailable: UnsafeMutablePointer<ArenaHeader>?
    var isAvailableListed: Bool
}

enum Arena {
    static let shift = 22
    static let size = 1 << shift
    static let pageShift = 16
    static let pageSize = 1 << pageShift
    static let pageCount = size / pageSize
    /// Pages 1...63 hold blocks; page 0 holds the header and descriptors.
    static let dataPagesMask: UInt64 = ~UInt64(1)
    static let dataPageCount = pageCount - 1
    static let descriptorOffset = 256
    static let descriptorStride = 128

    static let addressMask: UInt = ~(UInt(size) - 1)

    @inline(__always)
    static func header(ofAddress address: UInt) -> UnsafeMutablePointer<ArenaHeader> {
        UnsafeMutablePointer(bitPattern: address & addressMask)!
    }

    /// The descriptor of the page holding `address`. Valid only for an address inside a live arena.
    @inline(__always)
    static func page(containing address: UInt) -> UnsafeMutablePointer<Page> {
        let base = address & addressMask
        let index = (address >> UInt(pageShift)) & UInt(pageCount - 1)
        return UnsafeMutablePointer(bitPattern: base &+ UInt(descriptorOffset) &+ index &* UInt(descriptorStride))!
    }

    @inline(__always)
    static func page(_ index: Int, of arena: UnsafeMutablePointer<ArenaHeader>) -> UnsafeMutablePointer<Page> {
        (UnsafeMutableRawPointer(arena) + descriptorOffset + index * descriptorStride).assumingMemoryBound(to: Page.self)
    }

    @inline(__always)
    static func arena(of page: UnsafeMutablePointer<Page>) -> UnsafeMutablePointer<ArenaHeader> {
        header(ofAddress: UInt(bitPattern: page))
    }

    static func pageIndex(of page: UnsafeMutablePointer<Page>) -> Int {
        (Int(bitPattern: page) - Int(bitPattern: arena(of: page)) - descriptorOffset) / descriptorStride
    }

    /// Maps, binds and formats a new arena for `node`, and marks it in the region map. Nil when the
    /// OS refuses the mapping. Caller: the node pool, lock held.
    static func create(node: Int, physicalNode: Int?, binding: NumaBinding, allocatorID: UInt64) -> UnsafeMutablePointer<ArenaHeader>? {
        precondition(MemoryLayout<ArenaHeader>.size <= descriptorOffset, "arena header overlaps the descriptors")
        precondition(MemoryLayout<Page>.size <= descriptorStride, "page descriptor larger than its stride")
        guard let base = OSMemory.mapAligned(size: size, alignment: size) else { return nil }
        if let physical = physicalNode {
            NumaMemory.bind(base, size: size, toNode: physical, binding: binding)
        }
        let header = base.bindMemory(to: ArenaHeader.self, capacity: 1)
        header.initialize(to: ArenaHeader(
            allocatorID: allocatorID, node: node, freeMask: dataPagesMask,
            nextAll: nil, prevAll: nil, nextAvailable: nil, prevAvailable: nil, isAvailableListed: false))
        for i in 0..<pageCount {
            let descriptor = (base + descriptorOffset + i * descriptorStride).bindMemory(to: Page.self, capacity: 1)
            descriptor.initialize(to: Page(start: base + i * pageSize, state: i == 0 ? .metadata : .free))
        }
        RegionMap.shared.mark(base: UInt(bitPattern: base), size: size, first: .arena, rest: .arena)
        return header
    }

    /// Clears the arena from the region map and unmaps it. Every data page must be free.
    static func destroy(_ arena: UnsafeMutablePointer<ArenaHeader>) {
        precondition(arena.pointee.freeMask == dataPagesMask, "destroying an arena with pages in use")
        let base = UnsafeMutableRawPointer(arena)
        RegionMap.shared.clear(base: UInt(bitPattern: base), size: size)
        for i in 0..<pageCount {
            page(i, of: arena).deinitialize(count: 1)
        }
        arena.deinitialize(count: 1)
        OSMemory.unmap(base, size: size)
    }

    /// Returns the physical memory of the arena's data pages to the OS, keeping the mapping.
    static func decommitDataPages(_ arena: UnsafeMutablePointer<ArenaHeader>) {
        OSMemory.decommit(UnsafeMutableRawPointer(arena) + pageSize, size: size - pageSize)
    }
}
