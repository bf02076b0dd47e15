// The object layer's main test: seeded mutators sharing a container whose slots they overwrite
// while the others load from them, handing objects to each other through it, and dropping them.
//
// Objects form no cycles (a node's slots are set only while it is new), so reference counting
// alone must reclaim everything. Each node carries a signature derived from its serial number;
// a load that returns a node whose signature is wrong means a reader reached reused memory.
// Between phases the mutators pass a safepoint and park; the coordinator runs the heap verifier
// with every reference the mutators hold as roots. At the end everything is released, and the
// allocator holds no block. Most configurations run on the checking allocator (freed blocks
// poisoned, quarantined and checked on reuse), so that a use after free is caught where it lands.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

struct ObjectStressConfiguration: Sendable, CustomStringConvertible {
    var seed: UInt64
    var policy: RefCountPolicyKind
    var threads: Int
    var phases: Int
    var operations: Int
    var sharedSlots: Int
    var checked = false

    var description: String { "seed \(seed), \(policy), \(threads) threads\(checked ? ", checked" : "")" }
}

private func signature(_ serial: UInt64) -> UInt64 { serial &* 0x9E37_79B9_7F4A_7C15 | 1 }

private func stamp(_ node: ObjectRef, serial: UInt64) {
    node.payload.storeBytes(of: serial, as: UInt64.self)
    node.payload.storeBytes(of: signature(serial), toByteOffset: 8, as: UInt64.self)
}

private func isIntact(_ node: ObjectRef) -> Bool {
    node.payload.load(fromByteOffset: 8, as: UInt64.self) == signature(node.payload.load(as: UInt64.self))
}

func runObjectStress(_ configuration: ObjectStressConfiguration) {
    let heap = Heap(policy: configuration.policy,
                    allocator: AllocatorConfiguration(checking: configuration.checked ? AllocatorChecking() : AllocatorChecking.fromEnvironment),
                    collector: .manual)
    let node = heap.types.register(name: "Node", slots: ["a", "b"], payloadBytes: 16)
    let table = heap.types.register(name: "Table", isArray: true)
    let threads = configuration.threads
    let barrier = Barrier(parties: threads + 1)
    let held = Locked<[[ObjectRef]]>(Array(repeating: [], count: threads))
    let container = Locked<ObjectRef?>(nil)
    let broken = Atomic<Int>(0)
    let usesBarriers = configuration.policy != .globalLock   // parked GIL holders would deadlock

    // The container is made by a mutator that then detaches: its reference is the coordinator's.
    withMutator(heap) { m in container.withLock { $0 = m.newArray(table, count: configuration.sharedSlots)! } }
    let shared = container.withLock { $0! }

    let coordinator = Thread {
        guard usesBarriers else { return }
        for phase in 0..<configuration.phases {
            barrier.wait()
            barrier.wait()
            let roots = held.withLock { $0.flatMap { $0 } } + [shared]
            #expect(heap.verify(roots: roots) == [], "phase \(phase), \(configuration)")
            barrier.wait()
        }
    }
    coordinator.start()

    runOnThreads(threads) { me in
        var random = SeededRandom(seed: configuration.seed &+ UInt64(me) &* 7919)
        let m = heap.attachCurrentThread(pinningTo: me % CPUPinning.allowedCPUCount())
        var mine: [ObjectRef] = []
        var serial = UInt64(me) << 48
        for _ in 0..<configuration.phases {
            for step in 0..<configuration.operations {
                switch Int.random(in: 0..<100, using: &random) {
                case 0..<30:
                    // A new node, its slots set now (and never again), from what we hold.
                    let fresh = m.new(node)!
                    serial += 1
                    stamp(fresh, serial: serial)
                    if let child = mine.randomElement(using: &random) { m.store(child, into: fresh, slot: 0) }
                    if let child = mine.randomElement(using: &random) { m.store(child, into: fresh, slot: 1) }
                    mine.append(fresh)
                case 30..<50 where !mine.isEmpty:
                    let slot = Int.random(in: 0..<configuration.sharedSlots, using: &random)
                    m.store(mine.randomElement(using: &random)!, into: shared, slot: slot)
                case 50..<70:
                    let slot = Int.random(in: 0..<configuration.sharedSlots, using: &random)
                    if let loaded = m.load(shared, slot: slot) {
                        if !isIntact(loaded) { broken.add(1, ordering: .relaxed) }
                        if let child = m.load(loaded, slot: 0) {
                            if !isIntact(child) { broken.add(1, ordering: .relaxed) }
                            m.release(child)
                        }
                        mine.append(loaded)
                    }
                case 70..<95 where !mine.isEmpty:
                    let index = Int.random(in: 0..<mine.count, using: &random)
                    mine.swapAt(index, mine.count - 1)
                    m.release(mine.removeLast())
                default:
                    let slot = Int.random(in: 0..<configuration.sharedSlots, using: &random)
                    m.store(nil, into: shared, slot: slot)
                }
                if step % 16 == 0 { m.safepoint() }
            }
            m.safepoint()
            held.withLock { $0[me] = mine }
            if usesBarriers {
                barrier.wait()           // everyone finished the phase
                m.safepoint()            // merge what others queued to us
                barrier.wait()           // the coordinator verifies
                barrier.wait()
            }
        }
        for object in mine { m.release(object) }
        held.withLock { $0[me] = [] }
        m.safepoint()
        heap.detachCurrentThread()
    }

    #expect(broken.load(ordering: .relaxed) == 0, "a reader reached a reused block: \(configuration)")
    withMutator(heap) { m in
        for slot in 0..<configuration.sharedSlots { m.store(nil, into: shared, slot: slot) }
        #expect(heap.verify(roots: [shared]) == [], "\(configuration)")
        m.release(shared)
    }
    heap.allocator.collect()
    #expect(heap.allocator.statistics().liveBlocks == 0, "every acyclic object freed: \(configuration)")
    #expect(heap.allocator.verify() == [])
}

@Suite(.serialized) struct ObjectStressTests {
    static let operations = max(300, Int(20_000 * stressScale))

    @Test(arguments: [
        ObjectStressConfiguration(seed: 11, policy: .biased, threads: 2, phases: 5, operations: operations, sharedSlots: 16),
        ObjectStressConfiguration(seed: 12, policy: .biased, threads: 4, phases: 5, operations: operations, sharedSlots: 8, checked: true),
        ObjectStressConfiguration(seed: 13, policy: .atomic, threads: 4, phases: 5, operations: operations, sharedSlots: 8, checked: true),
        ObjectStressConfiguration(seed: 14, policy: .globalLock, threads: 3, phases: 3, operations: operations, sharedSlots: 8, checked: true),
    ])
    func seededMutatorsShareSlotsAndTheVerifierPassesAfterEveryPhase(_ configuration: ObjectStressConfiguration) {
        runObjectStress(configuration)
    }
}
