// Heap+ReferenceChains: what keeps an object alive — a shortest chain of references from a root
// to it (objgraph's find_backref_chain), each step named by the slot or element it goes through,
// and whether the object sits in a cycle that only that chain keeps alive.
//
// Roots are the caller's (a run's globals, its threads' registers, its channels' buffers), plus
// the frozen objects, which the heap knows. One breadth-first search from all roots at once, in
// the order given, visits every reachable object once; the first object of a group it reaches
// has a shortest chain among the group's objects (ties go to the earlier root):
//
//   parent[o] = (p, slot)   o was first reached through slot `slot` of p (roots: none)
//   chain(o)  = root, steps of parent links from the root down to o
//
// Cycle facts, for a chain's target t: the strongly connected component C of t (objects t
// reaches that reach t back, found in the forward closure of t, bounded by `cycleSearchLimit`).
// With the world stopped counts are exact, so
//
//   references into C from outside  =  Σ refcount(c ∈ C)  −  |references from C to C|
//
// and 1 means the chain's last reference is all that keeps the cycle alive: drop it and the
// cycle is the collector's.
//
// Thread safety: world stopped, by the calling thread (the roots are read then too).

/// A reference from outside the heap's objects: a global, a thread's variable, a channel's
/// buffer cell.
public struct ReferenceRoot: Sendable {
    public var name: String
    public var object: ObjectRef

    public init(name: String, object: ObjectRef) {
        self.name = name
        self.object = object
    }
}

/// A shortest chain of references from a root to an object.
public struct ReferenceChain: Sendable, Equatable, Codable {
    /// The root's name (`global cache`, `frozen Entry`).
    public var root: String
    /// One name per reference followed: `Entry.next` (slot `next` of an Entry), `array[3]`.
    public var steps: [String]
    /// The type name of the object reached.
    public var target: String
    /// Objects in the cycle the target belongs to (nil: it is in none).
    public var cycleSize: Int?
    /// References into that cycle from outside it; 1: only the chain's last step keeps it alive.
    public var cycleReferrers: Int?

    public init(root: String, steps: [String], target: String, cycleSize: Int? = nil, cycleReferrers: Int? = nil) {
        self.root = root
        self.steps = steps
        self.target = target
        self.cycleSize = cycleSize
        self.cycleReferrers = cycleReferrers
    }

    /// `global cache → Entry.next → Entry.blob → Blob`.
    public var text: String { ([root] + steps + [target]).joined(separator: " → ") }
}

/// What one search from the roots found, per group (groups are numbered 0 ..< count).
public struct ReferenceSearch: Sendable {
    /// A shortest chain to one object of each group a root reaches (nil: none reached).
    public var chains: [ReferenceChain?]
    /// How many objects of each group the roots reach.
    public var reached: [Int]
}

extension Heap {
    /// The search for a target's cycle stops after this many objects (then: no cycle reported).
    public static let cycleSearchLimit = 100_000

