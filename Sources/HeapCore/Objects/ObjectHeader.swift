// ObjectHeader: the 32 bytes in front of every managed object, as free-threaded CPython's.
//
//   offset  field       type            written by                              ordering
//   0       ownerID     UInt32 atomic   creator; 0 once merged or immortal;     relaxed
//                                       Striping.owner while striped (a pause)
//   4       localCount  UInt32 atomic   the owner only (biased); the GIL       relaxed load + store,
//                                       holder (global-lock); the stripe id     never an RMW
//                                       while striped (a pause)
//   8       shared      Int atomic      any thread                              RMW: see below
//   16      scratch     UInt            collector (world stopped); after death:  plain; relaxed
//                                       the dealloc worklist / QSBR link        atomic in trial
//                                                                               deletion (shared)
//   24      typeID      UInt16          creator                                 immutable
//   26      gcBits      UInt8 atomic    creator, collector; weak-ref creation   relaxed; bit set by RMW
//   27      flags       UInt8           creator                                 immutable
//   28      slotCount   UInt32          creator                                 immutable
//   32      slots       slotCount × 8   any thread (see ObjectRef)              atomic exchange
//   ...     payload     type's bytes    the program                             -
//
// The payload size is the type's (`ObjectType.payloadBytes`); arrays have none, so it is not
// stored twice.
//
// `shared` holds (count << 2) | state, the biased-counting state of PEP 703 / CPython's brc.c:
//
//   state   meaning                                          enters on
//   0       default                                          creation
//   1       maybeShared: another thread has taken a lock-    a non-owner's try-increment of an
//           free reference or a weak reference exists, so    object whose shared word was 0; a weak
//           the owner's zero path must go through a CAS      reference's creation
//   2       queued: a non-owner decrement found count 0 and  non-owner decrement at count 0
//           queued the object to its owner (the queue holds
//           that reference until the owner merges it)
//   3       merged: no owner; every operation is on shared   the owner's merge (local hit zero with
//                                                            shared references left, a queued
//                                                            object, or a detached owner's object)
//
// Dead: `shared == merged with count 0`, or an object freed by its owner with `shared == 0`. Under
// the atomic policy `shared` is a plain count (state bits unused); under global-lock `localCount`
// is the only count. Immortal objects have localCount == UInt32.max and are never counted. A striped
// object (Striping.swift) is merged, and its true count is the merged one plus the mutators'
// table entries for its stripe id.

import Synchronization

/// `@usableFromInline` (with the counting fields): the counting fast paths are `@inlinable`, so
/// that the interpreter and benchmarks in other modules inline them.
@usableFromInline
struct ObjectHeader: ~Copyable {
    @usableFromInline let ownerID: Atomic<UInt32>
    @usableFromInline let localCount: Atomic<UInt32>
    @usableFromInline let shared: Atomic<Int>
    var scratch: UInt
    let typeID: UInt16
    let gcBits: Atomic<UInt8>
    let flags: UInt8
    @usableFromInline let slotCount: UInt32

    @usableFromInline static let size = 32

    /// Writes a new object's header at `block` as four 8-byte words, in the table's layout:
    /// ownerID and localCount (`counts.ownerAndLocal`), shared, scratch, then typeID, gcBits,
    /// flags and slotCount. The caller has checked that `typeID` fits 16 bits and `slotCount`
    /// 32 (the type registry and `newArray` do).
    @inline(__always)
    static func initialize(_ block: UnsafeMutableRawPointer, counts: NewObjectCounts, scratch: UInt,
                           typeID: Int, gcBits: UInt8, flags: UInt8, slotCount: Int) {
        let last = UInt64(UInt16(truncatingIfNeeded: typeID)) | UInt64(gcBits) << 16 | UInt64(flags) << 24
            | UInt64(UInt32(truncatingIfNeeded: slotCount)) << 32
        block.storeBytes(of: counts.ownerAndLocal, as: UInt64.self)
        block.storeBytes(of: counts.shared, toByteOffset: 8, as: Int.self)
        block.storeBytes(of: scratch, toByteOffset: 16, as: UInt.self)
        block.storeBytes(of: last, toByteOffset: 24, as: UInt64.self)
    }
    /// Where `gcBits` is (the table above), for the concurrent collector's racy update.
    static let gcBitsOffset = 26
    @usableFromInline static let immortalCount = UInt32.max
}

