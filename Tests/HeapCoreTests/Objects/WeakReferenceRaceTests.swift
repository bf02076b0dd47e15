// Weak references between threads (issue 12): try-retain must never revive an object whose
// death is decided, whether the object is a weak reference's referent or the weak reference
// itself. The deterministic tests park the dying thread at a test hook (TestHooks.swift) while
// another thread races it; the stress test drops objects on one thread while others dereference
// weak references to them, with the verifier after.

@testable import HeapCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Testing

@Suite struct WeakReferenceRaceTests {
    /// Runs `dying` on one mutator thread and, when it reaches the hook that `install` wires up,
    /// `racing` on a second mutator thread while the first waits there.
    private func race(_ heap: Heap, install: (TestHooks, @escaping @Sendable (ObjectRef) -> Void) -> Void,
                      setUp: @escaping @Sendable (Mutator) -> Void, dying: @escaping @Sendable (Mutator) -> Void,
                      racing: @escaping @Sendable (Mutator) -> Void) {
        let hooks = TestHooks()
        let reached = DispatchSemaphore(value: 0), raced = DispatchSemaphore(value: 0)
        let armed = Atomic<Bool>(false)
        install(hooks) { _ in
            guard armed.exchange(false, ordering: .relaxed) else { return }
            reached.signal()
            raced.wait()                       // the racer runs while this thread is parked here
        }
        heap.testHooks = hooks
        let ready = Barrier(parties: 2)
        runOnThreads(2) { i in
            let m = heap.attachCurrentThread()
            if i == 0 {
                setUp(m)
                armed.store(true, ordering: .relaxed)
                ready.wait(as: m)
                // Inside the hook this thread waits in a blocking region's stead: the racer
                // does not stop the world.
                dying(m)
            } else {
                ready.wait(as: m)
                m.enterBlockingRegion()
                reached.wait()
                m.leaveBlockingRegion()
                racing(m)
                raced.signal()
            }
            heap.detachCurrentThread()
        }
    }

    /// The referent's owner decides its death (count 0) and stops just before clearing its weak
    /// references; another thread dereferences one meanwhile. Before, a referent whose shared word
    /// was not 0 when its weak reference was made never became maybeShared, its word went back to
    /// 0, the owner freed it without a CAS, and the deref's try-retain turned that 0 into a live
    /// count: a reference to a freed object.
    @Test func aDerefRacingTheReferentsDeathGetsNothing() {
        let heap = Heap(collector: .manual)
        let plain = heap.types.register(name: "Plain", slots: ["r"])
        let shared = Locked<(referent: ObjectRef?, weak: ObjectRef?)>((nil, nil))
        let got = Locked<ObjectRef??>(nil)
        race(heap, install: { hooks, park in hooks.dyingWithWeakReferences = park }, setUp: { m in
            let referent = m.new(plain)!
            // Another thread's reference (the same steps as its retain and release) makes the
            // shared word non-zero while the weak reference is made, then goes away.
            BiasedCounting.retainOther(referent)
            let weak = m.newWeakReference(to: referent)!
            _ = BiasedCounting.releaseShared(referent, mutator: m)
            // The weak reference must have made the referent maybeShared whatever its count was.
            #expect(referent.header.pointee.shared.load(ordering: .relaxed) == SharedState.maybeShared)
            shared.withLock { $0 = (referent, weak) }
        }, dying: { m in
            m.release(shared.withLock { $0.referent! })
        }, racing: { m in
            let result = m.deref(shared.withLock { $0.weak! })
            got.withLock { $0 = .some(result) }
        })
        #expect(got.withLock { $0 } == .some(nil))
        withMutator(heap) { m in
            m.release(shared.withLock { $0.weak! })
            #expect(heap.liveObjectsByType().isEmpty)
            #expect(heap.stopTheWorld { heap.verify(roots: []) } == [])
        }
    }

    /// A weak reference whose own count reached zero waits for the weak table's lock to leave it;
    /// meanwhile another thread frees its referent and walks the table. Before, its try-retain
    /// revived the dying weak reference, ran its callback and released it: freed twice.
    @Test func aDyingWeakReferenceGetsNoCallbackFromItsReferentsDeath() {
        let calls = Atomic<Int>(0)
        let heap = Heap(weakCallback: { _, _, _ in calls.add(1, ordering: .relaxed) }, collector: .manual)
        let plain = heap.types.register(name: "Plain", slots: ["r"])
        let shared = Locked<(referent: ObjectRef?, weak: ObjectRef?)>((nil, nil))
        race(heap, install: { hooks, park in hooks.weakReferenceDying = park }, setUp: { m in
            let referent = m.new(plain)!, callback = m.new(plain)!
            let weak = m.newWeakReference(to: referent, callback: callback)!
            m.release(callback)
            // Ownerless (as after a hand-off), so that the racer's release frees it on the racer.
            _ = BiasedCounting.merge(referent, extra: 0)
            shared.withLock { $0 = (referent, weak) }
        }, dying: { m in
            m.release(shared.withLock { $0.weak! })
        }, racing: { m in
            m.release(shared.withLock { $0.referent! })
        })
        #expect(calls.load(ordering: .relaxed) == 0)
        withMutator(heap) { _ in
            #expect(heap.liveObjectsByType().isEmpty)
            #expect(heap.stopTheWorld { heap.verify(roots: []) } == [])
        }
    }

