// Concurrent collection under load (issue 13's "what must hold"): seeded mutators rewire, share
// and drop graphs of numbered nodes while a dedicated mutator collects back to back (generations
// 0, 1 and 2, concurrent mode; some configurations switch the heap's mode between collections,
// one lets the collector thread collect at low thresholds instead). Cycles stay reachable through
// globals (slots of a shared root array), through a mailbox (a reference handed from one thread
// to another, as a channel hands it), and through each thread's own variables; weak references
// to some nodes — dropped cycles' among them — are dereferenced while collections run.
//
// The model: each node's id is in its payload; the model knows every node's slots, the globals,
// the mailbox, the weak references' targets, and (at the end of each phase) what each thread
// holds. Every shared slot is written and read under the model's lock, so a load's result must
// be the node the model names there, and a deref that returns a node must return its target.
// At the end of each phase, with every mutator waiting at a barrier in a blocking region, the
// verifier runs with the model's roots, and every node reached from them must hold what the model
// says. After a final full collection the live objects are exactly what the model reaches, each
// weak reference derefs to its target if the model reaches it and to nothing otherwise, and
// releasing everything empties the heap.
//
// No heap operation that may park (an allocation, a safepoint, a blocking region) runs under the
// model's lock: a thread waiting for the lock has not parked, and a pause would wait for it.

@testable import HeapCore
import Foundation
import Synchronization
import Testing

struct ConcurrentStressConfiguration: Sendable, CustomTestStringConvertible {
    var seed: UInt64
    var policy: RefCountPolicyKind
    var threads: Int
    /// The collecting mutator switches `heap.collectionMode` between collections.
    var switchesMode = false
    /// The collector thread collects at low thresholds; the dedicated mutator only dereferences
    /// weak references meanwhile.
    var automatic = false
    var checked = false

    var testDescription: String {
        "seed \(seed), \(policy), \(threads) threads" + (switchesMode ? ", switching modes" : "")
            + (automatic ? ", automatic" : "") + (checked ? ", checked" : "")
    }
}

@Suite(.serialized) struct ConcurrentCollectionStressTests {
    static let phases = 5
    static let operations = max(500, Int(15_000 * stressScale))

    @Test(arguments: [
        ConcurrentStressConfiguration(seed: 31, policy: .biased, threads: 2),
        ConcurrentStressConfiguration(seed: 38, policy: .biased, threads: 2, switchesMode: true),
        ConcurrentStressConfiguration(seed: 32, policy: .biased, threads: 3, switchesMode: true, checked: true),
        ConcurrentStressConfiguration(seed: 33, policy: .atomic, threads: 2, checked: true),
        ConcurrentStressConfiguration(seed: 34, policy: .atomic, threads: 3, switchesMode: true),
        ConcurrentStressConfiguration(seed: 35, policy: .globalLock, threads: 2),
        ConcurrentStressConfiguration(seed: 36, policy: .globalLock, threads: 3, switchesMode: true),
        ConcurrentStressConfiguration(seed: 37, policy: .biased, threads: 3, automatic: true),
    ])
    func mutatorsRewireShareAndDropGraphsWhileCollectionsRunConcurrently(_ configuration: ConcurrentStressConfiguration) {
        let run = ConcurrentStressRun(configuration, phases: Self.phases, operations: Self.operations)
        run.run()
        let failures = run.failures.withLock { $0 }
        #expect(failures.isEmpty, "\(configuration.testDescription):\n\(failures.joined(separator: "\n"))")
        let tally = run.tally.withLock { $0 }
        let totals = run.heap.collectorTotals
        // The concurrent path ran, and found something to validate.
        #expect(tally.withTentative > 0, "\(configuration.testDescription): \(tally)")
        #expect(totals.tentative == tally.tentative && totals.validated == tally.tentative - tally.dropped)
        run.heap.allocator.collect()
        #expect(run.heap.allocator.statistics().liveBlocks == 0, "\(configuration.testDescription)")
        print("ConcurrentCollectionStress [\(configuration.testDescription)]: \(tally)")
    }
}

/// A node's id and a reference to it.
struct HeldNode: Sendable {
    let object: ObjectRef
    let id: Int
}

/// What the mutators share, under one lock.
struct StressModel: Sendable {
    /// Every node made, by id: its object and what its slots name (ids).
    var nodes: [Int: (object: ObjectRef, slots: [Int?])] = [:]
    /// What the root array's slots name.
    var globals: [Int?]
    /// References in flight from one thread to another, oldest first.
    var mailbox: [HeldNode] = []
    /// Weak references (one reference each, the model's) and their targets.
    var weak: [(reference: ObjectRef, target: Int)] = []
    /// What each thread held at the end of its last phase.
    var held: [[HeldNode]]
}

