// Creating objects, and reading and writing their slots.
//
// Slots shared between threads (CPython's _Py_TryIncrefCompare protocol):
//
//   store   retain the new referent, exchange the slot (sequentially consistent), release the old
//   load    read the slot; try-retain the referent; read the slot again: if it changed, the
//           referent may have died in between, so release the speculative reference and retry
//
// A reader may thus touch the header of an object that has just died. QSBR keeps the block from
// being reused until every mutator has passed a quiescent point, so it touches a dead object's
// header, never another object's memory. The exchange and the re-check are sequentially
// consistent, and so are the count operations they race with, so that either the writer's
// release sees the reader's increment or the reader's re-check sees the writer's store.

import Synchronization

extension Mutator {
    /// A new object of `type` holding one reference (the caller's), its slots empty and its
    /// payload zeroed. Nil when the allocator can get no memory.
    ///
    /// Fast path, with no call (so no registers saved): not an array, at most 64 bytes of slots
    /// and payload, a free block on the size's direct page. Budget: the size, one TLS load and
    /// the page's pop, the header's four words, up to four 16-byte stores, the page's young
    /// mark and the young count. Everything else (and every misuse) in `newGeneric`, as
    /// `make` does it.
    public func new(_ type: ObjectType) -> ObjectRef? {
        // Wrapping arithmetic: slot counts are below 2^32 and payloads not negative, so an
        // overflow wraps to a negative size, which fails the test (`make` traps on it).
        let size = ObjectHeader.size &+ type.slotCount &* 8 &+ type.payloadBytes
        guard _fastPath(!type.isArray && UInt(bitPattern: size) <= UInt(ObjectHeader.size + 64)),
              let block = ThreadHeap.current.unsafelyUnwrapped.popDirect(size)
        else { return newGeneric(type) }
        let tracked = type.slotCount > 0
        // Acquiring: as in `make`.
        let stamp = storage.pointee.allocationStamp.load(ordering: .acquiring)
        ObjectHeader.initialize(block, counts: storage.pointee.newObjectCounts, scratch: stamp, typeID: type.id,
                                gcBits: tracked ? GCBits.tracked : 0, flags: type.hasFinalizer ? ObjectFlags.hasFinalizer : 0,
                                slotCount: type.slotCount)
        zeroSmallBody(block, size: size)
        // noteYoungObject, with its flush as the last call (a jump): a call in the middle made
        // this path save and restore five registers for it.
        if tracked {
            Arena.page(containing: UInt(bitPattern: block)).pointee.markGeneration(0)
            storage.pointee.youngDelta &+= 1
            if storage.pointee.youngDelta >= Mutator.youngBatch { return flushingYoungDelta(ObjectRef(block)) }
        }
        return ObjectRef(block)
    }

    /// `object`, after the young-count flush that its making reached (a safepoint).
    @inline(never)
    private func flushingYoungDelta(_ object: ObjectRef) -> ObjectRef? {
        flushYoungDelta()
        return object
    }

    /// `new` for what its fast path leaves: arrays (a misuse), larger objects, an empty direct page.
    @inline(never)
    private func newGeneric(_ type: ObjectType) -> ObjectRef? {
        require(!type.isArray, "heapd: new(type \(type.id)): an array type needs newArray(_:count:)")
        return make(type, slotCount: type.slotCount)
    }

    /// A new array object of `type` with `count` empty slots.
    public func newArray(_ type: ObjectType, count: Int) -> ObjectRef? {
        require(type.isArray, "heapd: newArray(type \(type.id)): not an array type")
        require(count >= 0 && count <= Int(UInt32.max), "heapd: newArray(type \(type.id), count: \(count)): count out of range")
        return make(type, slotCount: count)
    }

