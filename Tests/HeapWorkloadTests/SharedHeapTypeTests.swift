// The shared heap's type ids, issue 12: the ids of a run's types go back when it ends, so that
// runs without end fit the registry; an id stays taken while an object of its type outlives the
// run that made it (a frozen cycle), and goes back once the object is gone.

import HeapCore
import HeapWorkload
import Testing

/// Two types, a finalizer, a weak callback and slots read by name through a parameter: every
/// path that routes an object of the run back to it.
private let churn = """
    type Node { next, value }
    type Watched { target; finalize { print "finalized" } }
    global calls = 0
    fn noted(w) { calls = calls + 1 }
    fn link(a, b) { a.next = b; b.next = a; return a.next }
    main {
        n = link(new Node, new Node)
        w = weak(n, noted)
        t = new Watched
        t.target = n
        del n
        del t
        gc.collect()
        print calls
    }
    """

/// One Node cycle frozen in the heap: it outlives the run (a shared heap is not unfrozen).
private let freezer = """
    type Node { next }
    type Leaf { }
    main { n = new Node; n.next = n; x = new Leaf; gc.freeze(); print 1 }
    """

private func run(_ source: String, in shared: SharedHeap) throws -> RunResult {
    var configuration = RunConfiguration()
    configuration.sharedHeap = shared
    configuration.collector = .manual
    return try Workload.run(try Program.parse(source: source, fileName: "shared.hw"), configuration: configuration)
}

/// Unfreezes and collects the shared heap from a mutator made for it.
private func unfreezeAndCollect(_ shared: SharedHeap) {
    shared.heap.attachCurrentThread()
    shared.heap.unfreeze()
    _ = shared.heap.collect()
    shared.heap.detachCurrentThread()
}

@Suite struct SharedHeapTypeTests {
    @Test func runsWithoutEndReuseTheTypeIdsOfRunsThatEnded() throws {
        // 16 ids: <weakref> and 15 for runs of 5 types each (2 and the interpreter's 3) — three
        // runs at most if ids never came back.
        let shared = SharedHeap(collector: .manual, typeCapacity: 16)
        for number in 1...60 {
            let result = try run(churn, in: shared)
            #expect(result.ok, "run \(number): \(result.error.map(String.init(describing:)) ?? "")")
            #expect(result.output == ["finalized", "1"], "run \(number)")
            #expect(result.leaked == 0, "run \(number)")
            #expect(shared.heap.types.count == 1, "run \(number) left types behind")
        }
    }

    @Test func anIdStaysTakenWhileAnObjectOfItsTypeOutlivesItsRun() throws {
        let shared = SharedHeap(collector: .manual, typeCapacity: 16)
        let frozen = try run(freezer, in: shared)
        #expect(frozen.ok)
        #expect(frozen.leaked == 1)
        let node = try #require(shared.heap.types.description(named: "run1.Node"))
        // The rest of run 1's types went back; its Node stays while the cycle lives.
        #expect(shared.heap.types.description(named: "run1.Leaf") == nil)
        #expect(shared.heap.types.count == 2)
        for number in 2...40 {
            let result = try run(churn, in: shared)
            #expect(result.ok, "run \(number): \(result.error.map(String.init(describing:)) ?? "")")
            #expect(shared.heap.types.description(of: node.type.id) == node, "run \(number) took the frozen cycle's type id")
        }
        #expect(shared.heap.liveObjectsByType() == ["run1.Node": 1])
        unfreezeAndCollect(shared)
        #expect(shared.heap.liveObjectsByType() == [:])
        // The next run's end gives the id back.
        #expect(try run(churn, in: shared).ok)
        #expect(shared.heap.types.description(named: "run1.Node") == nil)
        #expect(shared.heap.types.count == 1)
    }

    @Test func aFullRegistryFirstTakesBackIdsNoObjectCarriesAnyMore() throws {
        // 6 ids: <weakref> and 5, exactly what one run of `churn` or `freezer` takes.
        let shared = SharedHeap(collector: .manual, typeCapacity: 6)
        #expect(try run(freezer, in: shared).ok)
        // run1.Node's cycle holds one id: 4 are left, and churn needs 5.
        let refused = try run(churn, in: shared)
        #expect(refused.error?.code == .typeLimit)
        #expect(shared.heap.types.count == 2)
        // With the cycle gone (and no run ended since), registration finds the id free.
        unfreezeAndCollect(shared)
        let result = try run(churn, in: shared)
        #expect(result.ok, "\(result.error.map(String.init(describing:)) ?? "")")
        #expect(shared.heap.types.count == 1)
    }
}
