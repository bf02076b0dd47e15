// The collector under load: seeded mutators build and drop cyclic and acyclic garbage, hand
// objects around through a shared container, and keep a live set of their own, while one of them
// collects now and then (the others reach it through their safepoints) and, in the automatic
// configurations, the collector thread collects whenever their counts cross low thresholds. Between phases the
// verifier runs with every reference the mutators hold as roots; at the end a final collection
// leaves exactly the objects the model says are alive, and releasing those empties the heap.
// Some configurations run on the checking allocator (freed blocks poisoned, quarantined and
// checked on reuse), so that a use after free is caught where it lands.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

struct CollectorStressConfiguration: Sendable, CustomStringConvertible {
    var seed: UInt64
    var policy: RefCountPolicyKind
    var threads: Int
    var phases: Int
    var operations: Int
    var automatic = false
    var checked = false

    var description: String { "seed \(seed), \(policy), \(threads) threads\(automatic ? ", automatic" : "")\(checked ? ", checked" : "")" }
}

func runCollectorStress(_ configuration: CollectorStressConfiguration) {
    let heap = Heap(policy: configuration.policy,
                    allocator: AllocatorConfiguration(checking: configuration.checked ? AllocatorChecking() : AllocatorChecking.fromEnvironment),
                    collector: configuration.automatic ? CollectorConfiguration(thresholds: (64, 3, 3), idleInterval: .milliseconds(2)) : .manual)
    let node = heap.types.register(name: "Node", slots: ["a", "b"], payloadBytes: 8)
    let threads = configuration.threads
    let barrier = Barrier(parties: threads)
    let held = Locked<[[ObjectRef]]>(Array(repeating: [], count: threads))
    let shared = Locked<ObjectRef?>(nil)
    let table = heap.types.register(name: "Table", isArray: true)
    let usesBarriers = configuration.policy != .globalLock

    withMutator(heap) { m in shared.withLock { $0 = m.newArray(table, count: 8)! } }
    let container = shared.withLock { $0! }

    runOnThreads(threads) { me in
        var random = SeededRandom(seed: configuration.seed &+ UInt64(me) &* 104_729)
        let m = heap.attachCurrentThread()
        var mine: [ObjectRef] = []
        for phase in 0..<configuration.phases {
            for step in 0..<configuration.operations {
                switch Int.random(in: 0..<100, using: &random) {
                case 0..<25:
                    // A cycle, sometimes reachable from something we keep.
                    let a = m.new(node)!, b = m.new(node)!
                    m.store(b, into: a, slot: 0)
                    m.store(a, into: b, slot: 0)
                    if Bool.random(using: &random) { mine.append(a) } else { m.release(a) }
                    m.release(b)
                case 25..<45:
                    let fresh = m.new(node)!
                    if let child = mine.randomElement(using: &random) { m.store(child, into: fresh, slot: 1) }
                    mine.append(fresh)
                case 45..<60 where !mine.isEmpty:
                    m.store(mine.randomElement(using: &random)!, into: container, slot: Int.random(in: 0..<8, using: &random))
                case 60..<70:
                    if let loaded = m.load(container, slot: Int.random(in: 0..<8, using: &random)) { mine.append(loaded) }
                case 70..<95 where !mine.isEmpty:
                    let index = Int.random(in: 0..<mine.count, using: &random)
                    mine.swapAt(index, mine.count - 1)
                    m.release(mine.removeLast())
                default:
                    if me == 0 { _ = heap.collect() }
                }
                if step % 8 == 0 { m.safepoint() }
            }
            held.withLock { $0[me] = mine }
            if usesBarriers {
                // Waiting at a barrier is a blocking region: mutator 0 may be collecting.
                m.enterBlockingRegion()
                barrier.wait()
                m.leaveBlockingRegion()
                if me == 0 {
                    let roots = held.withLock { $0.flatMap { $0 } } + [container]
                    heap.stopTheWorld {
                        #expect(heap.verify(roots: roots) == [], "phase \(phase), \(configuration)")
                    }
                }
                // The others wait in a blocking region, so that the pause need not wait for them.
                m.enterBlockingRegion()
                barrier.wait()
                m.leaveBlockingRegion()
            }
        }
        held.withLock { $0[me] = mine }
        m.safepoint()
        heap.detachCurrentThread()
    }

    let survivors = held.withLock { $0.flatMap { $0 } }
    withMutator(heap) { m in
        if configuration.automatic {
            #expect(waitBlocked(m) { heap.collectorTotals.automaticCollections > 0 }, "\(configuration)")
        }
        _ = heap.collect()
        #expect(heap.verify(roots: survivors + [container]) == [], "\(configuration)")
        let live = heap.liveObjectsByType().values.reduce(0, +)
        #expect(live == reachableCount(from: survivors + [container], heap: heap, mutator: m), "\(configuration)")
        for object in survivors { m.release(object) }
        for slot in 0..<8 { m.store(nil, into: container, slot: slot) }
        m.release(container)
        _ = heap.collect()
        #expect(heap.liveObjectsByType().isEmpty, "\(configuration)")
    }
    heap.allocator.collect()
    #expect(heap.allocator.statistics().liveBlocks == 0, "\(configuration)")
}

@Suite(.serialized) struct CollectorStressTests {
    static let operations = max(200, Int(3000 * stressScale))

    @Test(arguments: [
        CollectorStressConfiguration(seed: 21, policy: .biased, threads: 2, phases: 4, operations: operations),
        CollectorStressConfiguration(seed: 22, policy: .biased, threads: 4, phases: 4, operations: operations, checked: true),
        CollectorStressConfiguration(seed: 23, policy: .atomic, threads: 3, phases: 4, operations: operations),
        CollectorStressConfiguration(seed: 24, policy: .globalLock, threads: 3, phases: 3, operations: operations, checked: true),
        CollectorStressConfiguration(seed: 25, policy: .biased, threads: 3, phases: 4, operations: operations, automatic: true, checked: true),
        CollectorStressConfiguration(seed: 26, policy: .atomic, threads: 2, phases: 4, operations: operations, automatic: true, checked: true),
        CollectorStressConfiguration(seed: 27, policy: .globalLock, threads: 3, phases: 3, operations: operations, automatic: true),
    ])
    func mutatorsMakeCyclicGarbageWhileOneCollects(_ configuration: CollectorStressConfiguration) {
        runCollectorStress(configuration)
    }
}

/// The number of distinct objects reachable from `roots` through slots (the reference model's
/// live set).
func reachableCount(from roots: [ObjectRef], heap: Heap, mutator: Mutator) -> Int {
    var seen = Set(roots)
    var work = Array(seen)
    while let object = work.popLast() {
        for referent in heap.referents(of: object, mutator: mutator) {
            if seen.insert(referent).inserted { work.append(referent) }
            mutator.release(referent)
        }
    }
    return seen.count
}
