// Topology: which NUMA node each CPU belongs to, and which node the calling thread runs on now.
//
// Two providers:
// - `NumaTopology` asks libnuma. On a machine without NUMA support (`numa_available() < 0`) it
//   degrades to one node holding every CPU.
// - `SimulatedTopology` splits the real CPUs into N virtual nodes (CPU c belongs to node c % N), so
//   that the per-node logic of the allocator is exercised on one-node machines. Each virtual node is
//   backed by a physical node for memory binding.
//
// Nodes are numbered 0..<nodeCount. Every function may be called from any thread.

import CHeapShim
import CNuma
#if canImport(Glibc)
import Glibc
#endif

public protocol Topology: Sendable {
    /// Number of nodes; the allocator keeps one arena pool per node.
    var nodeCount: Int { get }
    /// The node CPU `cpu` belongs to (0 for a CPU the topology does not know).
    func node(ofCPU cpu: Int) -> Int
    /// The physical NUMA node whose memory backs `node`, for `mbind`; nil when memory should not be
    /// bound (no NUMA support).
    func physicalNode(of node: Int) -> Int?
}

extension Topology {
    /// The node of the CPU the calling thread runs on now (node 0 if the CPU is unknown).
    public func currentNode() -> Int {
        node(ofCPU: Int(heapd_current_cpu()))
    }
}

/// The machine's real topology, from libnuma.
public struct NumaTopology: Topology {
    public let nodeCount: Int
    /// `nodeOfCPU[c]` is the node of CPU c.
    private let nodeOfCPU: [Int]
    /// Whether libnuma reported NUMA support; memory is bound only then.
    public let isNumaAvailable: Bool

    public init() {
        if numa_available() >= 0 {
            let cpus = max(Int(numa_num_configured_cpus()), 1)
            var table = [Int](repeating: 0, count: cpus)
            for cpu in 0..<cpus {
                table[cpu] = max(Int(numa_node_of_cpu(Int32(cpu))), 0)
            }
            self.nodeOfCPU = table
            self.nodeCount = Int(numa_max_node()) + 1
            self.isNumaAvailable = true
        } else {
            self.nodeOfCPU = []
            self.nodeCount = 1
            self.isNumaAvailable = false
        }
    }

    public var cpuCount: Int { max(nodeOfCPU.count, 1) }

    public func node(ofCPU cpu: Int) -> Int {
        cpu >= 0 && cpu < nodeOfCPU.count ? nodeOfCPU[cpu] : 0
    }

    public func physicalNode(of node: Int) -> Int? {
        isNumaAvailable ? node : nil
    }
}

/// N virtual nodes over the real CPUs: CPU c belongs to virtual node c % N. Virtual node v is backed
/// by the physical node of its first CPU (node 0 on a one-node machine).
public struct SimulatedTopology: Topology {
    public let nodeCount: Int
    private let base: NumaTopology

    public init(virtualNodes: Int, over base: NumaTopology = NumaTopology()) {
        precondition(virtualNodes >= 1, "a simulated topology needs at least one node")
        self.nodeCount = virtualNodes
        self.base = base
    }

    public func node(ofCPU cpu: Int) -> Int {
        cpu >= 0 ? cpu % nodeCount : 0
    }

    public func physicalNode(of node: Int) -> Int? {
        // The first CPU of virtual node `node` is CPU `node` itself.
        base.physicalNode(of: base.node(ofCPU: node))
    }
}

/// A topology flattened into a table of CPU -> node, for slow paths that must not touch reference
/// counts (an existential `Topology` copy retains what it holds, and that count is shared by every
/// thread). Owned by whoever calls `make`; freed with `deallocate()`.
struct NodeMap {
    let nodeOfCPU: UnsafeMutablePointer<Int32>
    let cpuCount: Int
    let nodeCount: Int

    static func make(from topology: any Topology) -> NodeMap {
        let cpus = max(Int(sysconf(Int32(_SC_NPROCESSORS_CONF))), 1)
        let table = UnsafeMutablePointer<Int32>.allocate(capacity: cpus)
        for cpu in 0..<cpus {
            table[cpu] = Int32(min(max(topology.node(ofCPU: cpu), 0), topology.nodeCount - 1))
        }
        return NodeMap(nodeOfCPU: table, cpuCount: cpus, nodeCount: topology.nodeCount)
    }

    func deallocate() {
        nodeOfCPU.deallocate()
    }

    /// The node of the CPU the calling thread runs on now (0 if unknown).
    func currentNode() -> Int {
        let cpu = Int(heapd_current_cpu())
        return cpu >= 0 && cpu < cpuCount ? Int(nodeOfCPU[cpu]) : 0
    }
}

/// Thread placement helpers.
public enum CPUPinning {
    /// Pins the calling thread to `cpu`. Returns false (and leaves the thread as it was) if the
    /// kernel refuses, for example because `cpu` is outside the process's CPU set.
    @discardableResult
    public static func pinCurrentThread(to cpu: Int) -> Bool {
        heapd_pin_current_thread(Int32(cpu)) == 0
    }

    /// The CPU the calling thread runs on now, or nil if the kernel does not say.
    public static func currentCPU() -> Int? {
        let cpu = Int(heapd_current_cpu())
        return cpu >= 0 ? cpu : nil
    }

    /// How many CPUs the calling thread may run on.
    public static func allowedCPUCount() -> Int {
        max(Int(heapd_allowed_cpu_count()), 1)
    }
}
