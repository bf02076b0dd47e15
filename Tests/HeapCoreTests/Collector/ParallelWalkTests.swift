// The collector's walk shared between threads (Collector/CandidateWalk.swift): on a heap large
// enough to be split, a collection finds exactly the garbage a model of the object graph says
// it should, for each generation walked and for several worker counts, and the heap verifier
// passes afterwards.

@testable import HeapCore
import Foundation
import Testing

@Suite struct ParallelWalkTests {
    /// 400,000 two-slot objects are ~290 pages of 64 KiB: enough for three workers (64 pages each).
    static let objectCount = 400_000

    @Test(arguments: [(workers: 2, generation: 2, seed: UInt64(1)), (workers: 3, generation: 0, seed: 2), (workers: 3, generation: 2, seed: 3)])
    func aSharedWalkFindsExactlyTheUnreachableObjects(_ setup: (workers: Int, generation: Int, seed: UInt64)) {
        let heap = Heap(collector: CollectorConfiguration(automatic: false, idleInterval: nil, pauseWorkers: setup.workers))
        let node = heap.types.register(name: "Node", slots: ["a", "b"])
        withMutator(heap) { m in
            var random = SeededRandom(seed: setup.seed)
            let count = ParallelWalkTests.objectCount
            let objects = (0..<count).map { _ in m.new(node)! }
            // Random links: a slot names another object anywhere in the heap half of the time, so
            // many references cross from one worker's pages to another's; and every tenth object
            // makes a two-object cycle with a far one (garbage unless something reaches it).
            var slots = Array(repeating: [Int?](repeating: nil, count: 2), count: count)
            for index in 0..<count {
                for slot in 0..<2 where random.next() % 2 == 0 {
                    slots[index][slot] = Int(random.next() % UInt64(count))
                }
                if index % 10 == 0 {
                    let partner = Int(random.next() % UInt64(count))
                    slots[index][0] = partner
                    slots[partner][1] = index
                }
            }
            for index in 0..<count {
                for slot in 0..<2 { m.store(slots[index][slot].map { objects[$0] }, into: objects[index], slot: slot) }
            }
            let edges = slots.map { $0.compactMap { $0 } }
            // Keep one object in 200; drop the program's references to the others.
            var roots: [Int] = []
            for index in 0..<count {
                if random.next() % 200 == 0 { roots.append(index) } else { m.release(objects[index]) }
            }
            // What the roots reach survives; whatever else is still alive is cyclic garbage.
            var reached = Array(repeating: false, count: count)
            var stack = roots
            for root in roots { reached[root] = true }
            while let next = stack.popLast() {
                for target in edges[next] where !reached[target] {
                    reached[target] = true
                    stack.append(target)
                }
            }
            let reachable = reached.filter { $0 }.count
            let liveBefore = heap.allocator.statistics().liveBlocks

            let result = heap.collect(generation: setup.generation)

            #expect(result.pagesWalked >= 64 * setup.workers, "the heap is too small to be shared")
            #expect(result.candidates == liveBefore)
            #expect(result.unreachable == liveBefore - reachable)
            #expect(heap.allocator.statistics().liveBlocks == reachable)
            let rootObjects = roots.map { objects[$0] }
            #expect(heap.verify(roots: rootObjects) == [])
            for object in rootObjects { m.release(object) }
            heap.collect()
            #expect(heap.allocator.statistics().liveBlocks == 0)
        }
    }
}
