// RefCounting: the three reference-counting policies a heap can be created with.
//
//   policy       count lives in          owner's retain/release     other threads
//   biased       localCount + shared     relaxed load + store       atomic add on shared; a
//                (PEP 703)               (no RMW)                   decrement below zero queues
//                                                                   the object to its owner
//   atomic       shared                  atomic RMW                 atomic RMW
//   global-lock  localCount              plain, under the heap's    the same (mutators are
//                                        global lock                serialised, like a GIL)
//
// Each policy is a caseless enum conforming to RefCountPolicy, so code generic over the policy is
// specialised per policy: the biased fast path pays nothing for the other two existing. Mutator's
// non-generic entry points switch on the heap's policy once per call (a predictable branch on a
// field of the mutator's own storage); `Heap.withPolicy` hands a generic caller the specialised type.
//
// `release` returns true when the caller must deallocate the object (its count reached zero): the
// deallocation itself is policy-independent (Mutator+Deallocation).

import Synchronization

public enum RefCountPolicyKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case biased
    case atomic
    case globalLock = "global-lock"

    public var description: String { rawValue }

    /// The true count of `object` under this policy: exact when no other thread is changing it.
    func count(_ object: ObjectRef) -> Int {
        switch self {
        case .biased: BiasedCounting.count(object)
        case .atomic: AtomicCounting.count(object)
        case .globalLock: GlobalLockCounting.count(object)
        }
    }
}

public protocol RefCountPolicy: SendableMetatype {
    static var kind: RefCountPolicyKind { get }
    /// Writes the counts of a new object holding one reference, owned by `mutatorID`.
    static func initialize(_ object: ObjectRef, mutatorID: UInt32)
    static func retain(_ object: ObjectRef, mutatorID: UInt32)
    /// Drops one reference; true when the object is now dead and the caller must deallocate it.
    static func release(_ object: ObjectRef, mutator: Mutator) -> Bool
    /// Takes a reference to an object that another thread may be releasing for the last time;
    /// false when it is already dead. The caller re-checks where it found the object.
    static func tryRetain(_ object: ObjectRef, mutatorID: UInt32) -> Bool
    /// The true count: exact when the world is stopped.
    static func count(_ object: ObjectRef) -> Int
}

/// Code that wants the counting fast path without the per-call policy switch is written generic
/// over the policy and handed the heap's policy type once (`Heap.withPolicy`): the interpreter's
/// run loop, benchmarks.
public protocol RefCountPolicyVisitor {
    associatedtype Result
    func visit<Policy: RefCountPolicy>(_ policy: Policy.Type) -> Result
}

extension Heap {
    /// Calls `visitor.visit` with this heap's policy type, so that generic code is specialised for
    /// it (`@inlinable`: the specialisation happens in the caller's module).
    @inlinable
    public func withPolicy<Visitor: RefCountPolicyVisitor>(_ visitor: Visitor) -> Visitor.Result {
        switch policy {
        case .biased: visitor.visit(BiasedCounting.self)
        case .atomic: visitor.visit(AtomicCounting.self)
        case .globalLock: visitor.visit(GlobalLockCounting.self)
        }
    }
}

extension ObjectRef {
    @usableFromInline @inline(__always)
    var isImmortal: Bool { header.pointee.localCount.load(ordering: .relaxed) == ObjectHeader.immortalCount }
}

// MARK: - Atomic

/// One count, every operation an atomic read-modify-write: what a naive free-threaded runtime does.
public enum AtomicCounting: RefCountPolicy {
    public static var kind: RefCountPolicyKind { .atomic }

    public static func initialize(_ object: ObjectRef, mutatorID: UInt32) {
        object.header.pointee.shared.store(1, ordering: .relaxed)
    }

    @inlinable @inline(__always)
    public static func retain(_ object: ObjectRef, mutatorID: UInt32) {
        if object.isImmortal { return }
        object.header.pointee.shared.wrappingAdd(1, ordering: .relaxed)
    }

    @inlinable @inline(__always)
    public static func release(_ object: ObjectRef, mutator: Mutator) -> Bool {
        if object.isImmortal { return false }
        // Acquire-release: the thread that frees sees every other thread's writes to the object.
        return object.header.pointee.shared.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1
    }

    public static func tryRetain(_ object: ObjectRef, mutatorID: UInt32) -> Bool {
        if object.isImmortal { return true }
        var count = object.header.pointee.shared.load(ordering: .relaxed)
        while count > 0 {
            // Sequentially consistent, with the re-check of the slot: see Mutator+Objects.
            let (exchanged, original) = object.header.pointee.shared.compareExchange(
                expected: count, desired: count + 1, ordering: .sequentiallyConsistent)
            if exchanged { return true }
            count = original
        }
        return false
    }

    public static func count(_ object: ObjectRef) -> Int {
        object.header.pointee.shared.load(ordering: .relaxed)
    }
}

// MARK: - Global lock

/// Mutators hold the heap's global lock while they run, so one plain count suffices.
public enum GlobalLockCounting: RefCountPolicy {
    public static var kind: RefCountPolicyKind { .globalLock }

    public static func initialize(_ object: ObjectRef, mutatorID: UInt32) {
        object.header.pointee.localCount.store(1, ordering: .relaxed)
    }

    @inlinable @inline(__always)
    public static func retain(_ object: ObjectRef, mutatorID: UInt32) {
        let count = object.header.pointee.localCount.load(ordering: .relaxed)
        if count == ObjectHeader.immortalCount { return }
        object.header.pointee.localCount.store(count &+ 1, ordering: .relaxed)
    }

    @inlinable @inline(__always)
    public static func release(_ object: ObjectRef, mutator: Mutator) -> Bool {
        let count = object.header.pointee.localCount.load(ordering: .relaxed)
        if count == ObjectHeader.immortalCount { return false }
        object.header.pointee.localCount.store(count &- 1, ordering: .relaxed)
        return count == 1
    }

    public static func tryRetain(_ object: ObjectRef, mutatorID: UInt32) -> Bool {
        let count = object.header.pointee.localCount.load(ordering: .relaxed)
        if count == ObjectHeader.immortalCount { return true }
        guard count > 0 else { return false }
        object.header.pointee.localCount.store(count &+ 1, ordering: .relaxed)
        return true
    }

    public static func count(_ object: ObjectRef) -> Int {
        Int(object.header.pointee.localCount.load(ordering: .relaxed))
    }
}