    /// The header is written as four words (ObjectHeader's table); slots and payload of up to 64
    /// bytes are zeroed 16 bytes at a time up to the object's end rounded to 16 (blocks are
    /// multiples of 16 bytes), with no call; larger ones by memset.
    @inline(__always)
    private func make(_ type: ObjectType, slotCount: Int) -> ObjectRef? {
        let size = type.objectBytes(slots: slotCount)
        guard let block = withAllocator({ $0.allocateTrusted(byteCount: size) }) else { return nil }
        let isSmall = size <= SizeClass.maxSmallSize
        let tracked = slotCount > 0
        // Acquiring: pairs with `stampAllocations`' release, so that an object made with the
        // stamp finds its page's young mark cleared by the walk, and marks it again below.
        let stamp = storage.pointee.allocationStamp.load(ordering: .acquiring)
        let flags = (isSmall ? 0 : ObjectFlags.large) | (type.hasFinalizer ? ObjectFlags.hasFinalizer : 0)
        ObjectHeader.initialize(block, counts: storage.pointee.newObjectCounts, scratch: stamp, typeID: type.id,
                                gcBits: tracked ? GCBits.tracked : 0, flags: flags, slotCount: slotCount)
        if size <= ObjectHeader.size + 64 {
            zeroSmallBody(block, size: size)
        } else {
            (block + ObjectHeader.size).initializeMemory(as: UInt8.self, repeating: 0, count: size &- ObjectHeader.size)
        }
        if tracked { noteYoungObject(block, isSmall: isSmall) }
        return ObjectRef(block)
    }

    /// Zeroes the slots and payload of a `size`-byte object, `size` ≤ header + 64, 16 bytes at a
    /// time up to its end rounded to 16 (blocks are multiples of 16 bytes). Straight-line stores,
    /// not a loop (which the optimizer turns into a call to memset).
    @inline(__always)
    private func zeroSmallBody(_ block: UnsafeMutableRawPointer, size: Int) {
        let zero = (UInt64(0), UInt64(0))
        if size > ObjectHeader.size { (block + 32).storeBytes(of: zero, as: (UInt64, UInt64).self) }
        if size > ObjectHeader.size + 16 { (block + 48).storeBytes(of: zero, as: (UInt64, UInt64).self) }
        if size > ObjectHeader.size + 32 { (block + 64).storeBytes(of: zero, as: (UInt64, UInt64).self) }
        if size > ObjectHeader.size + 48 { (block + 80).storeBytes(of: zero, as: (UInt64, UInt64).self) }
    }

    /// Stores `value` (retained for the slot) into slot `index` of `object`, and releases what was
    /// there. `value` nil empties the slot.
    public func store(_ value: ObjectRef?, into object: ObjectRef, slot index: Int) {
        require(index >= 0 && index < object.slotCount, "heapd: slot \(index) of an object with \(object.slotCount) slots")
        if let value { retain(value) }
        let old = object.slot(index).pointee.exchange(value?.bits ?? 0, ordering: .sequentiallyConsistent)
        if let old = ObjectRef(bits: old) { release(old) }
    }

    /// `store`, handing over the caller's reference to `value` instead of taking a new one.
    public func store(consuming value: ObjectRef?, into object: ObjectRef, slot index: Int) {
        require(index >= 0 && index < object.slotCount, "heapd: slot \(index) of an object with \(object.slotCount) slots")
        let old = object.slot(index).pointee.exchange(value?.bits ?? 0, ordering: .sequentiallyConsistent)
        if let old = ObjectRef(bits: old) { release(old) }
    }

    /// `store(consuming:into:slot:)` into an object that no other thread can reach: made by this
    /// thread and not yet stored where another thread could read it (the interpreter's compiler
    /// proves it for objects held in one register since their `new`). With no concurrent writer
    /// and no concurrent reader, a plain load and store replace the exchange (no locked
    /// instruction); the collector reads the slot only with the world stopped, after the
    /// safepoint handshake. What was in the slot is released as `store` releases it.
    @inlinable @inline(__always)
    public func storeUnpublished(consuming value: ObjectRef?, into object: ObjectRef, slot index: Int) {
        let slot = object.slot(checked: index)
        let old = slot.pointee.load(ordering: .relaxed)
        slot.pointee.store(value?.bits ?? 0, ordering: .relaxed)
        if let old = ObjectRef(bits: old) { release(old) }
    }

    /// A new reference to what slot `index` of `object` holds, or nil. Safe while other threads
    /// store into the same slot.
    ///
    /// Under biased counting, a referent this mutator owns is retained on the owner's path with
    /// no re-check: only the owner frees an object it owns (other threads' releases go to the
    /// shared count or queue it back to the owner), and the owner is here, so the referent read
    /// from the slot cannot die in between. Reading the owner of a referent that another thread
    /// just freed is safe as in `tryRetain`: QSBR keeps the block from reuse, and a dead object's
    /// owner is never this mutator.
    @inlinable @inline(__always)
    public func load(_ object: ObjectRef, slot index: Int) -> ObjectRef? {
        let word = object.slot(checked: index)
        guard let referent = ObjectRef(bits: word.pointee.load(ordering: .sequentiallyConsistent)) else { return nil }
        if _fastPath(storage.pointee.policy == .biased && BiasedCounting.retainIfOwner(referent, mutatorID: id)) { return referent }
        return loadRetained(word)
    }

