// CollectorProbe: a full collection of a live heap of ~1,000,000 small objects with no garbage
// (issue 4's pause target: <= 15 ms; CPython 3.13t 52 ms, 3.13 67 ms on this machine).
//
//   usage: CollectorProbe [depth]    (default 19: a complete binary tree of 2^20 - 1 = 1,048,575
//                                     two-slot nodes)
//
// Two heaps hold the same tree: one whose collections walk the heap on one thread
// (`pauseWorkers: 1`, the baseline) and one with the default pause workers (the CPUs available).
// Two warm-up collections of each (the first promotes every object and sizes the collector's
// reused lists), then eleven of each, alternating, so that both see the same machine; prints
// each median, the ratio, and the phases of the median run.

import Foundation
import HeapCore

let depth = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 19 : 19

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

/// One heap holding the tree, and its collections' times.
final class Subject {
    let name: String
    let heap: Heap
    let root: ObjectRef
    var times: [Double] = []
    var phases: [String] = []
    var candidates = 0

    init(name: String, collector: CollectorConfiguration) {
        self.name = name
        heap = Heap(policy: .biased, collector: collector)
        let node = heap.types.register(name: "Node", slots: ["left", "right"])
        let mutator = heap.attachCurrentThread()
        root = makeTree(depth: depth, mutator, node)
        heap.detachCurrentThread()
    }

    func collectOnce() {
        heap.attachCurrentThread()
        let start = DispatchTime.now().uptimeNanoseconds
        let result = heap.collect()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        heap.detachCurrentThread()
        candidates = result.candidates
        phases.append(String(format: "pause %.1f = handshake %.2f + walk %.1f + trial deletion %.1f + rest %.2f",
                             Double(result.pauseNanoseconds) / 1e6, Double(result.handshakeNanoseconds) / 1e6,
                             Double(result.findCandidatesNanoseconds) / 1e6, Double(result.trialDeletionNanoseconds) / 1e6,
                             Double(result.pauseNanoseconds - result.handshakeNanoseconds - result.findCandidatesNanoseconds - result.trialDeletionNanoseconds) / 1e6))
        precondition(result.unreachable == 0, "a live heap has no garbage")
    }

    var median: Double { times.sorted()[times.count / 2] }

    func report() {
        print(String(format: "%@: full collection of %d live objects: median %.1f ms (runs: %@)", name, candidates, median,
                     times.map { String(format: "%.1f", $0) }.joined(separator: " ")))
        print("  phases (ms) of the median run: \(phases[times.firstIndex(of: median)!])")
    }
}

let defaults = CollectorConfiguration.manual
var serialConfiguration = CollectorConfiguration.manual
serialConfiguration.pauseWorkers = 1
let serial = Subject(name: "1 worker", collector: serialConfiguration)
let shared = Subject(name: "\(defaults.pauseWorkers) workers", collector: defaults)
for round in 0..<13 {
    serial.collectOnce()
    shared.collectOnce()
    if round < 2 {
        for subject in [serial, shared] {
            subject.times.removeAll()
            subject.phases.removeAll()
        }
    }
}
serial.report()
shared.report()
print(String(format: "shared / serial: %.2f", shared.median / serial.median))

// Young collections beside the old tree: 10,000 fresh two-object cycles each time. Page marks
// let a collection of generation 0 walk only the pages that may hold young objects.
do {
    let heap = shared.heap
    let mutator = heap.attachCurrentThread()
    let pair = heap.types.register(name: "Pair", slots: ["other"])
    var young: [Double] = []
    var pages = 0
    var found = 0
    for _ in 0..<11 {
        for _ in 0..<10_000 {
            let a = mutator.new(pair)!
            let b = mutator.new(pair)!
            mutator.store(b, into: a, slot: 0)
            mutator.store(a, into: b, slot: 0)
            mutator.release(a)
            mutator.release(b)
        }
        let result = heap.collect(generation: 0)
        young.append(Double(result.pauseNanoseconds) / 1e6)
        pages = result.pagesWalked
        found = result.unreachable
    }
    let full = heap.collect(generation: 2)
    heap.detachCurrentThread()
    print(String(format: "young collection beside %d old objects: median pause %.2f ms, %d pages walked of %d, %d unreachable",
                 full.candidates, young.sorted()[young.count / 2], pages, full.pagesWalked, found))
}
for subject in [serial, shared] {
    subject.heap.attachCurrentThread().release(subject.root)
    subject.heap.detachCurrentThread()
}
