// The allocator's main test: seeded, multi-threaded, with the verifier after every phase.
//
// Each phase, every thread runs a seeded mix of operations:
//   allocate   a random size (mostly small, some up to 8 KiB, a few large), stamped with a
//              signature at both ends that only this block carries
//   free       one of its own blocks (the owner's path, or a remote free if it re-attached since)
//   hand off   one of its blocks to another thread's inbox, which that thread frees (remote path)
// and, with some probability at phase end, detaches and re-attaches (abandoning its pages).
// Between phases the threads collect their heaps and park at a barrier; the main thread checks
// the verifier and that the allocator's live-block count equals the model's (blocks held by
// threads plus blocks in inboxes). Every block's signature is checked before it is freed, so an
// overlap or a reuse of a live block is caught. At the end everything is freed, every arena is
// released, and the verifier passes on the empty allocator.
//
// Half the configurations run the checking build (poison, quarantine, checks on reuse); the other
// half keep the fast paths under stress. HEAPD_CHECKED_ALLOCATOR=1 checks them all.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

private struct LiveBlock: Sendable {
    let address: BlockAddress
    let size: Int
    let signature: UInt64

    func stamp() {
        let p = address.pointer
        p.storeBytes(of: signature, as: UInt64.self)
        if size >= 16 { p.storeBytes(of: ~signature, toByteOffset: size - 8, as: UInt64.self) }
    }

    func check() -> Bool {
        let p = address.pointer
        guard p.load(as: UInt64.self) == signature else { return false }
        return size < 16 || p.loadUnaligned(fromByteOffset: size - 8, as: UInt64.self) == ~signature
    }
}

struct StressConfiguration: Sendable, CustomStringConvertible {
    var seed: UInt64
    var threads: Int
    var phases: Int
    var operationsPerPhase: Int
    var virtualNodes: Int
    var checked = false

    var description: String { "seed \(seed), \(threads) threads, \(virtualNodes) node(s)\(checked ? ", checked" : "")" }
}

private func randomSize(_ random: inout SeededRandom) -> Int {
    switch Int.random(in: 0..<100, using: &random) {
    case 0..<70: return Int.random(in: 1...512, using: &random)
    case 70..<95: return Int.random(in: 513...SizeClass.maxSmallSize, using: &random)
    case 95..<99: return Int.random(in: 0...16, using: &random)
    default: return Int.random(in: (SizeClass.maxSmallSize + 1)...(256 << 10), using: &random)
    }
}

