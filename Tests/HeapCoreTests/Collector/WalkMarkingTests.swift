@testable import HeapCore
import Testing

/// WalkMarking's batches (WalkTables.swift) over made-up walks: every candidate unreached (its
/// count is its in-degree, so no candidate is a root), on seeded graphs of the shapes a heap
/// has — neighbours in pairs and runs, objects far from their neighbours, rings larger than a
/// pause's budget, edges across the whole walk. Whatever the shape, each batch must be whole
/// components and within the budget unless one component is larger.
@Suite struct WalkMarkingTests {
    /// A walk of `count` candidates, candidate i at block i, with `edges` (from, to).
    private struct Walk {
        var index = WalkIndex()
        var lane = WalkLane()

        init(count: Int, edges: [(Int, Int)]) {
            index.refs.resize(to: count, filling: 0)
            index.ordinal.resize(to: count, filling: -1)
            let outgoing = Dictionary(grouping: edges, by: \.0)
            lane.reserve(candidates: count, edges: edges.count)
            for candidate in 0..<count {
                index.ordinal[candidate] = Int32(candidate)
                lane.addresses.appendReserved(UInt(0x10_0000 + candidate * 64))
                lane.edgeStart.appendReserved(Int32(lane.edges.count))
                for (_, to) in outgoing[candidate] ?? [] {
                    lane.edges.appendReserved(Int32(to))
                    index.refs[to] += 1
                }
            }
            lane.edgeStart.append(Int32(lane.edges.count))
        }

        func deallocate() {
            index.deallocate()
            lane.deallocate()
        }
    }

    /// The components of the undirected graph, by a plain union-find (the reference).
    private func components(count: Int, edges: [(Int, Int)]) -> [Int] {
        var parent = Array(0..<count)
        func root(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { x = parent[x] }
            return x
        }
        for (a, b) in edges {
            let (ra, rb) = (root(a), root(b))
            if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
        }
        return (0..<count).map(root)
    }

    private func randomGraph(seed: UInt64, count: Int) -> [(Int, Int)] {
        var random = SeededRandom(seed: seed)
        let budget = ConcurrentDetection.pauseBudget
        var edges: [(Int, Int)] = []
        var alone: [Int] = []
        var next = 0
        while next < count {
            let left = count - next
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5:                                   // a pair of neighbours
                guard left >= 2 else { next = count; continue }
                edges += [(next, next + 1), (next + 1, next)]
                next += 2
            case 5..<7:                                   // a run of neighbours, a ring
                let length = min(left, Int.random(in: 3...200, using: &random))
                for i in 0..<length { edges.append((next + i, next + (i + 1) % length)) }
                next += length
            case 7:                                       // a ring larger than the budget
                let length = min(left, budget + Int.random(in: 1...100, using: &random))
                for i in 0..<length { edges.append((next + i, next + (i + 1) % length)) }
                next += length
            case 8:                                       // a ring larger than the budget,
                let length = min(left / 2, budget + Int.random(in: 1...100, using: &random))   // others between
                for i in 0..<length {
                    edges.append((next + 2 * i, next + 2 * ((i + 1) % length)))
                    alone.append(next + 2 * i + 1)
                }
                next += 2 * length
            default:                                      // far from its partner, if any
                alone.append(next)
                next += 1
            }
        }
        // Objects far apart in pairs: a pair across pages, a cycle through two threads' pages.
        alone.shuffle(using: &random)
        for pair in stride(from: 0, to: alone.count - 1, by: 3) {
            edges += [(alone[pair], alone[pair + 1]), (alone[pair + 1], alone[pair])]
        }
        return edges
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func batchesAreWholeComponentsWithinTheBudget(seed: UInt64) {
        let count = 80_000
        let edges = randomGraph(seed: seed, count: count)
        let walk = Walk(count: count, edges: edges)
        defer { walk.deallocate() }
        var marking = WalkMarking()
        defer { marking.deallocate() }
        let (tentative, batches) = marking.markAndPromote(walk.lane, index: walk.index, target: 1)
        #expect(tentative.count == count, "no candidate is a root: all are unreached")
        #expect(Set(tentative).count == count, "each once")
        let component = components(count: count, edges: edges)
        let candidate = { (address: UInt) in (Int(address) - 0x10_0000) / 64 }
        var batchOf = [Int](repeating: -1, count: count)
        var covered = 0
        for (number, batch) in batches.enumerated() {
            #expect(batch.lowerBound == covered, "batches follow each other")
            covered = batch.upperBound
            for position in batch { batchOf[candidate(tentative[position])] = number }
            let sizes = Dictionary(grouping: batch.map { component[candidate(tentative[$0])] }, by: { $0 }).mapValues(\.count)
            if batch.count > ConcurrentDetection.pauseBudget {
                #expect(sizes.count == 1, "a batch over the budget is one component larger than it")
            }
        }
        #expect(covered == count)
        for (a, b) in edges {
            #expect(batchOf[a] == batchOf[b], "an edge between batches: a component split")
        }
        #expect(batches.count > count / ConcurrentDetection.pauseBudget / 2, "split into batches")
    }

    /// A walk that leaves nothing unreached (here: no candidate at all, as a young collection
    /// finds when every young object died by its count) gives no tentative garbage, on any
    /// number of collectors at once. Under ThreadSanitizer this also checks that such a result
    /// writes no shared memory: an array made with `unsafeUninitializedCapacity: 0` writes the
    /// count of the runtime's one empty-array storage, a race between two heaps' collectors.
    @Test func aWalkWithNothingUnreachedGivesNoTentativeGarbageOnEveryThread() {
        let empty = Locked(0)
        runOnThreads(2) { _ in
            let walk = Walk(count: 0, edges: [])
            defer { walk.deallocate() }
            var marking = WalkMarking()
            defer { marking.deallocate() }
            for _ in 0..<100 {
                let (tentative, batches) = marking.markAndPromote(walk.lane, index: walk.index, target: 1)
                if tentative.isEmpty && batches.isEmpty { empty.withLock { $0 += 1 } }
            }
        }
        #expect(empty.withLock { $0 } == 200)
    }
}
