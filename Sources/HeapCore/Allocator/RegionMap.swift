// RegionMap: which 4 MiB regions of the address space belong to heapd, and as what.
//
// One byte per region of `Arena.size` bytes, over the 48-bit user address space: 2^26 entries,
// reserved once per process with MAP_NORESERVE (64 MiB of address space; only the few OS pages that
// cover heapd's own regions are ever touched). `deallocate` reads it before it touches any header,
// so a pointer that is not ours is reported instead of followed.
//
//   kind                 meaning of the region that holds the address
//   none                 not heapd's
//   arena                an arena: header + page descriptors in its first page, blocks after
//   largeStart           the first region of a large-block mapping (its header is at the base)
//   largeContinuation    a later region of a large-block mapping
//
// Entries are written with relaxed stores by the thread that maps or unmaps a region (under its
// pool's lock) and read with relaxed loads by any thread. A pointer obtained from `allocate` was
// published to its holder after the entry was written (program order in the allocating thread, then
// the user's own hand-off), so a valid free always sees the entry.

import Synchronization

enum RegionKind: UInt8 {
    case none = 0
    case arena = 1
    case largeStart = 2
    case largeContinuation = 3
}

final class RegionMap: Sendable {
    /// log2 of the region size; equal to Arena.shift so that one region is one arena.
    static let shift = 22
    static let addressBits = 48
    static let entryCount = 1 << (addressBits - shift)

    /// The process-wide map. Regions are a property of the address space, not of one allocator.
    static let shared = RegionMap()

    /// Owned by the map for the life of the process; never unmapped.
    private nonisolated(unsafe) let entries: UnsafeMutablePointer<Atomic<UInt8>>

    private init() {
        guard let raw = OSMemory.mapAligned(size: RegionMap.entryCount, alignment: OSMemory.pageSize) else {
            fatalError("heapd: cannot reserve the region map (\(RegionMap.entryCount) bytes of address space)")
        }
        entries = raw.bindMemory(to: Atomic<UInt8>.self, capacity: RegionMap.entryCount)
    }

    /// The kind of the region that holds `address`; `.none` for any address outside the map.
    func kind(of address: UInt) -> RegionKind {
        RegionKind(rawValue: rawKind(of: address)) ?? .none
    }

    /// Whether `address` lies in a live arena: the first check of every free. Budget: a shift, a
    /// compare and one byte load.
    @inline(__always)
    func isArena(_ address: UInt) -> Bool {
        rawKind(of: address) == RegionKind.arena.rawValue
    }

    @inline(__always)
    private func rawKind(of address: UInt) -> UInt8 {
        let index = address >> UInt(RegionMap.shift)
        guard index < UInt(RegionMap.entryCount) else { return RegionKind.none.rawValue }
        // Relaxed: see the file comment for why a valid free always sees the entry.
        return entries[Int(index)].load(ordering: .relaxed)
    }

    /// Marks the regions of `[base, base + size)`: the first as `first`, the rest as `rest`.
    func mark(base: UInt, size: Int, first: RegionKind, rest: RegionKind) {
        let start = Int(base >> UInt(RegionMap.shift))
        let count = (size + (1 << RegionMap.shift) - 1) >> RegionMap.shift
        for i in 0..<count {
            entries[start + i].store(i == 0 ? first.rawValue : rest.rawValue, ordering: .relaxed)
        }
    }

    /// Clears the regions of `[base, base + size)`.
    func clear(base: UInt, size: Int) {
        mark(base: base, size: size, first: .none, rest: .none)
    }
}
