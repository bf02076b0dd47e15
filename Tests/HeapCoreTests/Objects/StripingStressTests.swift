// Striping's stress test: seeded mutators load a few hot objects ("hubs") from a shared array,
// retain and drop them, keep some for a while, replace hubs (so that striped ones are dropped
// everywhere and freed by a later pause, some of them in self-cycles that only the collector
// frees), and collect, while their safepoints stripe what turned hot. Between phases they wait in
// blocking regions and the coordinator runs the heap verifier with every reference they hold as
// roots; at the end everything is freed. A hub carries a signature: a load that finds it broken
// reached a freed block.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

private func signature(_ serial: UInt64) -> UInt64 { serial &* 0x9E37_79B9_7F4A_7C15 | 1 }

private func isIntact(_ hub: ObjectRef) -> Bool {
    hub.payload.load(fromByteOffset: 8, as: UInt64.self) == signature(hub.payload.load(as: UInt64.self))
}

struct StripingStressConfiguration: Sendable, CustomStringConvertible {
    var seed: UInt64
    var threads: Int
    var phases: Int
    var operations: Int
    var hubs: Int
    var collector: CollectionMode

    var description: String { "seed \(seed), \(threads) threads, \(hubs) hubs, \(collector)" }
}

func runStripingStress(_ configuration: StripingStressConfiguration) {
    var collectorConfiguration = CollectorConfiguration.manual
    collectorConfiguration.mode = configuration.collector
    let heap = Heap(policy: .biased, collector: collectorConfiguration, striping: .adaptive)
    heap.pauseWalkPages = -1
    let hubType = heap.types.register(name: "Hub", slots: ["self", "child"], payloadBytes: 16)
    let table = heap.types.register(name: "Table", isArray: true)
    let threads = configuration.threads
    let barrier = Barrier(parties: threads + 1)
    let held = Locked<[[ObjectRef]]>(Array(repeating: [], count: threads))
    let problems = Locked<[String]>([])
    let broken = Atomic<Int>(0)
    let serials = Atomic<UInt64>(0)

    @Sendable func newHub(_ m: Mutator, cyclic: Bool) -> ObjectRef {
        let hub = m.new(hubType)!
        let serial = serials.wrappingAdd(1, ordering: .relaxed).newValue
        hub.payload.storeBytes(of: serial, as: UInt64.self)
        hub.payload.storeBytes(of: signature(serial), toByteOffset: 8, as: UInt64.self)
        if cyclic { m.store(hub, into: hub, slot: 0) }
        return hub
    }

    let shared = Locked<ObjectRef?>(nil)
    withMutator(heap) { m in
        let array = m.newArray(table, count: configuration.hubs)!
        for slot in 0..<configuration.hubs { m.store(consuming: newHub(m, cyclic: slot % 2 == 0), into: array, slot: slot) }
        shared.withLock { $0 = array }
    }
    let array = shared.withLock { $0! }

    let coordinator = Thread {
        for phase in 0..<configuration.phases {
            barrier.wait()
            barrier.wait()
            let roots = held.withLock { $0.flatMap { $0 } } + [array]
            let found = heap.verify(roots: roots)
            if !found.isEmpty { problems.withLock { $0 += ["phase \(phase): \(found.prefix(3))"] } }
            barrier.wait()
        }
    }
    coordinator.start()

    runOnThreads(threads) { me in
        var random = SeededRandom(seed: configuration.seed &+ UInt64(me) &* 7919)
        let m = heap.attachCurrentThread()
        var mine: [ObjectRef] = []
        for _ in 0..<configuration.phases {
            for step in 0..<configuration.operations {
                let slot = Int.random(in: 0..<configuration.hubs, using: &random)
                switch Int.random(in: 0..<1000, using: &random) {
                case 0..<700:
                    // The hot loop: load a hub, read its child, drop both.
                    if let hub = m.load(array, slot: slot) {
                        if !isIntact(hub) { broken.add(1, ordering: .relaxed) }
                        m.retain(hub)
                        if let child = m.load(hub, slot: 1) { m.release(child) }
                        m.release(hub)
                        m.release(hub)
                    }
                case 700..<850:
                    if let hub = m.load(array, slot: slot) { mine.append(hub) }
                case 850..<950 where !mine.isEmpty:
                    let index = Int.random(in: 0..<mine.count, using: &random)
                    mine.swapAt(index, mine.count - 1)
                    m.release(mine.removeLast())
                case 950:
                    // A new hub (a self-cycle or not), its child one we hold; the old one is
                    // dropped from the array, and everywhere once the holders let go. Rare, so
                    // that a hub lives long enough to turn hot.
                    let hub = newHub(m, cyclic: step % 2 == 0)
                    if let child = mine.randomElement(using: &random) { m.store(child, into: hub, slot: 1) }
                    m.store(consuming: hub, into: array, slot: slot)
                case 980..<990 where me == 0:
                    heap.collect(generation: Int.random(in: 0...2, using: &random))
                default:
                    m.safepoint()
                }
                if step % 64 == 0 { m.safepoint() }
            }
            m.safepoint()
            held.withLock { $0[me] = mine }
            barrier.wait(as: m)          // everyone finished the phase
            barrier.wait(as: m)          // the coordinator verifies
            barrier.wait(as: m)
        }
        for object in mine { m.release(object) }
        held.withLock { $0[me] = [] }
        heap.detachCurrentThread()
    }

    #expect(broken.load(ordering: .relaxed) == 0, "a load reached a freed hub: \(configuration)")
    #expect(problems.withLock { $0 } == [], "\(configuration)")
    #expect(heap.stripingStatistics.striped > 0, "no hub turned hot: \(configuration)")
    withMutator(heap) { m in
        #expect(heap.stopTheWorld { heap.verify(roots: [array]) } == [], "\(configuration)")
        m.release(array)
        // A collection frees the acyclic chains of dead stripes; a cycle that only such a chain
        // kept alive is garbage for the next one.
        for _ in 0..<16 { if heap.collect().collected == 0 { break } }
        #expect(heap.liveObjectsByType().isEmpty, "everything freed: \(configuration)")
        #expect(heap.stripingStatistics.current == 0)
    }
    heap.allocator.collect()
    #expect(heap.allocator.verify() == [])
}

@Suite(.serialized) struct StripingStressTests {
    static let operations = max(2_000, Int(40_000 * stressScale))

    @Test(arguments: [
        StripingStressConfiguration(seed: 21, threads: 2, phases: 4, operations: operations, hubs: 2, collector: .stopTheWorld),
        StripingStressConfiguration(seed: 22, threads: 4, phases: 4, operations: operations, hubs: 4, collector: .concurrent),
        StripingStressConfiguration(seed: 23, threads: 3, phases: 3, operations: operations, hubs: 1, collector: .concurrent),
    ])
    func hotHubsSharedAndDropped(_ configuration: StripingStressConfiguration) {
        runStripingStress(configuration)
    }
}