/// What the collections reported (their stop callbacks).
struct CollectionTally: Sendable, CustomStringConvertible {
    var collections = 0
    var concurrent = 0
    var automatic = 0
    var withTentative = 0
    var tentative = 0
    var withDropped = 0
    var dropped = 0
    var collected = 0

    var description: String {
        "\(collections) collections (\(concurrent) concurrent, \(automatic) automatic), \(collected) objects collected; "
            + "tentative garbage in \(withTentative) (\(tentative) objects), dropped by validation in \(withDropped) (\(dropped) objects)"
    }
}

/// One run of the stress test: the heap, the model, and the threads' bodies.
final class ConcurrentStressRun: Sendable {
    static let globalSlots = 8
    static let weakReferences = 12
    /// A thread holding this many nodes drops some before doing anything else.
    static let mostHeld = 48

    let configuration: ConcurrentStressConfiguration
    let phases: Int
    let operations: Int
    let heap: Heap
    let node: ObjectType
    let globals: ObjectRef
    let model: Locked<StressModel>
    let failures = Locked<[String]>([])
    let tally = Locked(CollectionTally())
    /// Mutator phases finished (the collecting mutator stops collecting when all have).
    let finished = Atomic<Int>(0)
    let nextID = Atomic<Int>(1)
    let barrier: Barrier

    init(_ configuration: ConcurrentStressConfiguration, phases: Int, operations: Int) {
        self.configuration = configuration
        self.phases = phases
        self.operations = operations
        let heap = Heap(policy: configuration.policy,
                        allocator: AllocatorConfiguration(checking: configuration.checked ? AllocatorChecking() : AllocatorChecking.fromEnvironment),
                        collector: configuration.automatic
                            ? CollectorConfiguration(thresholds: (16, 2, 2), idleInterval: .milliseconds(2)) : .manual)
        heap.pauseWalkPages = -1                  // the concurrent path, however small the heap
        node = heap.types.register(name: "Node", slots: ["a", "b"], payloadBytes: 8)
        let table = heap.types.register(name: "Globals", isArray: true)
        let made = Locked<ObjectRef?>(nil)
        withMutator(heap) { m in made.withLock { $0 = m.newArray(table, count: ConcurrentStressRun.globalSlots)! } }
        self.heap = heap
        globals = made.withLock { $0! }
        model = Locked(StressModel(globals: Array(repeating: nil, count: Self.globalSlots),
                                   held: Array(repeating: [], count: configuration.threads)))
        barrier = Barrier(parties: configuration.threads + 1)
        let tally = self.tally
        heap.addCollectionCallback { phase, result in
            guard phase == .stop else { return }
            tally.withLock { tally in
                tally.collections += 1
                if result.mode == .concurrent { tally.concurrent += 1 }
                if result.reason != .explicit { tally.automatic += 1 }
                if result.tentative > 0 { tally.withTentative += 1 }
                tally.tentative += result.tentative
                if result.dropped > 0 { tally.withDropped += 1 }
                tally.dropped += result.dropped
                tally.collected += result.collected
            }
        }
    }

    func fail(_ message: String) {
        failures.withLock { if $0.count < 40 { $0.append(message) } }
    }

    /// The mutators, the collecting mutator (the last thread), then the final checks.
    func run() {
        let threads = configuration.threads
        runOnThreads(threads + 1) { me in
            var random = SeededRandom(seed: self.configuration.seed &+ UInt64(me) &* 104_729)
            let m = self.heap.attachCurrentThread()
            var mine: [HeldNode] = []
            for phase in 0..<self.phases {
                if me == threads {
                    self.collectWhileMutatorsRun(until: threads * (phase + 1), m, &random)
                } else {
                    for step in 0..<self.operations {
                        self.operate(m, &mine, &random)
                        if step % 4 == 3 { m.safepoint() }
                        // Under the global lock, the collecting mutator needs a turn now and then.
                        if step % 32 == 31 { m.yieldGlobalLock() }
                    }
                    self.model.withLock { $0.held[me] = mine }
                    // Relaxed: a count only; what the mutator did reaches the verifier through the
                    // model's lock and the barrier.
                    self.finished.add(1, ordering: .relaxed)
                }
                self.barrier.wait(as: m)
                if me == threads { self.verify("phase \(phase)", m) }
                self.barrier.wait(as: m)
            }
            self.heap.detachCurrentThread()
        }
        withMutator(heap) { m in self.finish(m) }
    }

