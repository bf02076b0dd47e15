// Biased reference counting (PEP 703; Choi, Shull, Torrellas, PACT 2018; CPython's object.c and
// brc.c), in the same steps as CPython's so that the two can be read side by side:
//
//   owner retain       localCount += 1                      relaxed load + store, no RMW
//   owner release      localCount -= 1; at zero: if shared == 0 free at once (no RMW at all),
//                      else merge (ownerID = 0, state merged) and free if the merged count is 0
//   other retain       shared += 1 << 2                     atomic add
//   other release      if shared is 0 (or 0 and maybeShared): state = queued, and the object goes
//                      to its owner's merge queue (the queue holds that reference); else shared -=
//                      1 << 2, and a merged object whose count reaches 0 is freed (a merged
//                      object's release is a fetch-sub, not a CAS: it cannot go below zero)
//   owner merge        at its next safepoint, for each queued object: count = local + shared - 1,
//                      state merged, owner 0; free at 0
//   detached owner     a queue with no owner merges on the spot (Heap+MergeQueue)
//   try-retain         (weak references, the weak table) owner: local += 1; others: CAS +1 on
//                      the shared word, refusing a word of 0 (the owner may be freeing with no
//                      RMW at all) and a dead merged one: CPython's _Py_TryIncRefShared. Objects
//                      that other threads reach through weak references carry the maybeShared
//                      state (markMaybeShared), so a live one never shows a 0 word
//   striped            (Striping.swift) other retains and releases, try-retains included, go to
//                      the calling mutator's table; the object is freed by a pause, never a release
//   slot pin           (lock-free loads from shared slots, after try-retain refused a 0 word)
//                      CAS 0 -> maybeShared + 1, then the caller re-checks the slot: a writer
//                      empties a slot before it releases the referent, so if the slot still holds
//                      it the owner's zero path had not seen 0 (Mutator+Objects)

import Synchronization

public enum BiasedCounting: RefCountPolicy {
    public static var kind: RefCountPolicyKind { .biased }

    public static func initialize(_ object: ObjectRef, mutatorID: UInt32) {
        object.header.pointee.localCount.store(1, ordering: .relaxed)
    }

    /// Budget (owner): two loads, a compare, a store, falling straight through (the other
    /// threads' path branches away). Immortal objects have no owner (`makeImmortal`), so the
    /// owner test also keeps them off this path: one compare and branch, not two.
    @inlinable @inline(__always)
    public static func retain(_ object: ObjectRef, mutatorID: UInt32) {
        if _fastPath(retainIfOwner(object, mutatorID: mutatorID)) { return }
        retainOther(object)
    }

