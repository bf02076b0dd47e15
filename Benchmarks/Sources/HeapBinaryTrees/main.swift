// HeapBinaryTrees: binary-trees (the Benchmarks Game rules, one thread) compiled against HeapCore,
// with no interpreter: each node is what `heapctl run workloads/binary-trees.hw` makes it — a
// heapd object of a two-slot type, its children stored with the plain store the interpreter uses
// for an unpublished object, read back with counted slot loads, freed by its last release, the
// collector thread on. Its time is the floor that HeapCore's own operations put under the
// interpreted workload (BENCHMARKS.md, issue 5: the binary-trees target against it). Prints the
// same lines as SwiftBinaryTrees, then the time.
//
//   usage: HeapBinaryTrees [depth]      (default 18)

import Foundation
import HeapCore

let depth = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 18 : 18
let heap = Heap(policy: .biased)
let nodeType = heap.types.register(name: "Node", slots: ["left", "right"])
let m = heap.attachCurrentThread()

func make(_ depth: Int, _ m: Mutator, _ type: ObjectType) -> ObjectRef {
    let node = m.new(type)!
    if depth > 0 {
        m.storeUnpublished(consuming: make(depth - 1, m, type), into: node, slot: 0)
        m.storeUnpublished(consuming: make(depth - 1, m, type), into: node, slot: 1)
    }
    return node
}

/// The node's check; consumes the caller's reference to it.
func check(_ node: ObjectRef, _ m: Mutator) -> Int {
    defer { m.release(node) }
    guard let left = m.load(node, slot: 0) else { return 1 }
    let right = m.load(node, slot: 1)!
    return 1 + check(left, m) + check(right, m)
}

let start = DispatchTime.now().uptimeNanoseconds
print("stretch tree of depth \(depth + 1) check: \(check(make(depth + 1, m, nodeType), m))")
let longLived = make(depth, m, nodeType)
for d in stride(from: 4, through: depth, by: 2) {
    let iterations = 1 << (depth - d + 4)
    var total = 0
    for _ in 0..<iterations {
        total += check(make(d, m, nodeType), m)
        m.safepoint()       // the loop's back-edge, where the interpreter polls too
    }
    print("\(iterations) trees of depth \(d) check: \(total)")
}
m.retain(longLived)
print("long lived tree of depth \(depth) check: \(check(longLived, m))")
m.release(longLived)
let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
precondition(heap.liveObjectsByType().isEmpty, "every tree was freed")
print(String(format: "%.3f s", seconds))
heap.detachCurrentThread()
