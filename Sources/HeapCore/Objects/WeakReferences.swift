// Weak references: objects of the heap's built-in `weakref` type.
//
//   slot 0 "callback"   an object (counted), or empty
//   payload             the referent's address (uncounted), an atomic word; 0 once cleared
//
// The heap's weak table maps each referent to its weak references. When the referent dies, its
// weak references are cleared under the table's lock before anything else happens to it; then,
// with no lock held, the callback of each weak reference that is itself still alive runs (a dead
// weak reference has already left the table: CPython's rule that callbacks of unreachable weak
// references do not run).
//
// `deref` is try-retain the referent, then re-check the word. Under biased counting a weak
// reference marks its referent maybeShared (whatever its count; the state never goes back), so
// the owner's last release goes through a CAS, and a concurrent deref either gets its reference
// first or finds the object dead (try-retain refuses it). Unlike a slot, the word is cleared only
// after the referent's death is decided, so deref must never revive a 0 word as a slot load may.
// Weak references are marked maybeShared too: the weak table hands them to whichever thread
// frees the referent, which try-retains them to run their callbacks; one whose own count just
// reached zero is refused.

import Synchronization

extension Mutator {
    /// A new weak reference to `referent`, with an optional callback object (retained by the
    /// weak reference). The weak reference holds one reference (the caller's).
    public func newWeakReference(to referent: ObjectRef, callback: ObjectRef? = nil) -> ObjectRef? {
        let heap = self.heap
        guard let weak = new(heap.weakReferenceType) else { return nil }
        if let callback { store(callback, into: weak, slot: 0) }
        referentWord(of: weak).pointee.store(referent.bits, ordering: .releasing)
        if storage.pointee.policy == .biased {
            BiasedCounting.markMaybeShared(referent)
            BiasedCounting.markMaybeShared(weak)
        }
        heap.weakTable.withLock { table in
            table[referent.bits, default: []].append(weak.bits)
            referent.header.pointee.gcBits.bitwiseOr(GCBits.hasWeakReferences, ordering: .relaxed)
        }
        return weak
    }

    /// A new reference to the weak reference's referent, or nil once it has died.
    public func deref(_ weak: ObjectRef) -> ObjectRef? {
        require(weak.typeID == heap.weakReferenceType.id, "heapd: deref of an object that is not a weak reference")
        let word = referentWord(of: weak)
        while true {
            guard let referent = ObjectRef(bits: word.pointee.load(ordering: .sequentiallyConsistent)) else { return nil }
            // Refused: the referent is dying; the word is about to be cleared.
            guard tryRetain(referent) else { return nil }
            if word.pointee.load(ordering: .sequentiallyConsistent) == referent.bits { return referent }
            release(referent)
        }
    }

    func referentWord(of weak: ObjectRef) -> UnsafeMutablePointer<Atomic<UInt>> {
        weak.payload.assumingMemoryBound(to: Atomic<UInt>.self)
    }

}

extension Heap {
    /// Clears every weak reference to `referent` (which just died, or is cyclic garbage) and
    /// collects, with a new reference each, the live ones that have a callback. A weak reference
    /// for which `isGarbage` is true is cleared but gets no callback (CPython's rule).
    func clearWeakReferences(to referent: ObjectRef, mutator: Mutator, callbacks: inout [(weak: ObjectRef, callback: ObjectRef)],
                             isGarbage: (ObjectRef) -> Bool = { _ in false }) {
        let weaks = weakTable.withLock { table -> [ObjectRef] in
            let list = table.removeValue(forKey: referent.bits) ?? []
            var live: [ObjectRef] = []
            for bits in list {
                let weak = ObjectRef(bits: bits)!
                mutator.referentWord(of: weak).pointee.store(0, ordering: .sequentiallyConsistent)
                // A weak reference in the table may be dying (its count reached zero, and its
                // own deallocation waits for this lock to remove it): try-retain refuses it then.
                if weak.slot(0).pointee.load(ordering: .relaxed) != 0, !isGarbage(weak), mutator.tryRetain(weak) { live.append(weak) }
            }
            return live
        }
        for weak in weaks {
            if let callback = mutator.load(weak, slot: 0) {
                callbacks.append((weak, callback))
            } else {
                mutator.release(weak)
            }
        }
    }

    /// Removes a dying weak reference from the table.
    func forgetWeakReference(_ weak: ObjectRef) {
        let referent = weak.payload.assumingMemoryBound(to: Atomic<UInt>.self).pointee.load(ordering: .sequentiallyConsistent)
        guard referent != 0 else { return }
        weakTable.withLock { table in
            guard var list = table[referent] else { return }
            list.removeAll { $0 == weak.bits }
            table[referent] = list.isEmpty ? nil : list
        }
    }
}
