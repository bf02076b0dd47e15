// SharedHeap: one long-lived heap that several runs join (the daemon's `"heap": "shared"`),
// instead of each run having a heap of its own.
//
//   types    each run registers its types under a prefix of its own ("run7.Node"), so that two
//            programs may both declare a `Node` of different shapes
//   hooks    the heap has one weak-callback hook and one finalizer hook; they find the run an
//            object belongs to by its type id (`routes`), and do nothing for a run that ended
//   the end  a run releases what it holds and collects, as any run does, but does not freeze or
//            verify the whole heap, nor count what other runs left

import HeapCore

/// `@unchecked Sendable`: `routes` and `nextRun` are locked; the heap is thread-safe.
public final class SharedHeap: @unchecked Sendable {
    public let heap: Heap
    private let routes = Locked<[Int: WeakRun]>([:])
    private let nextRun = Locked(0)

    public init(policy: RefCountPolicyKind = .biased, collector: CollectorConfiguration = CollectorConfiguration()) {
        let box = RoutesBox()
        heap = Heap(policy: policy,
                    weakCallback: { m, weak, callback in box.shared?.run(for: callback)?.runWeakCallback(m, weak, callback) },
                    finalizer: { m, object in box.shared?.run(for: object)?.runFinalizer(m, object) },
                    collector: collector)
        box.shared = self
    }

    /// A prefix for a new run's type names.
    func nextPrefix() -> String {
        nextRun.withLock { number in
            number += 1
            return "run\(number)."
        }
    }

    func route(_ typeIDs: [Int], to run: Run) {
        routes.withLock { table in for id in typeIDs { table[id] = WeakRun(run: run) } }
    }

    func forget(_ typeIDs: [Int]) {
        routes.withLock { table in for id in typeIDs { table.removeValue(forKey: id) } }
    }

    private func run(for object: ObjectRef) -> Run? {
        routes.withLock { $0[object.typeID]?.run }
    }
}

private struct WeakRun {
    weak var run: Run?
}

private final class RoutesBox: @unchecked Sendable {
    weak var shared: SharedHeap?
}
