// BlockChecking: the checking build's pieces — its option, the poison of freed blocks, and the
// per-thread quarantine that delays their reuse (mimalloc's MI_DEBUG fill and delayed reuse).
//
// A use after free inside heapd's own arenas is invisible to AddressSanitizer: the block is still
// mapped and still ours. With `AllocatorConfiguration.checking` set, every small block is poisoned
// when it is freed and checked when it comes back:
//
//   bytes     free-list block                 quarantined block
//   0..<8     list link                       poison
//   8..<16    free tag                        free tag
//   16..<size poison                          poison
//
//   event                        what happens
//   carve (Page.extend)          the fresh blocks are poisoned like freed ones (after the carve)
//   free (any thread)            tag, poison; into the freeing thread's quarantine when it is
//                                attached to this allocator, else straight onto the page's lists
//   leaves quarantine            everything but the tag must still be poison; then freed for real
//                                (the owner's local list, or the page's thread-free list)
//   allocation (reuse)           the tag and bytes 16..<size must be intact, the link must name
//                                a carved block of the page
//   detach                       the thread's quarantine empties, each block checked as it leaves
//                                (`collect()` leaves quarantines alone)
//
// A mismatch stops the process naming the block, its size class and the first changed byte.
// Large blocks are not poisoned: freeing one unmaps it, so a later access faults by itself.
//
// Blocks in quarantine stay counted in their page's `used` (so the page is not released under
// them) and in its `quarantined`; statistics count `used - quarantined` as live, walks skip them.
// A quarantine belongs to its thread heap: only the owner thread touches it, except the verifier
// and walks with the world quiescent (debug builds check the owner where a quarantine is emptied,
// and where carved blocks are poisoned and reused ones checked).
//
// The poison is stored with relaxed atomic stores: the object layer reads the dead bit of a block
// another thread may be freeing (Mutator.mergeOwnedObjects), and 0xDF keeps that bit (0x80) set.

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The checking build's options (`AllocatorConfiguration.checking`).
public struct AllocatorChecking: Sendable, Equatable {
    /// How many freed blocks each thread heap holds back before they may be reused: a block
    /// becomes reusable on its thread's `quarantineBlocks`-th later free (or when the thread
    /// detaches). 0: poison and check only.
    public var quarantineBlocks: Int

    public init(quarantineBlocks: Int = 256) {
        precondition(quarantineBlocks >= 0, "a quarantine cannot hold \(quarantineBlocks) blocks")
        self.quarantineBlocks = quarantineBlocks
    }

    /// `AllocatorChecking()` when the environment variable HEAPD_CHECKED_ALLOCATOR is set to
    /// anything but "" or "0", else nil. Read once, at first use; it is the default of
    /// `AllocatorConfiguration.checking`, so that test suites and fuzzers turn checking on for
    /// every allocator (and heap) they make.
    public static let fromEnvironment: AllocatorChecking? = {
        guard let value = getenv("HEAPD_CHECKED_ALLOCATOR").map({ String(cString: $0) }),
              value != "", value != "0"
        else { return nil }
        return AllocatorChecking()
    }()
}

// MARK: - Poison

enum BlockPoison {
    /// mimalloc's MI_DEBUG_FREED byte. Bit 7 is set: see the file comment.
    static let byte: UInt8 = 0xDF
    static let word: UInt64 = 0xDFDF_DFDF_DFDF_DFDF

    /// Poisons bytes `offset..<size` of `block` (both multiples of 8), with relaxed atomic stores.
    /// The caller owns the block: it is freeing it, or carving it.
    static func fill(_ block: UnsafeMutableRawPointer, from offset: Int, size: Int) {
        var position = offset
        while position < size {
            // Relaxed: no ordering with anything; atomic only so that the object layer's relaxed
            // read of the dead bit on a block being freed is not a data race.
            (block + position).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(word, ordering: .relaxed)
            position &+= 8
        }
    }

    /// Poisons the blocks `Page.extend` has just carved: from the page's free head (the first of
    /// them) to its capacity. Owner only.
    @inline(never)
    static func fillCarved(_ page: UnsafeMutablePointer<Page>) {
        page.pointee.assertOwnerThread()
        guard var block = page.pointee.free else { return }
        let size = Int(page.pointee.blockSize)
        let end = page.pointee.start + Int(page.pointee.capacity.load(ordering: .relaxed)) * size
        while block < end {
            fill(block, from: 16, size: size)
            block += size
        }
    }

