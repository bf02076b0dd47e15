// SharedHeap: one long-lived heap that several runs join (the daemon's `"heap": "shared"`),
// instead of each run having a heap of its own.
//
//   types    each run registers its types under a prefix of its own ("run7.Node"), so that two
//            programs may both declare a `Node` of different shapes
//   hooks    the heap has one weak-callback hook and one finalizer hook; they find the run an
//            object belongs to by its type id (`routes`), and do nothing for a run that ended
//   the end  a run releases what it holds and collects, as any run does, but does not freeze or
//            verify the whole heap, nor count what other runs left
//   limit    the heap has a limit of its own (`limitBytes`, the daemon's shared_heap_limit_mib),
//            whatever the runs that join it ask for; their channels and stacks count against it
//            too (`offHeap`, OffHeapMemory.swift)
//   ids      the heap lives as long as the daemon and has 65,535 type ids, so an ended run gives
//            its ids back (`retire`):
//              1. its route closes: none of its hooks starts any more, and the retiring thread
//                 waits (in a blocking region) for those already running, which stop at their
//                 next poll since the run is over; from then on no code makes its objects
//              2. Heap.unregisterUnusedTypes gives back each id that no block carries, with the
//                 world stopped (Heap+Types.swift)
//            A run's objects can outlive it here: a cycle frozen by gc.freeze() or the daemon's
//            `gc freeze` (a shared heap is not unfrozen at a run's end), garbage a collection
//            has yet to find. Their ids stay taken (`retained`) until a later run's end, or a
//            registration that finds the registry full, finds no block carrying them.
//
// Why a walk at the end rather than live counts per type: a count would add a shared write to
// every allocation and free of every run (HeapCore's hot paths), and would miss dead objects
// whose blocks wait for QSBR with the id still in their header; the walk costs one pause per
// run, which already pauses twice at its end to count what it left.
//
//   an id in `routes` belongs to a run not yet retired;  routes' ids ∩ retained = ∅
//   retained ⊆ registered ids;  an id is given back only by unregisterUnusedTypes

import HeapCore

/// `@unchecked Sendable`: `routes`, `nextRun` and `retained` are locked; the heap is thread-safe.
public final class SharedHeap: @unchecked Sendable {
    public let heap: Heap
    /// The channels and stacks of the runs in the heap, against the heap's limit.
    let offHeap: OffHeapMemory
    /// Type id → the route to the run that registered it, until the run retires.
    private let routes = Locked<[Int: RunRoute]>([:])
    private let nextRun = Locked(0)
    /// Ids of ended runs' types that some block still carried at the last try.
    private let retained = Locked<[Int]>([])
    /// The census of the last `report` (SharedHeap+MemoryReport.swift), and when the heap began.
    let lastReport = Locked<MemoryDiagnostics.Census?>(nil)
    let created = Run.now()

    /// `limitBytes` bounds what the heap maps, with the runs' channels and stacks (nil: no
    /// bound); `typeCapacity` bounds the heap's type ids (TypeRegistry.maximumTypes; fewer in
    /// tests).
    public init(policy: RefCountPolicyKind = .biased, collector: CollectorConfiguration = CollectorConfiguration(),
                limitBytes: Int? = nil, typeCapacity: Int = TypeRegistry.maximumTypes) {
        let box = RoutesBox()
        heap = Heap(policy: policy,
                    allocator: AllocatorConfiguration(limitBytes: limitBytes),
                    weakCallback: { m, weak, callback in box.shared?.withRun(owning: callback) { $0.runWeakCallback(m, weak, callback) } },
                    finalizer: { m, object in box.shared?.withRun(owning: object) { $0.runFinalizer(m, object) } },
                    collector: collector, typeCapacity: typeCapacity)
        offHeap = OffHeapMemory(limit: limitBytes, allocator: heap.allocator)
        box.shared = self
    }

    /// A prefix for a new run's type names.
    func nextPrefix() -> String {
        nextRun.withLock { number in
            number += 1
            return "run\(number)."
        }
    }

    /// Registers a run's types. When the registry is full, the retained ids that no block carries
    /// any more are given back first and registration is tried once more.
    func registerTypes(of program: CompiledProgram, prefix: String) throws(TypeRegistryError) -> RunTypes {
        do {
            return try RunTypes.register(program, prefix: prefix, in: heap.types)
        } catch {
            guard reclaimRetained() else { throw error }
            return try RunTypes.register(program, prefix: prefix, in: heap.types)
        }
    }

    func route(_ typeIDs: [Int], to run: Run) {
        let route = RunRoute(run: run)
        routes.withLock { table in for id in typeIDs { table[id] = route } }
    }

    /// The run of `typeIDs` has ended and its thread `m` (a mutator of the heap) retires it:
    /// steps 1 and 2 of the header, for its ids and the retained ones.
    func retire(_ typeIDs: [Int], as m: Mutator) {
        let route = routes.withLock { table -> RunRoute? in
            let route = typeIDs.first.flatMap { table[$0] }
            for id in typeIDs { table.removeValue(forKey: id) }
            return route
        }
        if let route {
            m.enterBlockingRegion()
            route.close()
            m.leaveBlockingRegion()
        }
        _ = giveBack(typeIDs)
    }

    /// Gives back `ids` and the retained ones where no block carries them; the others are
    /// retained. Whether any id went back. The caller is a mutator of the heap.
    private func giveBack(_ ids: [Int]) -> Bool {
        let candidates = retained.withLock { retained in
            defer { retained = [] }
            return retained
        } + ids
        let kept = heap.unregisterUnusedTypes(candidates)
        retained.withLock { $0 += kept }
        return kept.count < candidates.count
    }

    /// `giveBack` of the retained ids from a thread that is no mutator (a run being made): it
    /// attaches for the walk. False when nothing went back, or the thread is some heap's mutator.
    private func reclaimRetained() -> Bool {
        guard Mutator.current == nil, !retained.withLock({ $0.isEmpty }) else { return false }
        heap.attachCurrentThread()
        defer { heap.detachCurrentThread() }
        return giveBack([])
    }

    /// Runs `body` with the run that owns `object`'s type, as one of its running hooks; nothing
    /// when that run has retired.
    private func withRun(owning object: ObjectRef, _ body: (Run) -> Void) {
        guard let route = routes.withLock({ $0[object.typeID] }), let run = route.enter() else { return }
        body(run)
        route.leave()
    }
}

/// One run's hooks: the run while it is open, and how many of its hooks are running.
/// `@unchecked Sendable`: `run`, `isOpen` and `running` are read and written under `condition`.
private final class RunRoute: @unchecked Sendable {
    private weak var run: Run?
    private var isOpen = true
    private var running = 0
    private let condition = MutexCondition()

    init(run: Run) {
        self.run = run
    }

    /// The run, counted as one more running hook; nil once the route is closed.
    func enter() -> Run? {
        condition.withLock {
            guard isOpen, let run else { return nil }
            running += 1
            return run
        }
    }

    /// A hook `enter` let through has finished.
    func leave() {
        condition.withLock {
            running -= 1
            if running == 0 { condition.broadcast() }
        }
    }

    /// Lets no hook in any more and returns when the running ones have finished.
    func close() {
        condition.lock()
        isOpen = false
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}

private final class RoutesBox: @unchecked Sendable {
    weak var shared: SharedHeap?
}
