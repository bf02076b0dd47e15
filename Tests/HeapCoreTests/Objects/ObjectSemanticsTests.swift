// The seed article's reference-counting examples, for each policy, plus the cases around them.

@testable import HeapCore
import Foundation
import Testing

/// Runs `body` on a fresh thread attached to `heap` as a mutator, detaching afterwards.
func withMutator(_ heap: Heap, _ body: @escaping @Sendable (Mutator) -> Void) {
    runOnThreads(1) { _ in
        let mutator = heap.attachCurrentThread()
        body(mutator)
        heap.detachCurrentThread()
    }
}

@Suite struct ObjectSemanticsTests {
    @Test(arguments: RefCountPolicyKind.allCases)
    func aSecondReferenceRaisesTheCountAndDroppingItLowersIt(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let list = heap.types.register(name: "list", isArray: true)
        withMutator(heap) { m in
            let a = m.newArray(list, count: 3)!          // a = [1, 2, 3]
            #expect(m.refcount(a) == 1)
            m.retain(a)                                  // b = a
            #expect(m.refcount(a) == 2)
            m.release(a)                                 // del b
            #expect(m.refcount(a) == 1)
            #expect(heap.verify(roots: [a]) == [])
            m.release(a)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test(arguments: RefCountPolicyKind.allCases)
    func delOfOneNameLeavesTheObjectAliveWhileAnotherHoldsIt(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["ref"], payloadBytes: 16)
        withMutator(heap) { m in
            let a = m.new(node)!
            a.payload.storeBytes(of: 42, as: Int.self)
            m.retain(a)                                  // b = a
            m.release(a)                                 // del a
            #expect(heap.allocator.statistics().liveBlocks == 1)
            #expect(a.payload.load(as: Int.self) == 42)
            #expect(heap.liveObjectsByType()["Node"] == 1)
            m.release(a)                                 // the last reference: reclaimed now
            #expect(heap.allocator.statistics().liveBlocks == 0)
            #expect(heap.liveObjectsByType()["Node"] == nil)
        }
    }

    @Test(arguments: RefCountPolicyKind.allCases)
    func slotsHoldCountedReferences(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["left", "right"])
        withMutator(heap) { m in
            let parent = m.new(node)!
            let child = m.new(node)!
            m.store(child, into: parent, slot: 0)
            #expect(m.refcount(child) == 2)
            #expect(heap.verify(roots: [parent, child]) == [])
            m.release(child)                             // only the slot holds it now
            let loaded = m.load(parent, slot: 0)
            #expect(loaded == child)
            #expect(m.refcount(child) == 2)
            m.release(loaded!)
            m.store(nil, into: parent, slot: 0)          // the slot's reference was the last
            #expect(heap.allocator.statistics().liveBlocks == 1)
            #expect(m.load(parent, slot: 0) == nil)
            m.release(parent)
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test(arguments: RefCountPolicyKind.allCases)
    func aMillionLongLinkedListIsFreedWithoutRecursion(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let node = heap.types.register(name: "Link", slots: ["next"])
        withMutator(heap) { m in
            var head = m.new(node)!
            for _ in 1..<1_000_000 {
                let next = m.new(node)!
                m.store(head, into: next, slot: 0)
                m.release(head)
                head = next
            }
            #expect(heap.allocator.statistics().liveBlocks == 1_000_000)
            m.release(head)                              // on a 1 MiB stack: must not recurse
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }

    @Test(arguments: RefCountPolicyKind.allCases)
    func immortalObjectsAreNeverCountedOrFreed(_ policy: RefCountPolicyKind) {
        let heap = Heap(policy: policy, collector: .manual)
        let atom = heap.types.register(name: "None")
        withMutator(heap) { m in
            let none = m.new(atom)!
            m.makeImmortal(none)
            for _ in 0..<10 { m.release(none) }
            m.retain(none)
            #expect(heap.allocator.statistics().liveBlocks == 1)
            #expect(heap.verify(roots: []) == [])
        }
    }

    @Test func typesAreRegisteredOnceAndNameTheirSlots() {
        let types = TypeRegistry()
        let node = types.register(name: "Node", slots: ["left", "right"], payloadBytes: 8)
        #expect(types.register(name: "Node", slots: ["left", "right"], payloadBytes: 8) == node)
        let description = types.description(of: node.id)!
        #expect(description.type == node && description.name == "Node")
        #expect(description.slotIndex(named: "right") == 1)
        #expect(description.slotIndex(named: "up") == nil)
        #expect(types.description(named: "Node")?.type == node)
        #expect(node.slotCount == 2 && node.payloadBytes == 8 && !node.isArray)
        #expect(MemoryLayout<ObjectHeader>.size == 32)
    }
}