    // MARK: the collecting mutator

    /// Collects back to back (or, in the automatic configuration, dereferences weak references
    /// while the collector thread collects) until the mutators have finished `phasesDone` phases.
    private func collectWhileMutatorsRun(until phasesDone: Int, _ m: Mutator, _ random: inout SeededRandom) {
        while finished.load(ordering: .relaxed) < phasesDone {
            if configuration.switchesMode, Int.random(in: 0..<4, using: &random) == 0 {
                heap.collectionMode = Bool.random(using: &random) ? .concurrent : .stopTheWorld
            }
            if configuration.automatic {
                if let held = derefWeakReference(m, &random) { m.release(held.object) }
                m.enterBlockingRegion()
                usleep(200)
                m.leaveBlockingRegion()
            } else {
                let roll = Int.random(in: 0..<10, using: &random)
                heap.collect(generation: roll < 5 ? 0 : roll < 8 ? 1 : 2)
            }
            m.safepoint()
        }
    }

    // MARK: the mutators' operations

    /// One random operation of a mutator holding `mine`.
    private func operate(_ m: Mutator, _ mine: inout [HeldNode], _ random: inout SeededRandom) {
        let roll = mine.count >= Self.mostHeld ? 75 : Int.random(in: 0..<100, using: &random)
        switch roll {
        case 0..<14:
            makeRing(m, &mine, &random)
        case 14..<22:
            let fresh = makeNode(m)
            let child = mine.randomElement(using: &random)
            if let child { m.store(child.object, into: fresh.object, slot: 1) }
            model.withLock { $0.nodes[fresh.id] = (fresh.object, [nil, child?.id]) }
            mine.append(fresh)
        case 22..<30 where !mine.isEmpty:
            let held = mine.randomElement(using: &random)!
            let slot = Int.random(in: 0..<Self.globalSlots, using: &random)
            model.withLock { model in
                m.store(held.object, into: globals, slot: slot)
                model.globals[slot] = held.id
            }
        case 30..<38:
            let slot = Int.random(in: 0..<Self.globalSlots, using: &random)
            if let loaded = model.withLock({ model in
                check(m.load(globals, slot: slot), isNode: model.globals[slot], in: model, "global \(slot)")
            }) { mine.append(loaded) }
        case 38..<48 where !mine.isEmpty:
            rewire(m, mine.randomElement(using: &random)!, from: mine, &random)
        case 48..<56 where !mine.isEmpty:
            let held = mine.randomElement(using: &random)!
            let slot = Int.random(in: 0..<2, using: &random)
            if let loaded = model.withLock({ model in
                check(m.load(held.object, slot: slot), isNode: model.nodes[held.id]!.slots[slot], in: model, "node \(held.id) slot \(slot)")
            }) { mine.append(loaded) }
        case 56..<62 where !mine.isEmpty:
            let held = mine.remove(at: Int.random(in: 0..<mine.count, using: &random))
            m.handOff(held.object)
            model.withLock { $0.mailbox.append(held) }
        case 62..<68:
            if let received = model.withLock({ $0.mailbox.isEmpty ? nil : $0.mailbox.removeFirst() }) {
                if received.object.payload.load(as: Int.self) != received.id {
                    fail("received \(received.object) as node \(received.id), but its payload says \(received.object.payload.load(as: Int.self))")
                }
                mine.append(received)
            }
        case 68..<84 where !mine.isEmpty:
            let index = Int.random(in: 0..<mine.count, using: &random)
            mine.swapAt(index, mine.count - 1)
            m.release(mine.removeLast().object)
        case 84..<88 where !mine.isEmpty:
            addWeakReference(m, to: mine.randomElement(using: &random)!, &random)
        case 88..<96:
            if let held = derefWeakReference(m, &random) {
                if Bool.random(using: &random) { mine.append(held) } else { m.release(held.object) }
            }
        default:
            let slot = Int.random(in: 0..<Self.globalSlots, using: &random)
            model.withLock { model in
                m.store(nil, into: globals, slot: slot)
                model.globals[slot] = nil
            }
        }
    }

    /// A new node with the next id in its payload, not yet in the model. May park.
    private func makeNode(_ m: Mutator) -> HeldNode {
        let object = m.new(node)!
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        object.payload.storeBytes(of: id, as: Int.self)
        return HeldNode(object: object, id: id)
    }

