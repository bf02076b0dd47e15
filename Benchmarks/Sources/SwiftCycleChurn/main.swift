// SwiftCycleChurn: the work of workloads/cycle-churn.hw in Swift with a final class and ARC, one
// thread, printing the same lines. Swift has no cycle collector: a two-object cycle dropped as it
// is leaks, so each one is broken by hand (b.next = nil) before it is dropped, which is what a
// Swift program has to do. Each cycle is made by a function that is not inlined, so that the
// optimizer cannot see that the objects never escape and put them on the stack.
//
//   usage: SwiftCycleChurn [cycles] [ring] [samples]      (default 2,000,000, 64, 16)

final class Node {
    var next: Node?
}

/// A weak reference that can sit in an array.
struct WeakNode {
    weak var node: Node?
}

func makeRing(_ count: Int) -> Node {
    let head = Node()
    var last = head
    for _ in 1..<max(count, 1) {
        let node = Node()
        last.next = node
        last = node
    }
    last.next = head
    return head
}

// Not inlined: the objects must be real heap allocations, as they are in the workload.
@inline(never)
func pair() -> Node {
    let a = Node()
    let b = Node()
    a.next = b
    b.next = a
    return a
}

/// Breaks the cycle a -> b -> a at b, so that dropping a frees both.
@inline(__always)
func breakPair(_ a: Node) {
    a.next!.next = nil
}

func churn(_ count: Int) {
    for _ in 0..<max(count, 0) { breakPair(pair()) }
}

let arguments = CommandLine.arguments.dropFirst().map { Int($0) }
let cycles = (arguments.count > 0 ? arguments[0] : nil) ?? 2_000_000
let ringSize = (arguments.count > 1 ? arguments[1] : nil) ?? 64
let samples = (arguments.count > 2 ? arguments[2] : nil) ?? 16

let live = makeRing(ringSize)
var watched = [WeakNode](repeating: WeakNode(node: nil), count: samples)
let block = cycles / samples
for s in 0..<samples {
    let a = pair()
    watched[s].node = a
    breakPair(a)
    churn(block - 1)
}
churn(cycles - samples * block)

let freed = watched.filter { $0.node == nil }.count
var length = 1
var node = live.next!
while node !== live {
    length += 1
    node = node.next!
}
print("cycles: \(cycles) freed samples: \(freed)")
print("live ring: \(length)")
