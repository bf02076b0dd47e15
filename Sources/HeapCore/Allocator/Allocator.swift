// Allocator: heapd's small-object allocator, the memory layer every managed object lives in.
//
//   Allocator                one per heap; any thread may free into it
//     ArenaPool × nodes      per NUMA node: arenas (4 MiB), abandoned pages, large blocks; one lock
//       Arena                64 pages of 64 KiB; page descriptors in its first page
//         Page               one size class, one owner; free / localFree / threadFree lists
//     ThreadHeap × threads   per attached thread: a page queue per size class; TLS-reachable
//   RegionMap                process-wide: which 4 MiB regions are arenas or large blocks
//
// Threads attach before they allocate and detach when done. Any thread, attached or not, may free
// any block of this allocator: the owner's free is a list push with no atomics; another thread's
// free is one CAS on the page's thread-free list.
//
// `deallocate` checks every pointer before it writes: not heapd's, another allocator's, inside a
// block rather than at its start, or already free — each stops the process with a message that
// names the pointer, instead of corrupting the heap.
//
// With `configuration.checking` set (the checking build, BlockChecking.swift), freed blocks are
// also poisoned and quarantined, and checked when they are reused; the fast paths are untouched:
// such an allocator's heaps keep their direct table empty and present a fast-free id that no page
// carries, so every allocation and free takes a slow path, where the checks are.

import CHeapShim
import Synchronization

/// How an allocator is built.
public struct AllocatorConfiguration: Sendable {
    /// Where the NUMA nodes are; a `SimulatedTopology` splits one node into several.
    public var topology: any Topology
    /// How arena memory is tied to its node.
    public var binding: NumaBinding
    /// What happens to arenas that become empty.
    public var releasePolicy: ArenaReleasePolicy
    /// The most memory the allocator may map (arenas and large blocks, in bytes); an allocation
    /// that would need more fails (returns nil). Nil: no limit.
    public var limitBytes: Int?
    /// The checking build: poison freed blocks, quarantine them, check them on reuse. Nil: off.
    /// Defaults to what HEAPD_CHECKED_ALLOCATOR says (`AllocatorChecking.fromEnvironment`).
    public var checking: AllocatorChecking?

    public init(topology: any Topology = NumaTopology(), binding: NumaBinding = .bind, releasePolicy: ArenaReleasePolicy = .standard,
                limitBytes: Int? = nil, checking: AllocatorChecking? = AllocatorChecking.fromEnvironment) {
        self.topology = topology
        self.binding = binding
        self.releasePolicy = releasePolicy
        self.limitBytes = limitBytes
        self.checking = checking
    }
}

/// `@unchecked Sendable`: every stored property is immutable after init except `registry`, which
/// is locked; the raw memory it hands out is governed by the ownership rules in the file comment.
public final class Allocator: @unchecked Sendable {
    public let configuration: AllocatorConfiguration
    /// Mapped bytes against `configuration.limitBytes`, shared by every node's pool.
    let budget: MemoryBudget

    /// Memory mapped now for arenas and large blocks (what `limitBytes` limits).
    public var mappedBytes: Int { budget.mappedBytes }
    /// The most memory the allocator has had mapped at once.
    public var peakMappedBytes: Int { budget.peakBytes }
    let topology: any Topology
    let id: UInt64
    /// Random per allocator; a free block's tag is `tagKey ^ page start ^ block address`.
    let tagKey: UInt
    /// `configuration.checking != nil`, read by the slow paths (freeRemote).
    let checksBlocks: Bool
    let pools: [ArenaPool]
    /// `pools` again, as unretained references that thread heaps read without touching reference
    /// counts (which every thread would share). Owned by the allocator, freed in deinit.
    let poolTable: UnsafeMutablePointer<Unmanaged<ArenaPool>>
    /// CPU -> node, for thread heaps' slow paths. Owned by the allocator, freed in deinit.
    let nodeMap: NodeMap
    /// RegionMap.shared, held here so that the free path reads a field instead of a lazy global.
    let regions: RegionMap
    /// A page whose free list is always nil; `direct` entries with no page point here.
    /// Owned by the allocator, freed in deinit.
    let emptyPage: UnsafeMutablePointer<Page>
    private let emptyPageMemory: UnsafeMutableRawPointer
    /// Attached heaps, for statistics and the verifier.
    let registry = Locked<[UInt: ThreadHeapRecord]>([:])

    private static let nextID = Atomic<UInt64>(1)

    public init(configuration: AllocatorConfiguration = AllocatorConfiguration()) {
        self.configuration = configuration
        self.topology = configuration.topology
        let id = Allocator.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.id = id
        self.tagKey = UInt.random(in: 1...UInt.max) | 1
        self.checksBlocks = configuration.checking != nil
        precondition(topology.nodeCount >= 1, "a topology needs at least one node")
        let budget = MemoryBudget(limit: configuration.limitBytes ?? Int.max)
        self.budget = budget
        self.pools = (0..<configuration.topology.nodeCount).map { node in
            ArenaPool(node: node, physicalNode: configuration.topology.physicalNode(of: node),
                      binding: configuration.binding, policy: configuration.releasePolicy, allocatorID: id, budget: budget)
        }
        poolTable = .allocate(capacity: pools.count)
        for (node, pool) in pools.enumerated() {
            (poolTable + node).initialize(to: Unmanaged.passUnretained(pool))
        }
        nodeMap = NodeMap.make(from: configuration.topology)
        emptyPageMemory = UnsafeMutableRawPointer.allocate(byteCount: Arena.descriptorStride, alignment: 64)
        emptyPage = emptyPageMemory.bindMemory(to: Page.self, capacity: 1)
        emptyPage.initialize(to: Page(start: emptyPageMemory, state: .metadata))
        regions = RegionMap.shared
    }

    deinit {
        let attached = registry.withLock { $0.count }
        require(attached == 0, "heapd: Allocator deinitialised with \(attached) thread(s) still attached")
        emptyPage.deinitialize(count: 1)
        emptyPageMemory.deallocate()
        poolTable.deinitialize(count: pools.count)
        poolTable.deallocate()
        nodeMap.deallocate()
    }

    @inline(__always)
    func pool(forNode node: Int) -> ArenaPool {
        pools[node < pools.count ? node : 0]
    }
}

/// What the registry keeps of an attached heap.
struct ThreadHeapRecord: @unchecked Sendable {
    /// Touched by other threads only with the world quiescent (statistics, verifier).
    let heap: ThreadHeap
}