    /// For each of `groups` groups — `group` numbers an object's (from the object and its site;
    /// nil: in none) — a shortest chain from `roots` (and the frozen objects) to one of its
    /// objects, and how many of its objects they reach. `typeName` names a type id in steps.
    /// World stopped, by the caller. (Groups are numbers, not a generic key: a generic key
    /// was hashed through witness tables per object, most of a million-object search.)
    public func shortestChainsWorldStopped(from roots: [ReferenceRoot], typeName: (Int) -> String, groups: Int,
                                           group: (ObjectRef, _ site: UInt32) -> Int?) -> ReferenceSearch {
        assertWorldStopped()
        let index = BlockIndex(allocator: allocator, sites: allocationSites)
        var allRoots = roots
        func noteFrozen(_ block: UnsafeMutableRawPointer) {
            let object = ObjectRef(block)
            let bits = object.header.pointee.gcBits.load(ordering: .relaxed)
            if bits & GCBits.frozen != 0 && bits & GCBits.dead == 0 {
                allRoots.append(ReferenceRoot(name: "frozen \(typeName(object.typeID))", object: object))
            }
        }
        for page in index.plan.pages { index.plan.forEachAllocatedBlock(in: page, noteFrozen) }
        for block in index.plan.large { noteFrozen(block) }
        // Per block index: the container it was first reached from and the slot (roots: the
        // root's number and -1; not reached: slot -2).
        var parentObject = [UInt](repeating: 0, count: index.count)
        var parentSlot = [Int32](repeating: -2, count: index.count)
        var queue: [UInt] = []
        queue.reserveCapacity(index.count)
        var found = [UInt](repeating: 0, count: groups)
        var search = ReferenceSearch(chains: Array(repeating: nil, count: groups), reached: Array(repeating: 0, count: groups))
        for (number, root) in allRoots.enumerated() {
            guard let at = index.index(of: root.object.bits), parentSlot[at] == -2 else { continue }
            parentObject[at] = UInt(number)
            parentSlot[at] = -1
            queue.append(root.object.bits)
        }
        var head = 0
        while head < queue.count {
            let object = ObjectRef(bits: queue[head])!
            head += 1
            if let number = group(object, index.site(of: object.bits)) {
                if found[number] == 0 { found[number] = object.bits }
                search.reached[number] += 1
            }
            for slot in 0..<object.slotCount {
                let referentBits = object.slot(slot).pointee.load(ordering: .relaxed)
                guard referentBits != 0, let at = index.index(of: referentBits), parentSlot[at] == -2 else { continue }
                let referent = ObjectRef(bits: referentBits)!
                guard referent.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0 else { continue }
                parentObject[at] = object.bits
                parentSlot[at] = Int32(slot)
                queue.append(referentBits)
            }
        }
        search.chains = found.map { target -> ReferenceChain? in
            guard target != 0 else { return nil }
            var steps: [String] = []
            var cursor = index.index(of: target)!
            while parentSlot[cursor] >= 0 {
                let container = ObjectRef(bits: parentObject[cursor])!
                steps.append(stepName(container: container, slot: Int(parentSlot[cursor]), typeName: typeName))
                cursor = index.index(of: container.bits)!
            }
            let root = allRoots[Int(parentObject[cursor])].name
            let object = ObjectRef(bits: target)!
            let cycle = cycleFacts(of: object)
            return ReferenceChain(root: root, steps: steps.reversed(), target: typeName(object.typeID),
                                  cycleSize: cycle?.members, cycleReferrers: cycle?.referrers)
        }
        return search
    }

    /// `Entry.next` for a named slot, `array[3]` for an element.
    private func stepName(container: ObjectRef, slot: Int, typeName: (Int) -> String) -> String {
        let name = typeName(container.typeID)
        if let description = types.description(of: container.typeID), slot < description.slotNames.count {
            return "\(name).\(description.slotNames[slot])"
        }
        return "\(name)[\(slot)]"
    }

    /// The cycle `target` is in (its strongly connected component, if more than itself or with a
    /// reference to itself) and the references into it from outside. Nil: in no cycle, or the
    /// search passed `cycleSearchLimit`.
    func cycleFacts(of target: ObjectRef) -> (members: Int, referrers: Int)? {
        var index: [UInt: Int] = [target.bits: 0]
        var order: [UInt] = [target.bits]
        var edges: [(from: Int, to: Int)] = []
        var next = 0
        while next < order.count {
            let object = ObjectRef(bits: order[next])!
            for slot in 0..<object.slotCount {
                let bits = object.slot(slot).pointee.load(ordering: .relaxed)
                guard bits != 0 else { continue }
                let to: Int
                if let known = index[bits] {
                    to = known
                } else {
                    guard order.count < Heap.cycleSearchLimit else { return nil }
                    to = order.count
                    index[bits] = to
                    order.append(bits)
                }
                edges.append((next, to))
            }
            next += 1
        }
        var referrers = Array(repeating: [Int](), count: order.count)
        for edge in edges { referrers[edge.to].append(edge.from) }
        var member = Array(repeating: false, count: order.count)
        member[0] = true
        var stack = [0]
        while let current = stack.popLast() {
            for from in referrers[current] where !member[from] {
                member[from] = true
                stack.append(from)
            }
        }
        let inside = edges.filter { member[$0.from] && member[$0.to] }.count
        guard inside > 0 else { return nil }
        let members = member.filter { $0 }.count
        let counts = order.indices.filter { member[$0] }.reduce(0) { $0 + policy.count(ObjectRef(bits: order[$1])!) }
        return (members, counts - inside)
    }
}
