// Striping: per-thread reference counts for hot shared objects (biased counting only).
//
// Biased counting sends every non-owner retain and release to one shared word, whose cache line
// then bounces between the cores that use the object. A *striped* object instead takes each
// mutator's retains and releases in that mutator's own table entry for it, a plain add to memory
// no other thread writes. Free-threaded CPython does this for a fixed set of objects (heap types,
// code objects: pycore_uniqueid.h); heapd does it for any object whose shared word turns hot.
//
//   header of a striped object   ownerID = Striping.owner (no mutator has that id)
//                                localCount = its stripe id (1 ..< Striping.maximumStripes)
//                                shared = (merged count << 2) | merged
//
//   true count = merged count + Σ over attached mutators of their entry[id].delta
//
// The merged count changes only where no mutator is counting the object on another path: in a
// pause (Heap+Striping: each pause adds every table into it and zeroes the tables), by a
// detaching mutator's own table (an atomic add), and by an operation from a thread with no
// mutator (an atomic add). A striped object is never freed by a release: no thread can see its
// true count. The pause that finds a merged count of 0 frees it (it unstripes it, holding the
// one reference of a pause, and drops that reference after the pause like a merge queue's), so
// reclamation waits for the next pause, as CPython's per-thread counts wait for its collector.
//
// Becoming striped (adaptive): each mutator keeps a small direct-mapped table of the objects its
// recent non-owner operations touched (`HotObject`, `hotSlots` entries). When one entry passes
// `hotOperations` within a window of `hotWindow` non-owner operations, the mutator takes one
// reference of its own to the object and asks for it to be striped at its next safepoint; there
// it stops the world, stripes what it asked for (Heap+Striping), and drops those references.
// Cooling: a stripe with no operation in `idlePauses` pauses in a row is unstriped (it goes back
// to a merged, ownerless object), and its id is reused.
//
// Thread rules: a mutator's table and hot table are written only by that mutator, and read and
// zeroed by the thread that has stopped the world (which orders them with the handshake). The
// header's striped fields are written only with the world stopped.

import CHeapShim
import Synchronization

/// Whether a heap stripes hot objects (`Heap.striping`; the `striping` setting and run field).
public enum StripingMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Objects whose shared count turns hot are striped (biased counting only).
    case adaptive
    /// Never.
    case off

    public var description: String { rawValue }
}

/// A mutator's count for one stripe id: the references it took less those it dropped since the
/// last pause, and how many operations it did (for cooling).
@usableFromInline
struct StripeCount {
    var delta: Int
    var operations: Int
}

/// One entry of a mutator's hot-object table.
struct HotObject {
    var address: UInt
    var operations: Int
}

enum Striping {
    /// The ownerID of a striped object. Mutator ids stay below it (Heap.attachCurrentThread).
    @usableFromInline static let owner = UInt32.max
    /// Stripe ids are 1 ..< this (0 is none): a mutator's table is at most 16 bytes × this.
    static let maximumStripes = 1 << 16
    /// The hot-object table: entries per mutator (a power of 2), the non-owner operations of a
    /// window, and the operations on one object within a window that make it hot.
    static let hotSlots = 64
    static let hotWindow = 4096
    static let hotOperations = 512
    /// Pauses in a row with no operation on a stripe before it is unstriped.
    static let idlePauses = 4

    @inline(__always)
    static func isStriped(_ object: ObjectRef) -> Bool {
        object.header.pointee.ownerID.load(ordering: .relaxed) == owner
    }

    /// The stripe id of a striped object.
    @inline(__always)
    static func id(of object: ObjectRef) -> Int {
        Int(object.header.pointee.localCount.load(ordering: .relaxed))
    }

    /// Adds `delta` to the calling thread's entry for striped `object` (a retain: 1; a release:
    /// -1). A thread with no mutator adds to the merged count instead (an atomic add: any thread
    /// may do that at any time). `storage`: the caller's mutator, when it has it at hand.
    @inline(__always)
    static func add(_ delta: Int, to object: ObjectRef, storage: UnsafeMutablePointer<MutatorStorage>?) {
        guard let storage = storage ?? heapd_current_mutator()?.assumingMemoryBound(to: MutatorStorage.self) else {
            object.header.pointee.shared.wrappingAdd(delta << SharedState.shift, ordering: .relaxed)
            return
        }
        let id = id(of: object)
        if _slowPath(id >= storage.pointee.stripeCapacity) {
            guard growStripeCounts(storage, toHold: id) else {
                object.header.pointee.shared.wrappingAdd(delta << SharedState.shift, ordering: .relaxed)
                return
            }
        }
        let entry = storage.pointee.stripeCounts.unsafelyUnwrapped + id
        entry.pointee.delta &+= delta
        entry.pointee.operations &+= 1
    }