    /// The owner's retain, when `mutatorID` owns `object`; false (nothing done) otherwise.
    @inlinable @inline(__always)
    public static func retainIfOwner(_ object: ObjectRef, mutatorID: UInt32) -> Bool {
        let header = object.header
        guard header.pointee.ownerID.load(ordering: .relaxed) == mutatorID else { return false }
        header.pointee.localCount.store(header.pointee.localCount.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        return true
    }

    /// A retain by a thread that does not own the object, or of an immortal object. A striped
    /// object's goes to the calling mutator's table (Striping.swift); others' are counted in the
    /// hot-object table, which may ask for the object to be striped.
    @usableFromInline @inline(never)
    static func retainOther(_ object: ObjectRef) {
        if Striping.isStriped(object) { return Striping.add(1, to: object, storage: nil) }
        if object.isImmortal { return }
        object.header.pointee.shared.wrappingAdd(SharedState.one, ordering: .relaxed)
        Striping.noteOperation(on: object, storage: nil, holding: true)
    }

    /// Budget (owner, not last): two loads, a compare, a store, a test.
    @inlinable @inline(__always)
    public static func release(_ object: ObjectRef, mutator: Mutator) -> Bool {
        let header = object.header
        if _fastPath(header.pointee.ownerID.load(ordering: .relaxed) == mutator.id) {
            let local = header.pointee.localCount.load(ordering: .relaxed)
            header.pointee.localCount.store(local &- 1, ordering: .relaxed)
            // `_slowPath`: the last reference is the rare case, so the common one falls straight
            // through to the caller's next instruction instead of jumping over this block (a
            // taken branch per release: the owner pair took 0.81 ns with it, 0.61 without).
            if _slowPath(local == 1) {
                // Sequentially consistent: see mergeZeroLocal. A zero word means no other thread
                // has a reference and none can take one: free with no RMW at all.
                let shared = header.pointee.shared.load(ordering: .sequentiallyConsistent)
                return shared == 0 || mergeZeroLocal(object, shared: shared)
            }
            return false
        }
        return releaseOther(object, mutator: mutator)
    }

    /// A release by a thread that does not own the object, or of an immortal object.
    @usableFromInline @inline(never)
    static func releaseOther(_ object: ObjectRef, mutator: Mutator) -> Bool {
        // Never freed by a release: the pause that finds its merged count at 0 frees it.
        if Striping.isStriped(object) {
            Striping.add(-1, to: object, storage: mutator.storage)
            return false
        }
        if object.isImmortal { return false }
        // Counted before the release: the object may be freed by it.
        Striping.noteOperation(on: object, storage: mutator.storage, holding: false)
        return releaseShared(object, mutator: mutator)
    }

    /// The owner's count reached zero. CPython's _Py_MergeZeroLocalRefcount.
    /// `shared` was read (sequentially consistent) after the local count reached zero, and is not 0.
    /// That load pairs with a reader's CAS on `shared` followed by its re-check of the slot
    /// (Mutator+Objects): either we see its increment or it sees the slot change.
    @usableFromInline @inline(never)
    static func mergeZeroLocal(_ object: ObjectRef, shared observed: Int) -> Bool {
        let header = object.header
        var shared = observed
        header.pointee.ownerID.store(0, ordering: .relaxed)
        while true {
            let merged = (shared & ~SharedState.mask) | SharedState.merged
            let (exchanged, original) = header.pointee.shared.compareExchange(
                expected: shared, desired: merged, ordering: .sequentiallyConsistent)
            if exchanged { return merged == SharedState.merged }
            shared = original
        }
    }

    /// A release by a thread that does not own the object. CPython's _Py_DecRefShared.
    @usableFromInline @inline(never)
    static func releaseShared(_ object: ObjectRef, mutator: Mutator) -> Bool {
        let header = object.header
        var shared = header.pointee.shared.load(ordering: .relaxed)
        // A merged object has no owner and never leaves that state (but for a pause, which no
        // release overlaps), and its count includes our reference: a fetch-sub cannot take it
        // below zero, and is cheaper under contention than the CAS loop that the queueing
        // decision of the other states needs (one locked instruction, no retries).
        if SharedState.state(shared) == SharedState.merged {
            // Sequentially consistent, as the CAS below: the thread that frees sees every other
            // thread's writes to the object.
            let old = header.pointee.shared.wrappingSubtract(SharedState.one, ordering: .sequentiallyConsistent).oldValue
            return old == SharedState.one | SharedState.merged
        }
        var queue: Bool
        var desired: Int
        repeat {
            queue = shared == 0 || shared == SharedState.maybeShared
            desired = queue ? SharedState.queued : shared &- SharedState.one
            // Acquire-release: a thread that frees sees every other thread's writes to the object.
            let (exchanged, original) = header.pointee.shared.compareExchange(
                expected: shared, desired: desired, ordering: .sequentiallyConsistent)
            if exchanged { break }
            shared = original
        } while true
        if queue {
            return mutator.withHeap { $0.queueToOwner(object) }
        }
        return desired == SharedState.merged
    }

    /// Folds the local count and `extra` into `shared`, leaves the object ownerless (merged), and
    /// returns the merged count. CPython's _Py_ExplicitMergeRefcount.
    static func merge(_ object: ObjectRef, extra: Int) -> Int {
        let header = object.header
        var shared = header.pointee.shared.load(ordering: .relaxed)
        let local = Int(header.pointee.localCount.load(ordering: .relaxed))
        while true {
            let count = SharedState.count(shared) + local + extra
            let desired = (count << SharedState.shift) | SharedState.merged
            let (exchanged, original) = header.pointee.shared.compareExchange(
                expected: shared, desired: desired, ordering: .sequentiallyConsistent)
            if exchanged {
                header.pointee.localCount.store(0, ordering: .relaxed)
                header.pointee.ownerID.store(0, ordering: .relaxed)
                return count
            }
            shared = original
        }
    }

    public static func tryRetain(_ object: ObjectRef, mutatorID: UInt32) -> Bool {
        let header = object.header
        let local = header.pointee.localCount.load(ordering: .relaxed)
        if local == ObjectHeader.immortalCount { return true }
        let owner = header.pointee.ownerID.load(ordering: .relaxed)
        if owner == mutatorID {
            // Only the owner can free an object it owns, and it is here.
            header.pointee.localCount.store(local &+ 1, ordering: .relaxed)
            return true
        }
        // Only a pause frees a striped object, and none runs while this mutator does.
        if owner == Striping.owner {
            Striping.add(1, to: object, storage: nil)
            return true
        }
        var shared = header.pointee.shared.load(ordering: .relaxed)
        while true {
            // 0: the owner's zero path frees without an RMW, so an increment could land on an
            // object it is freeing. Merged with count 0: dead.
            if shared == 0 || shared == SharedState.merged { return false }
            // Sequentially consistent: pairs with the owner's load in `release` (a zero path that
            // reads our increment merges instead of freeing) and with the re-check that follows.
            let (exchanged, original) = header.pointee.shared.compareExchange(
                expected: shared, desired: shared &+ SharedState.one, ordering: .sequentiallyConsistent)
            if exchanged {
                // Loads from shared slots and globals come this way: they count towards striping.
                Striping.noteOperation(on: object, storage: nil, holding: true)
                return true
            }
            shared = original
        }
    }

    /// A non-owner's reference to an object read from a shared slot whose shared word is 0 (only
    /// its owner counts it): the word becomes maybeShared with a count of 1. Valid only if the
    /// caller then re-reads the slot and gives the reference back when it changed: the writer
    /// that empties the slot does so before releasing the object, so if the re-read still finds
    /// it, the owner's zero path had not yet read the shared word, and will read ours (both
    /// sequentially consistent). False when the word is no longer 0.
    static func pinFromSlot(_ object: ObjectRef) -> Bool {
        object.header.pointee.shared.compareExchange(
            expected: 0, desired: SharedState.maybeShared | SharedState.one, ordering: .sequentiallyConsistent).exchanged
    }

    /// Takes one reference off a merged object's shared count without freeing it at zero: for
    /// the collector, with the world stopped, handing a reference it holds to garbage it frees.
    static func dropMergedReference(_ object: ObjectRef) {
        assert(SharedState.state(object.header.pointee.shared.load(ordering: .relaxed)) == SharedState.merged,
               "heapd: dropMergedReference of an object that is not merged")
        object.header.pointee.shared.wrappingSubtract(SharedState.one, ordering: .relaxed)
    }

    /// Moves the shared word from the default state to maybeShared, whatever its count, so that
    /// the owner's zero path goes through a CAS that try-retain can race with safely. CPython's
    /// _PyObject_SetMaybeWeakref: queued and merged words are left alone (they already force
    /// that path).
    static func markMaybeShared(_ object: ObjectRef) {
        if object.isImmortal { return }
        let header = object.header
        var word = header.pointee.shared.load(ordering: .relaxed)
        while SharedState.state(word) == SharedState.default {
            let (exchanged, original) = header.pointee.shared.compareExchange(expected: word, desired: word | SharedState.maybeShared, ordering: .sequentiallyConsistent)
            if exchanged { return }
            word = original
        }
    }

    /// Local + shared; for a striped object the merged count alone, which is its true count in
    /// a pause once the tables are merged (Heap+Striping), as the collector's passes need it.
    public static func count(_ object: ObjectRef) -> Int {
        if Striping.isStriped(object) { return SharedState.count(object.header.pointee.shared.load(ordering: .relaxed)) }
        let local = object.header.pointee.localCount.load(ordering: .relaxed)
        if local == ObjectHeader.immortalCount { return Int(local) }
        return Int(local) + SharedState.count(object.header.pointee.shared.load(ordering: .relaxed))
    }
}