    /// A ring of 1–4 nodes through slot a, its head sometimes holding one of `mine` in slot b;
    /// the head is kept, put in a global, sent, or dropped (cyclic garbage, sometimes with a weak
    /// reference to it that another thread may deref before a collection frees it).
    private func makeRing(_ m: Mutator, _ mine: inout [HeldNode], _ random: inout SeededRandom) {
        let ring = (0..<Int.random(in: 1...4, using: &random)).map { _ in makeNode(m) }
        for (index, held) in ring.enumerated() { m.store(ring[(index + 1) % ring.count].object, into: held.object, slot: 0) }
        let outside = Bool.random(using: &random) ? mine.randomElement(using: &random) : nil
        if let outside { m.store(outside.object, into: ring[0].object, slot: 1) }
        model.withLock { model in
            for (index, held) in ring.enumerated() {
                model.nodes[held.id] = (held.object, [ring[(index + 1) % ring.count].id, index == 0 ? outside?.id : nil])
            }
        }
        for held in ring.dropFirst() { m.release(held.object) }
        let head = ring[0]
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<4:
            mine.append(head)
        case 4..<6:
            let slot = Int.random(in: 0..<Self.globalSlots, using: &random)
            model.withLock { model in
                m.store(consuming: head.object, into: globals, slot: slot)
                model.globals[slot] = head.id
            }
        case 6:
            m.handOff(head.object)
            model.withLock { $0.mailbox.append(head) }
        default:
            if Int.random(in: 0..<3, using: &random) == 0 { addWeakReference(m, to: ring.randomElement(using: &random)!, &random) }
            m.release(head.object)
        }
    }

    /// Stores nothing, another held node, or a global's node into a slot of `held`.
    private func rewire(_ m: Mutator, _ held: HeldNode, from mine: [HeldNode], _ random: inout SeededRandom) {
        let slot = Int.random(in: 0..<2, using: &random)
        let choice = Int.random(in: 0..<5, using: &random)
        let other = mine.randomElement(using: &random)!
        let global = Int.random(in: 0..<Self.globalSlots, using: &random)
        model.withLock { model in
            var value: HeldNode?
            switch choice {
            case 0, 1: value = nil
            case 2, 3: value = other
            default: value = check(m.load(globals, slot: global), isNode: model.globals[global], in: model, "global \(global)")
            }
            m.store(value?.object, into: held.object, slot: slot)
            model.nodes[held.id]!.slots[slot] = value?.id
            if choice == 4, let value { m.release(value.object) }
        }
    }

    /// Adds a weak reference to `target` to the model's, replacing a random one when they are
    /// all in use.
    private func addWeakReference(_ m: Mutator, to target: HeldNode, _ random: inout SeededRandom) {
        let weak = m.newWeakReference(to: target.object)!
        let index = Int.random(in: 0..<Self.weakReferences, using: &random)
        model.withLock { model in
            if model.weak.count < Self.weakReferences {
                model.weak.append((weak, target.id))
            } else {
                m.release(model.weak[index].reference)
                model.weak[index] = (weak, target.id)
            }
        }
    }

    /// Dereferences a random weak reference of the model's; what it returns must be its target.
    private func derefWeakReference(_ m: Mutator, _ random: inout SeededRandom) -> HeldNode? {
        let index = Int.random(in: 0..<Self.weakReferences, using: &random)
        return model.withLock { model in
            guard index < model.weak.count else { return nil }
            let (weak, target) = model.weak[index]
            return check(m.deref(weak), isNode: target, orNil: true, in: model, "weak reference \(index)")
        }
    }

    /// `loaded` (a new reference, or nil) must be node `id` (or nil, which a weak reference may
    /// also give for a node: `orNil`); returns it as held.
    private func check(_ loaded: ObjectRef?, isNode id: Int?, orNil: Bool = false, in model: StressModel, _ place: String) -> HeldNode? {
        guard let loaded else {
            if let id, !orNil { fail("\(place): empty, but the model says node \(id)") }
            return nil
        }
        let payload = loaded.payload.load(as: Int.self)
        guard let id, let expected = model.nodes[id]?.object, expected == loaded, payload == id else {
            fail("\(place): \(loaded) with id \(payload), but the model says \(id.map { "node \($0) at \(String(describing: model.nodes[$0]?.object))" } ?? "empty")")
            return HeldNode(object: loaded, id: payload)
        }
        return HeldNode(object: loaded, id: id)
    }

    // MARK: checks

    /// The model's roots, with multiplicity: what threads hold, the mailbox, the root array and
    /// the weak references.
    private func roots(of model: StressModel) -> [ObjectRef] {
        model.held.flatMap { $0.map(\.object) } + model.mailbox.map(\.object) + [globals] + model.weak.map(\.reference)
    }

    /// With the world stopped: every node reached from the model's roots is the object the model
    /// says, with its id, and its slots name what the model says. Returns the problems and the
    /// ids reached.
    private func checkIdentities(_ model: StressModel) -> (problems: [String], reached: Set<Int>) {
        var problems: [String] = []
        var reached = Set<Int>()
        var work: [Int] = []
        func reach(_ id: Int?, holding bits: UInt, at place: @autoclosure () -> String) {
            guard let id else {
                if bits != 0 { problems.append("\(place()) holds \(ObjectRef(bits: bits)!), but the model says empty") }
                return
            }
            guard let object = model.nodes[id]?.object, object.bits == bits else {
                problems.append("\(place()) holds \(ObjectRef(bits: bits).map(String.init(describing:)) ?? "nothing"), but the model says node \(id)")
                return
            }
            if object.payload.load(as: Int.self) != id {
                problems.append("\(place()): node \(id) at \(object) has id \(object.payload.load(as: Int.self))")
            }
            if reached.insert(id).inserted { work.append(id) }
        }
        for held in model.held.joined() + model.mailbox { reach(held.id, holding: held.object.bits, at: "a root") }
        for slot in 0..<Self.globalSlots {
            reach(model.globals[slot], holding: globals.slot(slot).pointee.load(ordering: .relaxed), at: "global \(slot)")
        }
        while let id = work.popLast() {
            let (object, slots) = model.nodes[id]!
            for slot in 0..<2 {
                reach(slots[slot], holding: object.slot(slot).pointee.load(ordering: .relaxed), at: "node \(id) slot \(slot)")
            }
        }
        return (problems, reached)
    }

    /// The verifier and the identity check with the world stopped, holding the collection gate
    /// so that no collection is between its pause and the release of what it kept (the
    /// references a teardown keeps are in no slot).
    @discardableResult
    private func verify(_ when: String, _ m: Mutator) -> (model: StressModel, reached: Set<Int>) {
        heap.collectionGate.enter(as: m)
        defer { heap.collectionGate.leave(as: m) }
        let snapshot = model.withLock { $0 }
        let (problems, reached) = heap.stopTheWorld {
            let (identities, reached) = checkIdentities(snapshot)
            return (heap.verify(roots: roots(of: snapshot)) + identities, reached)
        }
        for problem in problems.prefix(20) { fail("\(when): \(problem)") }
        return (snapshot, reached)
    }

    /// After the threads: a full collection leaves exactly what the model reaches, weak
    /// references deref to their targets exactly when the model reaches them, and releasing
    /// everything empties the heap.
    private func finish(_ m: Mutator) {
        if configuration.automatic {
            // An event, not a time: the bound only turns a starved collector thread into a failure.
            if !waitBlocked(m, until: { heap.collectorTotals.automaticCollections > 0 }) { fail("no automatic collection ran") }
        }
        heap.setAutomaticCollection(enabled: false)
        heap.collectionGate.enter(as: m)
        defer { heap.collectionGate.leave(as: m) }
        heap.collectionMode = .concurrent
        heap.collect()
        let (model, reached) = verify("after the final collection", m)
        var expected = ["Node": reached.count, "Globals": 1]
        if !model.weak.isEmpty { expected["<weakref>"] = model.weak.count }
        let live = heap.liveObjectsByType()
        if live != expected { fail("live objects \(live), but the model reaches \(expected)") }
        for (index, (weak, target)) in model.weak.enumerated() {
            let referent = m.deref(weak)
            let wanted = reached.contains(target) ? model.nodes[target]!.object : nil
            if referent != wanted {
                fail("weak reference \(index) to node \(target) derefs to \(String(describing: referent)), not \(String(describing: wanted))")
            }
            if let referent { m.release(referent) }
            m.release(weak)
        }
        for held in model.held.joined() + model.mailbox { m.release(held.object) }
        for slot in 0..<Self.globalSlots { m.store(nil, into: globals, slot: slot) }
        m.release(globals)
        heap.collect()
        expectEmpty(heap, m)
    }
}
