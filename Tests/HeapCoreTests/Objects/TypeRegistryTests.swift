// The type registry's ids: a full registry throws instead of stopping the process, ids given back
// are reused, and the heap gives back only ids that no block carries.

@testable import HeapCore
import Testing

@Suite struct TypeRegistryTests {
    @Test func aFullRegistryThrowsInsteadOfTrapping() throws {
        let registry = TypeRegistry(capacity: 3)
        for name in ["a", "b", "c"] { _ = try registry.tryRegister(name: name, slots: ["x"]) }
        #expect(throws: TypeRegistryError.full(capacity: 3)) {
            try registry.tryRegister(name: "d")
        }
        #expect(registry.count == 3)
        #expect(registry.description(named: "d") == nil)
        // A name already there still comes back as it is, full or not.
        #expect(try registry.tryRegister(name: "b", slots: ["x"]).id == 1)
    }

    @Test func anIdGivenBackGoesToTheNextType() throws {
        let registry = TypeRegistry(capacity: 3)
        let a = try registry.tryRegister(name: "a")
        let b = try registry.tryRegister(name: "b", slots: ["left", "right"])
        let c = try registry.tryRegister(name: "c")
        registry.unregister(b.id)
        #expect(registry.description(named: "b") == nil)
        #expect(registry.description(of: b.id) == nil)
        #expect(registry.count == 2)
        let d = try registry.tryRegister(name: "d", slots: ["only"])
        #expect(d.id == b.id)
        #expect(d.slotCount == 1)
        #expect(registry.name(of: b.id) == "d")
        #expect(registry.all.map(\.name) == ["a", "d", "c"])
        #expect(registry.all.map(\.type.id) == [a.id, d.id, c.id])
        #expect(throws: TypeRegistryError.full(capacity: 3)) { try registry.tryRegister(name: "e") }
    }

    @Test func manyTypesComeAndGoThroughAFewIds() throws {
        let registry = TypeRegistry(capacity: 4)
        for round in 0..<1000 {
            let made = try (0..<4).map { try registry.tryRegister(name: "round\(round).T\($0)") }
            #expect(Set(made.map(\.id)) == [0, 1, 2, 3])
            for type in made { registry.unregister(type.id) }
        }
        #expect(registry.count == 0)
    }

    @Test func theHeapGivesBackOnlyIdsThatNoBlockCarries() {
        let heap = Heap(collector: .manual, typeCapacity: 4)
        let node = heap.types.register(name: "Node", slots: ["next"])
        let leaf = heap.types.register(name: "Leaf")
        let unused = heap.types.register(name: "Unused", payloadBytes: 8)
        withMutator(heap) { m in
            let kept = m.new(node)!
            let gone = m.new(leaf)!
            m.release(gone)
            #expect(heap.unregisterUnusedTypes([node.id, leaf.id, unused.id]) == [node.id])
            #expect(heap.types.description(named: "Node") != nil)
            #expect(heap.types.description(named: "Leaf") == nil)
            #expect(heap.types.description(named: "Unused") == nil)
            // The live Node keeps its id: a new type takes one of those given back.
            let other = heap.types.register(name: "Other")
            #expect(other.id != node.id)
            #expect(heap.liveObjectsByType() == ["Node": 1])
            m.release(kept)
            #expect(heap.unregisterUnusedTypes([node.id, other.id]) == [])
            #expect(heap.types.all.map(\.name) == ["<weakref>"])
        }
    }
}
