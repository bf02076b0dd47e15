// The parts of Python's `gc` module that need no generations: tracking, finalized state,
// referents and referrers, and freezing.
//
//   isTracked      objects with reference slots are tracked (CPython untracks atoms likewise)
//   isFinalized    the collector ran the object's finalizer
//   referents      what the object's slots hold
//   referrers      the live objects whose slots hold the object (a walk of the heap, world stopped)
//   freeze         every live tracked object moves to a permanent generation that collections
//                  ignore (objects it references stay alive through their counts); unfreeze
//                  brings them back, each to the generation it had (its page marked again for
//                  it); freezeCount says how many there are

import Synchronization

extension Heap {
    public func isTracked(_ object: ObjectRef) -> Bool {
        object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.tracked != 0
    }

    public func isFinalized(_ object: ObjectRef) -> Bool {
        object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.finalized != 0
    }

    /// New references to what `object`'s slots hold (the caller releases them).
    public func referents(of object: ObjectRef, mutator: Mutator) -> [ObjectRef] {
        (0..<object.slotCount).compactMap { mutator.load(object, slot: $0) }
    }

    /// New references to every live object whose slots hold `target`, once per object (the caller
    /// releases them). Stops the world to walk the heap; the caller must be a mutator.
    public func referrers(of target: ObjectRef) -> [ObjectRef] {
        guard let me = Mutator.current else { misuse("heapd: referrers(of:) from a thread that is not a mutator") }
        return stopTheWorld {
            var found: [ObjectRef] = []
            allocator.forEachAllocatedBlock { block, _ in
                let object = ObjectRef(block)
                guard object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0 else { return }
                for index in 0..<object.slotCount where object.slot(index).pointee.load(ordering: .relaxed) == target.bits {
                    me.retain(object)
                    found.append(object)
                    return
                }
            }
            return found
        }
    }

    /// Moves every live tracked object to the permanent generation. Returns how many it moved.
    @discardableResult
    public func freeze() -> Int {
        setFrozen(true)
    }

    /// Returns every frozen object to the collected generations. Returns how many it moved.
    @discardableResult
    public func unfreeze() -> Int {
        setFrozen(false)
    }

    /// The number of frozen live objects.
    public var freezeCount: Int {
        stopTheWorld {
            var count = 0
            forEachLiveObject { if $0.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.frozen != 0 { count += 1 } }
            return count
        }
    }

    private func setFrozen(_ frozen: Bool) -> Int {
        stopTheWorld {
            var changed = 0
            forEachLiveObject { object in
                let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
                guard bits & GCBits.tracked != 0, (bits & GCBits.frozen != 0) != frozen else { return }
                object.header.pointee.gcBits.store(frozen ? bits | GCBits.frozen : bits & ~GCBits.frozen, ordering: .relaxed)
                changed += 1
                // A young collection while it was frozen may have cleared its page's mark for
                // its generation: mark the page again, or young collections would not see it.
                let generation = (bits & GCBits.generationMask) >> GCBits.generationShift
                if !frozen && generation < 2 && object.isSmall {
                    Arena.page(containing: object.bits).pointee.markGeneration(generation)
                }
            }
            return changed
        }
    }

    /// Every live object (world stopped).
    private func forEachLiveObject(_ body: (ObjectRef) -> Void) {
        assertWorldStopped()
        allocator.forEachAllocatedBlock { block, _ in
            let object = ObjectRef(block)
            if object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0 { body(object) }
        }
    }
}
