// SwiftBinaryTrees: binary-trees by the Benchmarks Game rules, in Swift with a final class and ARC,
// one thread: the side-by-side reference for workloads/binary-trees.hw. It prints what the
// workload's `print` lines print (items separated by one space, where the Benchmarks Game's own
// output has tabs).
//
//   usage: SwiftBinaryTrees [depth]      (default 18)

final class Node {
    let left: Node?
    let right: Node?

    init(left: Node?, right: Node?) {
        self.left = left
        self.right = right
    }
}

func make(_ depth: Int) -> Node {
    depth > 0 ? Node(left: make(depth - 1), right: make(depth - 1)) : Node(left: nil, right: nil)
}

func check(_ node: Node) -> Int {
    guard let left = node.left, let right = node.right else { return 1 }
    return 1 + check(left) + check(right)
}

let depth = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 18 : 18

print("stretch tree of depth \(depth + 1) check: \(check(make(depth + 1)))")
let longLived = make(depth)
for d in stride(from: 4, through: depth, by: 2) {
    let iterations = 1 << (depth - d + 4)
    var total = 0
    for _ in 0..<iterations { total += check(make(d)) }
    print("\(iterations) trees of depth \(d) check: \(total)")
}
print("long lived tree of depth \(depth) check: \(check(longLived))")