/// The first two words of a new object's header for one mutator under one policy: what
/// `RefCountPolicy.initialize` writes into a header whose ownerID is the mutator's, found once
/// when the mutator attaches (`make(for:mutatorID:)`) so that `new` stores two words.
struct NewObjectCounts {
    /// Offset 0: ownerID (low half) and localCount (high half).
    let ownerAndLocal: UInt64
    /// Offset 8.
    let shared: Int

    static func make(for policy: RefCountPolicyKind, mutatorID: UInt32) -> NewObjectCounts {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: ObjectHeader.size, alignment: 16)
        defer { scratch.deallocate() }
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: ObjectHeader.size)
        scratch.storeBytes(of: mutatorID, as: UInt32.self)
        let object = ObjectRef(scratch)
        switch policy {
        case .biased: BiasedCounting.initialize(object, mutatorID: mutatorID)
        case .atomic: AtomicCounting.initialize(object, mutatorID: mutatorID)
        case .globalLock: GlobalLockCounting.initialize(object, mutatorID: mutatorID)
        }
        return NewObjectCounts(ownerAndLocal: scratch.load(as: UInt64.self), shared: scratch.load(fromByteOffset: 8, as: Int.self))
    }
}

@usableFromInline
/// Bits of `ObjectHeader.flags`, fixed at creation.
enum ObjectFlags {
    /// The object's block is a large mapping (more than SizeClass.maxSmallSize bytes).
    static let large: UInt8 = 1 << 0
    /// Its type has a finalizer (`ObjectType.hasFinalizer`, fixed when the type is registered):
    /// a dying object's header says so without a look at the type registry.
    static let hasFinalizer: UInt8 = 1 << 1
}

@usableFromInline
enum SharedState {
    @usableFromInline static let shift = 2
    @usableFromInline static let mask = 3
    static let `default` = 0
    static let maybeShared = 1
    static let queued = 2
    static let merged = 3
    @usableFromInline static let one = 1 << shift

    @inline(__always) static func count(_ word: Int) -> Int { word >> shift }
    @inline(__always) static func state(_ word: Int) -> Int { word & mask }
}

/// A managed object: the address of its header. Copying an ObjectRef does not count as a
/// reference; the counting operations do (see Mutator).
///
/// `@unchecked Sendable`: it is an address. Which thread may do what with the object it names is
/// the object model's business (counts, slots and QSBR), not Swift's.
public struct ObjectRef: Hashable, @unchecked Sendable, CustomStringConvertible {
    public let address: UnsafeMutableRawPointer

    @inline(__always)
    init(_ address: UnsafeMutableRawPointer) { self.address = address }

    /// The object at address `bits` (nil for 0). The caller vouches that it is one.
    @inlinable @inline(__always)
    public init?(bits: UInt) {
        guard let address = UnsafeMutableRawPointer(bitPattern: bits) else { return nil }
        self.address = address
    }

    /// The object's address as an integer (never 0).
    @inlinable @inline(__always)
    public var bits: UInt { UInt(bitPattern: address) }

    @usableFromInline @inline(__always)
    var header: UnsafeMutablePointer<ObjectHeader> { address.assumingMemoryBound(to: ObjectHeader.self) }

    /// The scratch word as an atomic word: trial deletion's passes (TrialDeletion.swift), which
    /// threads that share a pause run side by side, each writing its own set's words and reading
    /// any.
    @inline(__always)
    var scratchWord: UnsafeMutablePointer<Atomic<UInt>> { (address + 16).assumingMemoryBound(to: Atomic<UInt>.self) }

    /// Slot `index` as an atomic word (0 = none).
    @inlinable @inline(__always)
    func slot(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
        (address + ObjectHeader.size + index &* 8).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// Slot `index`, which must exist (a trap otherwise): for the inlinable slot paths of
    /// Mutator+Objects.
    @inlinable @inline(__always)
    func slot(checked index: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
        precondition(index >= 0 && index < slotCount, "heapd: slot \(index) of an object with \(slotCount) slots")
        return slot(index)
    }

    @inlinable
    public var slotCount: Int { Int(header.pointee.slotCount) }

    /// Whether the object's block came from a page (not a large mapping of its own).
    var isSmall: Bool { header.pointee.flags & ObjectFlags.large == 0 }
    public var typeID: Int { Int(header.pointee.typeID) }

    /// The payload bytes after the slots (the type's `payloadBytes` of them).
    public var payload: UnsafeMutableRawPointer {
        address + ObjectHeader.size + slotCount * 8
    }

    public var description: String { "object@\(address)" }
}
