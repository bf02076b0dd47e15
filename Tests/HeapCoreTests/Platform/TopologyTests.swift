@testable import HeapCore
import Testing

@Suite struct TopologyTests {
    @Test func realTopologyHasAtLeastOneNodeAndMapsEveryCPU() {
        let topology = NumaTopology()
        #expect(topology.nodeCount >= 1)
        for cpu in 0..<topology.cpuCount {
            let node = topology.node(ofCPU: cpu)
            #expect(node >= 0 && node < topology.nodeCount)
        }
        #expect(topology.node(ofCPU: -1) == 0)
        #expect(topology.currentNode() < topology.nodeCount)
    }

    @Test func simulatedTopologySplitsCPUsRoundRobin() {
        let topology = SimulatedTopology(virtualNodes: 3)
        #expect(topology.nodeCount == 3)
        for cpu in 0..<12 {
            #expect(topology.node(ofCPU: cpu) == cpu % 3)
        }
        // Every virtual node is backed by real memory on this machine's node(s).
        let real = NumaTopology()
        for node in 0..<3 {
            if let physical = topology.physicalNode(of: node) {
                #expect(physical < real.nodeCount)
            }
        }
    }

    @Test func pinningMovesTheThreadToTheChosenCPU() {
        guard CPUPinning.allowedCPUCount() >= 2 else { return }
        runOnThreads(1) { _ in
            #expect(CPUPinning.pinCurrentThread(to: 1))
            #expect(CPUPinning.currentCPU() == 1)
            #expect(SimulatedTopology(virtualNodes: 2).currentNode() == 1)
        }
    }

    @Test func pinningToACPUOutsideTheMachineIsRefused() {
        runOnThreads(1) { _ in
            #expect(!CPUPinning.pinCurrentThread(to: 100_000))
        }
    }
}