    /// The offset of the first byte of `offset..<size` that is not poison, or nil.
    static func firstChange(in block: UnsafeMutableRawPointer, from offset: Int, size: Int) -> Int? {
        var position = offset
        while position < size {
            let found = (block + position).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .relaxed)
            if found != word {
                // Little-endian: the lowest differing byte is the first in memory.
                return position + (found ^ word).trailingZeroBitCount / 8
            }
            position &+= 8
        }
        return nil
    }

    /// Stops the process: the `page`'s block at `block` was written while free.
    @inline(never)
    static func reportWrite(to block: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>, offset: Int, expected: String, when: String) -> Never {
        let found = block.load(fromByteOffset: offset, as: UInt8.self)
        misuse("heapd: use after free: the \(page.pointee.blockSize)-byte block at \(block) (size class \(page.pointee.sizeClass)) was written after it was freed: byte \(offset) is 0x\(String(found, radix: 16)), not \(expected) (found \(when))")
    }

    /// Checks a block that is leaving quarantine: every byte poison except the free tag.
    static func checkQuarantined(_ block: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>) {
        let size = Int(page.pointee.blockSize)
        if let offset = firstChange(in: block, from: 0, size: 8) ?? firstChange(in: block, from: 16, size: size) {
            reportWrite(to: block, page: page, offset: offset, expected: "the poison 0xdf", when: "when it left quarantine")
        }
        checkTag(block, page: page, when: "when it left quarantine")
    }

    /// Checks a block popped from `page`'s free list with `next` its link: the tag, the poison
    /// after it, and a link that names a carved block of the page. Owner only.
    static func checkReused(_ block: UnsafeMutableRawPointer, next: UnsafeMutableRawPointer?, page: UnsafeMutablePointer<Page>) {
        page.pointee.assertOwnerThread()
        let size = Int(page.pointee.blockSize)
        checkTag(block, page: page, when: "when it was reused")
        if let offset = firstChange(in: block, from: 16, size: size) {
            reportWrite(to: block, page: page, offset: offset, expected: "the poison 0xdf", when: "when it was reused")
        }
        if let next {
            let offset = UInt(bitPattern: next) &- UInt(bitPattern: page.pointee.start)
            let capacity = UInt(page.pointee.capacity.load(ordering: .relaxed))
            if offset >= UInt(Arena.pageSize) || offset % UInt(size) != 0 || offset / UInt(size) >= capacity {
                misuse("heapd: use after free: the \(size)-byte block at \(block) (size class \(page.pointee.sizeClass)) was written after it was freed: byte 0, its free-list link, is \(next), not a free block of its page (found when it was reused)")
            }
        }
    }

    private static func checkTag(_ block: UnsafeMutableRawPointer, page: UnsafeMutablePointer<Page>, when: String) {
        guard !page.pointee.isTaggedFree(block) else { return }
        let found = block.load(fromByteOffset: 8, as: UInt.self) ^ page.pointee.tag(of: block)
        reportWrite(to: block, page: page, offset: 8 + found.trailingZeroBitCount / 8, expected: "its free tag's", when: when)
    }
}

// MARK: - Quarantine

/// A thread heap's FIFO of freed blocks that may not be reused yet. The ring's memory is owned by
/// the thread heap, allocated at attach and freed at detach; owner thread only.
struct Quarantine {
    /// `capacity` slots; nil when the capacity is 0.
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer>?
    let capacity: Int
    /// Index of the oldest block.
    private(set) var oldest = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        slots = capacity > 0 ? .allocate(capacity: capacity) : nil
    }

    /// Adds `block`; returns the oldest block, which leaves, when the quarantine was full.
    /// Capacity > 0.
    mutating func admit(_ block: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        let slots = slots.unsafelyUnwrapped
        if count == capacity {
            let leaving = slots[oldest]
            slots[oldest] = block
            oldest = oldest + 1 == capacity ? 0 : oldest + 1
            return leaving
        }
        let index = oldest + count
        slots[index < capacity ? index : index - capacity] = block
        count += 1
        return nil
    }

    /// Removes and returns the oldest block, nil when empty.
    mutating func removeOldest() -> UnsafeMutableRawPointer? {
        guard count > 0, let slots else { return nil }
        let leaving = slots[oldest]
        oldest = oldest + 1 == capacity ? 0 : oldest + 1
        count -= 1
        return leaving
    }

    /// Every block, oldest first (the owner, or the world quiescent).
    func forEach(_ body: (UnsafeMutableRawPointer) -> Void) {
        guard let slots else { return }
        for i in 0..<count {
            let index = oldest + i
            body(slots[index < capacity ? index : index - capacity])
        }
    }

    /// Frees the ring's memory. The quarantine must be empty.
    func deallocate() {
        precondition(count == 0, "freeing a quarantine that still holds blocks")
        slots?.deallocate()
    }
}
