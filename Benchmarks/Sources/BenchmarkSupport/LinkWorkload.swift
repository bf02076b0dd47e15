// The "allocate + link + free a 2-slot object" workload, written once for heapd and for Swift ARC,
// so that ObjectBenchmarks (inside package-benchmark) and LinkProbe (without its malloc
// interposer) time the same code.

import HeapCore

/// The Swift ARC side: the same shape as heapd's 2-slot Node.
public final class SwiftNode {
    public var left: SwiftNode?
    public var right: SwiftNode?

    public init() {}
}

@inline(never) public func keepAlive(_ object: AnyObject) {}
@inline(never) public func keepAlive(_ object: ObjectRef) {}

/// `iterations` × (a = new, b = new, a.left = b, drop b, drop a): both freed by the last release.
@inlinable
public func linkTwoSlotObjects(_ mutator: Mutator, node: ObjectType, iterations: Int) {
    for _ in 0..<iterations {
        let a = mutator.new(node)!
        let b = mutator.new(node)!
        mutator.store(b, into: a, slot: 0)
        mutator.release(b)
        keepAlive(a)
        mutator.release(a)
    }
}

/// The same with Swift final classes and ARC.
@inlinable
public func linkTwoSlotSwiftObjects(iterations: Int) {
    for _ in 0..<iterations {
        let a = SwiftNode()
        a.left = SwiftNode()
        keepAlive(a)
    }
}