    /// markMaybeShared ORs the state into a word with a count (CPython's _PyObject_SetMaybeWeakref)
    /// and leaves queued and merged words alone.
    @Test func markingMaybeSharedKeepsTheCountAndLeavesOtherStatesAlone() {
        let heap = Heap(collector: .manual)
        let plain = heap.types.register(name: "Plain", slots: ["r"])
        withMutator(heap) { m in
            let object = m.new(plain)!
            for (word, expected) in [(0, SharedState.maybeShared), (3 << SharedState.shift, 3 << SharedState.shift | SharedState.maybeShared),
                                     (SharedState.queued, SharedState.queued), (2 << SharedState.shift | SharedState.merged, 2 << SharedState.shift | SharedState.merged)] {
                object.header.pointee.shared.store(word, ordering: .relaxed)
                BiasedCounting.markMaybeShared(object)
                #expect(object.header.pointee.shared.load(ordering: .relaxed) == expected)
            }
            object.header.pointee.shared.store(0, ordering: .relaxed)
            m.release(object)
        }
    }

    /// try-retain by another thread refuses a 0 word (the owner may be freeing with no RMW) and a
    /// dead merged one (CPython's _Py_TryIncRefShared), and takes any other.
    @Test func tryRetainRefusesZeroAndDeadWords() {
        let heap = Heap(collector: .manual)
        let plain = heap.types.register(name: "Plain", slots: ["r"])
        withMutator(heap) { m in
            let object = m.new(plain)!
            let stranger = m.id &+ 1000
            object.header.pointee.shared.store(0, ordering: .relaxed)
            #expect(!BiasedCounting.tryRetain(object, mutatorID: stranger))
            object.header.pointee.shared.store(SharedState.merged, ordering: .relaxed)
            #expect(!BiasedCounting.tryRetain(object, mutatorID: stranger))
            object.header.pointee.shared.store(SharedState.maybeShared, ordering: .relaxed)
            #expect(BiasedCounting.tryRetain(object, mutatorID: stranger))
            #expect(object.header.pointee.shared.load(ordering: .relaxed) == SharedState.maybeShared | SharedState.one)
            // The owner always may.
            #expect(BiasedCounting.tryRetain(object, mutatorID: m.id))
            object.header.pointee.localCount.store(1, ordering: .relaxed)
            object.header.pointee.shared.store(0, ordering: .relaxed)
            m.release(object)
        }
    }

    /// One thread owns objects with weak references and drops them; the others dereference the
    /// weak references all the while, and check every object they get is alive (its payload
    /// still holds the magic its owner wrote, its count at least their own reference).
    @Test(arguments: [(RefCountPolicyKind.biased, 11), (.biased, 12), (.atomic, 13), (.globalLock, 14)])
    func derefsRaceTheReferentsOwnerDroppingThem(_ policy: RefCountPolicyKind, _ seed: Int) {
        let heap = Heap(policy: policy, weakCallback: { _, _, _ in }, collector: .manual)
        let plain = heap.types.register(name: "Plain", slots: ["r"], payloadBytes: 8)
        let rounds = max(Int(200 * stressScale), 20), batch = 64, readers = 2
        let magic: UInt64 = 0x5EED_CAFE_F00D_D00D
        let weaks = Locked<[ObjectRef]>([])
        let published = Atomic<Int>(0), consumed = Atomic<Int>(0)
        let bad = Atomic<Int>(0), hits = Atomic<Int>(0)
        runOnThreads(1 + readers) { i in
            let m = heap.attachCurrentThread()
            var random = SeededRandom(seed: UInt64(seed * 100 + i))
            for round in 0..<rounds {
                if i == 0 {
                    var objects: [ObjectRef] = []
                    var made: [ObjectRef] = []
                    for _ in 0..<batch {
                        let object = m.new(plain)!
                        object.payload.storeBytes(of: magic, as: UInt64.self)
                        // Some with a callback (a live weak reference gets it), some without.
                        let callback = random.next() % 2 == 0 ? m.new(plain) : nil
                        made.append(m.newWeakReference(to: object, callback: callback)!)
                        if let callback { m.release(callback) }
                        objects.append(object)
                    }
                    weaks.withLock { $0 = made }
                    published.store(round + 1, ordering: .releasing)
                    // Drop them in a random order while the readers dereference.
                    objects.shuffle(using: &random)
                    for object in objects {
                        m.release(object)
                        if random.next() % 8 == 0 { m.safepoint() }
                    }
                    // Wait for the readers to finish with this round's weak references.
                    m.enterBlockingRegion()
                    while consumed.load(ordering: .acquiring) < (round + 1) * readers { sched_yield() }
                    m.leaveBlockingRegion()
                    for weak in made { m.release(weak) }
                } else {
                    m.enterBlockingRegion()
                    while published.load(ordering: .acquiring) < round + 1 { sched_yield() }
                    m.leaveBlockingRegion()
                    let mine = weaks.withLock { $0 }
                    for weak in mine { m.retain(weak) }
                    for _ in 0..<4 {
                        for weak in mine.shuffled(using: &random) {
                            guard let object = m.deref(weak) else { continue }
                            hits.add(1, ordering: .relaxed)
                            if object.payload.load(as: UInt64.self) != magic || m.refcount(object) < 1
                                || heap.isDeadForTesting(object) { bad.add(1, ordering: .relaxed) }
                            m.release(object)
                        }
                        m.safepoint()
                    }
                    for weak in mine { m.release(weak) }
                    consumed.add(1, ordering: .releasing)
                }
            }
            heap.detachCurrentThread()
        }
        #expect(bad.load(ordering: .relaxed) == 0)
        withMutator(heap) { _ in
            #expect(heap.liveObjectsByType().isEmpty)
            #expect(heap.stopTheWorld { heap.verify(roots: []) } == [])
        }
    }
}

extension Heap {
    /// Whether `object`'s dead bit is set (tests only).
    func isDeadForTesting(_ object: ObjectRef) -> Bool {
        object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead != 0
    }
}
