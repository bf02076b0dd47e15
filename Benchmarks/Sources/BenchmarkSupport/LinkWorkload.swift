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

/// Where `keepAlive` publishes the address of what it is given (no reference is taken). Raw
/// memory, not a global `var`, which would cost a dynamic exclusivity check per store.
nonisolated(unsafe) public let keepAliveSink = UnsafeMutablePointer<UInt>.allocate(capacity: 1)

/// Publishes the object's address, so that the optimizer must allocate it on the heap. An empty
/// body was not enough: the optimizer saw that nothing escaped and promoted the Swift objects to
/// the stack (or removed them), so the Swift ARC side of the link benchmark timed no heap
/// allocation at all (`swift_initStackObject` in the profile, no `swift_allocObject`).
@inline(never) public func keepAlive(_ object: SwiftNode) {
    keepAliveSink.pointee = UInt(bitPattern: Unmanaged.passUnretained(object).toOpaque())
}
@inline(never) public func keepAlive(_ object: ObjectRef) {
    keepAliveSink.pointee = object.bits
}

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