func runAllocatorStress(_ configuration: StressConfiguration) {
    let topology: any Topology = configuration.virtualNodes > 1 ? SimulatedTopology(virtualNodes: configuration.virtualNodes) : NumaTopology()
    let allocator = Allocator(configuration: .init(topology: topology, releasePolicy: .init(retainedEmptyArenas: 0),
                                                   checking: configuration.checked ? AllocatorChecking() : AllocatorChecking.fromEnvironment))
    let threads = configuration.threads
    let inboxes = Locked<[[LiveBlock]]>(Array(repeating: [], count: threads))
    let held = Locked<[Int]>(Array(repeating: 0, count: threads))
    let barrier = Barrier(parties: threads + 1)
    let corrupted = Atomic<Int>(0)
    let cpus = CPUPinning.allowedCPUCount()

    let coordinator = Thread {
        for phase in 0..<configuration.phases {
            barrier.wait()   // workers finished the phase's operations
            barrier.wait()   // workers collected their heaps
            let problems = allocator.verify()
            #expect(problems == [], "phase \(phase), \(configuration)")
            let heldBlocks = held.withLock { $0.reduce(0, +) }
            let inboxBlocks = inboxes.withLock { $0.reduce(0) { $0 + $1.count } }
            let modelLive = heldBlocks + inboxBlocks
            #expect(allocator.statistics().liveBlocks == modelLive, "phase \(phase), \(configuration)")
            barrier.wait()   // release the workers
        }
        barrier.wait()
    }
    coordinator.start()

    runOnThreads(threads) { me in
        var random = SeededRandom(seed: configuration.seed &+ UInt64(me) &* 0x1000_0001)
        allocator.attachCurrentThread(pinningTo: me % cpus)
        var mine: [LiveBlock] = []
        func takeInbox(_ owner: Int) -> [LiveBlock] {
            inboxes.withLock { boxes in
                let taken = boxes[owner]
                boxes[owner] = []
                return taken
            }
        }
        func release(_ block: LiveBlock) {
            if !block.check() { corrupted.add(1, ordering: .relaxed) }
            allocator.deallocate(block.address.pointer)
        }
        for _ in 0..<configuration.phases {
            for _ in 0..<configuration.operationsPerPhase {
                switch Int.random(in: 0..<100, using: &random) {
                case 0..<50:
                    let size = randomSize(&random)
                    guard let pointer = allocator.allocate(byteCount: size) else {
                        Issue.record("allocation of \(size) bytes failed")
                        continue
                    }
                    let block = LiveBlock(address: BlockAddress(pointer), size: size, signature: random.next() | 1)
                    block.stamp()
                    mine.append(block)
                case 50..<80 where !mine.isEmpty:
                    release(mine.swapRemoveRandom(using: &random))
                case 80..<92 where !mine.isEmpty:
                    let target = Int.random(in: 0..<threads, using: &random)
                    let block = mine.swapRemoveRandom(using: &random)
                    inboxes.withLock { $0[target].append(block) }
                default:
                    for block in takeInbox(me) {
                        release(block)
                    }
                }
            }
            if Int.random(in: 0..<4, using: &random) == 0 {
                // Leave and come back: pages are abandoned; our blocks are now remote to us.
                allocator.detachCurrentThread()
                allocator.attachCurrentThread(pinningTo: Int.random(in: 0..<cpus, using: &random))
            }
            held.withLock { $0[me] = mine.count }
            barrier.wait()
            allocator.collect()
            barrier.wait()
            barrier.wait()
        }
        for block in mine { release(block) }
        held.withLock { $0[me] = 0 }
        allocator.detachCurrentThread()
        barrier.wait()
        // Inboxes are emptied by whoever is last; any thread may free any block.
        for target in 0..<threads {
            for block in takeInbox(target) { release(block) }
        }
    }

    #expect(corrupted.load(ordering: .relaxed) == 0, "blocks whose signature changed while live: \(configuration)")
    allocator.collect()
    let stats = allocator.statistics()
    #expect(allocator.verify() == [], "\(configuration)")
    #expect(stats.liveBlocks == 0, "\(configuration)")
    #expect(stats.arenas == 0, "all empty arenas released: \(configuration)")
    #expect(stats.largeBlocks == 0)
    #expect(stats.nodes.allSatisfy { $0.arenasCreated == $0.arenasReleased })
}

extension Array {
    mutating func swapRemoveRandom(using random: inout SeededRandom) -> Element {
        let index = Int.random(in: 0..<count, using: &random)
        swapAt(index, count - 1)
        return removeLast()
    }
}

@Suite(.serialized) struct AllocatorStressTests {
    static let operations = max(200, Int(20_000 * stressScale))

    @Test(arguments: [
        StressConfiguration(seed: 1, threads: 2, phases: 6, operationsPerPhase: operations, virtualNodes: 1),
        StressConfiguration(seed: 2, threads: 4, phases: 6, operationsPerPhase: operations, virtualNodes: 1, checked: true),
        StressConfiguration(seed: 3, threads: 8, phases: 4, operationsPerPhase: operations / 2, virtualNodes: 1),
        StressConfiguration(seed: 4, threads: 4, phases: 6, operationsPerPhase: operations, virtualNodes: 2, checked: true),
    ])
    func seededStressWithVerifierAfterEveryPhase(_ configuration: StressConfiguration) {
        runAllocatorStress(configuration)
    }
}
