// CollectorProbe: a full collection of a live heap of ~1,000,000 small objects with no garbage
// (issue 4's pause target: <= 15 ms; CPython 3.13t 52 ms, 3.13 67 ms on this machine).
//
//   usage: CollectorProbe [depth]    (default 19: a complete binary tree of 2^20 - 1 = 1,048,575
//                                     two-slot nodes; 7 collections; prints each and the median)

import Foundation
import HeapCore

let depth = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 19 : 19
let heap = Heap(policy: .biased, collector: .manual)
let node = heap.types.register(name: "Node", slots: ["left", "right"])
let mutator = heap.attachCurrentThread()

/// A complete binary tree, built iteratively level by level (no deep recursion).
func makeTree(depth: Int, _ mutator: Mutator, _ node: ObjectType) -> ObjectRef {
    var level = (0..<(1 << depth)).map { _ in mutator.new(node)! }
    while level.count > 1 {
        var parents: [ObjectRef] = []
        for pair in stride(from: 0, to: level.count, by: 2) {
            let parent = mutator.new(node)!
            mutator.store(level[pair], into: parent, slot: 0)
            mutator.store(level[pair + 1], into: parent, slot: 1)
            mutator.release(level[pair])
            mutator.release(level[pair + 1])
            parents.append(parent)
        }
        level = parents
    }
    return level[0]
}

let root = makeTree(depth: depth, mutator, node)
var times: [Double] = []
var candidates = 0
var phases: [String] = []
for _ in 0..<7 {
    let start = DispatchTime.now().uptimeNanoseconds
    let result = heap.collect()
    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    candidates = result.candidates
    phases.append(String(format: "pause %.1f = handshake %.2f + walk %.1f + trial deletion %.1f + rest %.2f",
                         Double(result.pauseNanoseconds) / 1e6, Double(result.handshakeNanoseconds) / 1e6,
                         Double(result.findCandidatesNanoseconds) / 1e6, Double(result.trialDeletionNanoseconds) / 1e6,
                         Double(result.pauseNanoseconds - result.handshakeNanoseconds - result.findCandidatesNanoseconds - result.trialDeletionNanoseconds) / 1e6))
    precondition(result.unreachable == 0, "a live heap has no garbage")
}
print(String(format: "full collection of %d live objects: median %.1f ms (runs: %@)", candidates,
             times.sorted()[times.count / 2], times.map { String(format: "%.1f", $0) }.joined(separator: " ")))
print("phases (ms) of the median run: \(phases[times.firstIndex(of: times.sorted()[times.count / 2])!])")
mutator.release(root)
heap.detachCurrentThread()