    /// Makes `storage`'s table long enough for `id` (zeroed entries); false when the mutator
    /// has merged its table for good (`closeStripeCounts`: it is detaching). Owner only.
    @inline(never)
    static func growStripeCounts(_ storage: UnsafeMutablePointer<MutatorStorage>, toHold id: Int) -> Bool {
        if storage.pointee.stripeCountsClosed { return false }
        let old = storage.pointee.stripeCapacity
        let capacity = min(max(64, 1 << (Int.bitWidth - id.leadingZeroBitCount)), maximumStripes)
        let grown = UnsafeMutablePointer<StripeCount>.allocate(capacity: capacity)
        grown.initialize(repeating: StripeCount(delta: 0, operations: 0), count: capacity)
        if let counts = storage.pointee.stripeCounts {
            grown.update(from: counts, count: old)
            counts.deallocate()
        }
        storage.pointee.stripeCounts = grown
        storage.pointee.stripeCapacity = capacity
        return true
    }

    /// Counts one non-owner operation on unstriped `object` in the calling mutator's hot table;
    /// on a retain (`holding`: the caller has a reference now), an object past the threshold is
    /// asked to be striped. Nothing when striping is off or the thread has no mutator.
    @inline(__always)
    static func noteOperation(on object: ObjectRef, storage: UnsafeMutablePointer<MutatorStorage>?, holding: Bool) {
        guard let storage = storage ?? heapd_current_mutator()?.assumingMemoryBound(to: MutatorStorage.self),
              let table = storage.pointee.hotObjects else { return }
        // Fibonacci hashing of the address (16-byte aligned, so its low bits say little).
        let slot = Int(truncatingIfNeeded: (object.bits &* 0x9E37_79B9_7F4A_7C15) >> UInt(64 - hotSlots.trailingZeroBitCount))
        let entry = table + slot
        if entry.pointee.address == object.bits {
            entry.pointee.operations &+= 1
        } else {
            entry.pointee = HotObject(address: object.bits, operations: 1)
        }
        storage.pointee.hotCountdown &-= 1
        if _slowPath(storage.pointee.hotCountdown <= 0) { startHotWindow(storage) }
        if _slowPath(holding && entry.pointee.operations >= hotOperations) {
            requestStripe(object, storage: storage)
            // Not again this window (the request is pending or done).
            entry.pointee.operations = Int.min / 2
        }
    }

    @inline(never)
    static func startHotWindow(_ storage: UnsafeMutablePointer<MutatorStorage>) {
        storage.pointee.hotCountdown = hotWindow
        guard let table = storage.pointee.hotObjects else { return }
        for slot in 0..<hotSlots { table[slot] = HotObject(address: 0, operations: 0) }
    }

    /// Takes a reference to `object` for the request (so it lives until the pause that stripes
    /// it) and queues the request for the mutator's next safepoint.
    @inline(never)
    static func requestStripe(_ object: ObjectRef, storage: UnsafeMutablePointer<MutatorStorage>) {
        object.header.pointee.shared.wrappingAdd(SharedState.one, ordering: .relaxed)
        storage.pointee.stripeRequests.append(object)
    }
}

extension Mutator {
    /// Stripes the objects this mutator asked for (`Striping.requestStripe`) in a pause of its
    /// own, then drops the requests' references. At a safepoint, outside a pause.
    func processStripeRequests() {
        assertOnOwnThread()
        guard !isInsidePause else { return }
        let requested = storage.pointee.stripeRequests
        storage.pointee.stripeRequests = []
        withHeap { heap in heap.stopTheWorld { heap.stripe(requested) } }
        for object in requested { release(object) }
    }

    /// At detach, first: drops the pending requests' references.
    func dropStripeRequests() {
        assertOnOwnThread()
        let requested = storage.pointee.stripeRequests
        storage.pointee.stripeRequests = []
        for object in requested { release(object) }
    }

    /// At detach, after its last release (merge queues included): adds this mutator's table into
    /// the merged counts (atomic adds: no pause runs while a mutator is running) and frees it.
    /// Anything it still counts after this goes to the merged counts directly.
    func closeStripeCounts() {
        assertOnOwnThread()
        storage.pointee.stripeCountsClosed = true
        if let counts = storage.pointee.stripeCounts {
            withHeap { heap in
                for id in 1..<storage.pointee.stripeCapacity where counts[id].delta != 0 {
                    let object = heap.stripes.object(withID: id)
                    object.header.pointee.shared.wrappingAdd(counts[id].delta << SharedState.shift, ordering: .relaxed)
                }
            }
            counts.deallocate()
            storage.pointee.stripeCounts = nil
            storage.pointee.stripeCapacity = 0
        }
        storage.pointee.hotObjects?.deallocate()
        storage.pointee.hotObjects = nil
    }
}
