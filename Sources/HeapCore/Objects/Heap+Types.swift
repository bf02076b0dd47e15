// Heap+Types: giving type ids back to the registry when no object carries them any more.
//
// A block's header names its type by id. An id given back while a block still carries it would
// make that block, later, an object of whatever type takes the id next: wrong slot names, another
// finalizer, another owner's hooks. So an id is given back only when a walk of every allocated
// block finds none with it — live objects, frozen ones, garbage the collector has not found yet,
// and dead objects whose blocks wait for QSBR (counted although dead: their headers still hold
// the id) — and the walk runs with the world stopped, so that no mutator makes or frees an object
// meanwhile:
//
//   unregistered id  =>  no allocated block b with b.typeID == id
//
// The caller promises the rest: nobody will make an object of these types again (it handed their
// ObjectType to no code that still runs). The heap's weak-reference type is never given back.
//
// Thread safety: called by a mutator of this heap outside a pause; it stops the world.

extension Heap {
    /// Unregisters each of `ids` that no allocated block of the heap carries and returns the
    /// others, still registered, in the order given. The caller must be a mutator of this heap,
    /// outside a pause, and nobody may make objects of these types any more.
    public func unregisterUnusedTypes(_ ids: [Int]) -> [Int] {
        require(!ids.contains(weakReferenceType.id), "heapd: the weak-reference type cannot be unregistered")
        require(Mutator.current?.heap === self && !isInsidePause,
                "heapd: unregisterUnusedTypes from a thread that is not a mutator of this heap, or inside a pause")
        guard !ids.isEmpty else { return [] }
        let candidates = Set(ids)
        return stopTheWorld {
            var carried = Set<Int>()
            allocator.forEachAllocatedBlock { block, _ in
                let id = ObjectRef(block).typeID
                if candidates.contains(id) { carried.insert(id) }
            }
            for id in candidates where !carried.contains(id) { types.unregister(id) }
            return ids.filter { carried.contains($0) }
        }
    }
}
