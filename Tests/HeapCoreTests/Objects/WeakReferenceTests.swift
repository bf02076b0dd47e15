@testable import HeapCore
import Foundation
import Testing

@Suite struct WeakReferenceTests {
    @Test(arguments: RefCountPolicyKind.allCases)
    func aWeakReferenceDerefsToTheObjectWhileItLivesAndToNothingAfter(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        withMutator(heap) { m in
            let a = m.new(node)!
            let w = m.newWeakReference(to: a)!
            #expect(m.refcount(a) == 1)                  // a weak reference does not count
            let strong = m.deref(w)
            #expect(strong == a)
            m.release(strong!)
            m.release(a)
            #expect(m.deref(w) == nil)
            #expect(heap.verify(roots: [w]) == [])
            m.release(w)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test(arguments: RefCountPolicyKind.allCases)
    func callbacksRunAfterClearingOnlyForLiveWeakReferences(_ policy: RefCountPolicyKind) {
        let calls = Locked<[String]>([])
        let heap = Heap(policy: policy, weakCallback: { m, weak, callback in
            // The referent is already cleared when the callback runs.
            calls.withLock { $0.append("callback \(callback.payload.load(as: Int.self)) deref \(m.deref(weak) == nil ? "none" : "object")") }
        }, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"])
        let tag = heap.types.register(name: "Tag", payloadBytes: 8)
        withMutator(heap) { m in
            let a = m.new(node)!
            let one = m.new(tag)!
            one.payload.storeBytes(of: 1, as: Int.self)
            let two = m.new(tag)!
            two.payload.storeBytes(of: 2, as: Int.self)
            let kept = m.newWeakReference(to: a, callback: one)!
            let dropped = m.newWeakReference(to: a, callback: two)!
            m.release(one)
            m.release(two)
            m.release(dropped)                           // the weak reference itself dies first
            m.release(a)
            #expect(calls.withLock { $0 } == ["callback 1 deref none"])
            m.release(kept)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }
}