    /// The try-retain-then-re-check loop over one slot (an atomic word holding an object
    /// address that a writer empties before it releases the referent).
    @usableFromInline
    func loadRetained(_ word: UnsafeMutablePointer<Atomic<UInt>>) -> ObjectRef? {
        while true {
            guard let referent = ObjectRef(bits: word.pointee.load(ordering: .sequentiallyConsistent)) else { return nil }
            if retainIfStriped(referent) { return referent }
            if retainFromSlot(referent) {
                if word.pointee.load(ordering: .sequentiallyConsistent) == referent.bits { return referent }
                release(referent)
            }
        }
    }

    /// A reference to an object just read from a slot, if it is striped: only a pause frees a
    /// striped object, and none comes while this mutator runs, so the reference needs no
    /// re-check of the slot (the slot held the object when it was read). A header that says
    /// striped is a live striped object's: QSBR keeps a freed block from reuse until this
    /// mutator's next quiescent point, and no freed object carries the mark (a pause unstripes
    /// what it frees). False, nothing done, otherwise.
    @inline(__always)
    private func retainIfStriped(_ referent: ObjectRef) -> Bool {
        guard Striping.isStriped(referent) else { return false }
        Striping.add(1, to: referent, storage: storage)
        return true
    }

    /// A speculative reference to an object just read from a slot, to be confirmed by re-reading
    /// the slot: try-retain, and under biased counting the slot pin when try-retain refused a 0
    /// word (RefCounting+Biased). False when the object is dying (the slot has changed already).
    @inline(__always)
    private func retainFromSlot(_ referent: ObjectRef) -> Bool {
        tryRetain(referent) || (storage.pointee.policy == .biased && BiasedCounting.pinFromSlot(referent))
    }

    /// A new reference, if it holds an object, from a shared word that holds either an object
    /// address or a value whose low four bits are not all zero (object addresses are 16-byte
    /// aligned, so such values can be told apart: an interpreter's tagged integers). Safe while
    /// other threads exchange the word: the same try-retain-then-re-check as `load`.
    public func loadShared(_ word: UnsafeMutablePointer<Atomic<UInt>>) -> UInt {
        while true {
            let bits = word.pointee.load(ordering: .sequentiallyConsistent)
            guard bits != 0, bits & 15 == 0 else { return bits }
            let referent = ObjectRef(bits: bits)!
            if retainIfStriped(referent) { return bits }
            if retainFromSlot(referent) {
                if word.pointee.load(ordering: .sequentiallyConsistent) == bits { return bits }
                release(referent)
            }
        }
    }

    /// Slot `index` of `object` is empty. No reference is taken (nothing is returned).
    @inlinable @inline(__always)
    public func slotIsEmpty(_ object: ObjectRef, slot index: Int) -> Bool {
        object.slot(checked: index).pointee.load(ordering: .relaxed) == 0
    }

    /// What slot `index` holds, without taking a reference: valid only while the caller keeps the
    /// container alive and no other thread stores into that slot (introspection, the verifier).
    public func peek(_ object: ObjectRef, slot index: Int) -> ObjectRef? {
        ObjectRef(bits: object.slot(index).pointee.load(ordering: .acquiring))
    }
}

/// Bits of `ObjectHeader.gcBits` (the collector issue adds generations and marks).
enum GCBits {
    /// The object has reference slots, so the cycle collector looks at it.
    static let tracked: UInt8 = 1 << 0
    /// Weak references to the object exist (they are in the heap's weak table).
    static let hasWeakReferences: UInt8 = 1 << 1
    /// The collector ran the object's finalizer (PEP 442: never again).
    static let finalized: UInt8 = 1 << 2
    /// Frozen (gc.freeze): in the permanent generation, ignored by collections.
    static let frozen: UInt8 = 1 << 3
    /// The object's generation, 0...2 (Collector/Generations.swift).
    static let generationShift: UInt8 = 4
    static let generationMask: UInt8 = 3 << 4
    /// Immortal (the local count says so too): never counted, freed or collected.
    static let immortal: UInt8 = 1 << 6
    /// The object is dead; its block waits for QSBR or is about to be freed.
    static let dead: UInt8 = 1 << 7
}
