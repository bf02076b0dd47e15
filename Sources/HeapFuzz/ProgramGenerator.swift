// ProgramGenerator: seeded, well-formed workload programs for the program fuzzer. One seed gives
// one program, the same text on every machine (SplitMix64 makes every choice).
//
// A program is a set of *scenarios* (ProgramGenerator+Scenarios.swift, +Threads.swift) — lists
// and rings, trees with parent pointers, cyclic garbage, weak references with callbacks,
// recursion, arrays, resurrection, collections inside finalizers and callbacks, threads that
// build and drop structures, channels, shared globals — run by main one after another, with gc
// control (tiny thresholds, disable/enable, freeze/unfreeze, collections) between them. Types are
// made on demand (a scenario asks for the slots it needs) with 0–4 slots, payloads and
// finalizers that allocate, resurrect, clear their slots and weakly refer to themselves.
//
// What every generated program promises, so that the oracle can hold heapd to it:
//
//   - the checker accepts it (a rejection is a generator bug);
//   - it ends without a run-time error, unless `expectedError` says otherwise (a deliberate
//     failure at the end of main); every `expect` it writes holds on a correct heapd;
//   - its output does not depend on collection timing or thread interleaving: main prints only
//     checksums of structures it holds strongly, results of joined threads, sums over what
//     channels carried (order-free), `deref` of a weak reference whose referent main holds or
//     has freed by reference counting or by a full `gc.collect()` with nothing frozen;
//     finalizers, callbacks and spawned threads print nothing, and write only globals that
//     main never prints;
//   - finalizers and callbacks do not fail: `gc.collect()` appears only in the finalizer of a
//     type whose objects live only in main's locals (they die by reference counting, never in
//     a collection's pause), and in callbacks of weak references of the same kind; finalizers
//     allocate only types declared after their own or types without finalizers, so that they
//     cannot nest without end; structures of types with finalizers stay short (their
//     finalizers may nest along a chain, and the run allows 48 nested hooks).
//
// Slot discipline: a slot named `v` holds a small integer or none; every other slot holds a
// reference or none. Checksums stay below 1_000_003 · 31, far from overflow. Finalizers and
// callbacks write globals (`sink`, `cbbad`, `rez…`) but never read them: at the end of a run the
// run releases the globals (they read as none) and collects, and finalizers still run then.

import HeapWorkload

/// One generated program.
public struct GeneratedProgram: Sendable {
    public let seed: UInt64
    public let source: String
    /// The error every configuration must end with (a deliberate failure at the end of main);
    /// nil: the program must end well.
    public let expectedError: RunErrorCode?
    /// The scenarios it is made of, in order (for statistics and for people reading a finding).
    public let scenarios: [String]

    /// A program from elsewhere (a saved reproducer), held to the same promises.
    public init(seed: UInt64, source: String, expectedError: RunErrorCode? = nil, scenarios: [String] = []) {
        self.seed = seed
        self.source = source
        self.expectedError = expectedError
        self.scenarios = scenarios
    }
}

/// Makes programs; see the file's comment for what they promise.
public enum ProgramGenerator {
    public static func generate(seed: UInt64) -> GeneratedProgram {
        var generation = Generation(seed: seed)
        return generation.program()
    }
}

/// Lines of source with indentation.
struct SourceBlock {
    private(set) var lines: [String] = []
    private var depth: Int

    init(depth: Int = 0) {
        self.depth = depth
    }

    mutating func line(_ text: String) {
        lines.append(String(repeating: "    ", count: depth) + text)
    }

    /// `header {`; the lines that follow are one level in, up to `close()`.
    mutating func open(_ header: String) {
        line(header + " {")
        depth += 1
    }

    mutating func close() {
        depth -= 1
        line("}")
    }

    /// `header { statement }` on one line.
    mutating func line(_ header: String, _ statement: String) {
        line(header + " { " + statement + " }")
    }

    var text: String { lines.joined(separator: "\n") }
}

/// A type of the program being made.
struct GeneratedType {
    let name: String
    let slots: [String]
    let payload: Int
    /// What its finalizer does (nil: it has none).
    let finalizer: FinalizerPlan?
    /// Made for one scenario (the collecting finalizer's type): never handed to another.
    let reserved: Bool

    var referenceSlots: [String] { slots.filter { $0 != "v" } }
    var resurrects: Bool { finalizer?.resurrectsInto != nil }
}

struct FinalizerPlan {
    /// The global the finalizer stores `self` into (nil: it does not resurrect).
    var resurrectsInto: String?
    var clearsSlots = false
    var allocates = false
    var storesIntoSelf = false
    var weaklyRefersToSelf = false
    var loops = false
    var readsValue = false
    /// Only for reserved types whose objects die by reference counting in main.
    var collects = false
}

/// The state of one program being made.
struct Generation {
    static let slotPool = ["v", "next", "prev", "left", "right", "parent", "a", "b"]
    /// Nodes of a structure whose type has a finalizer (see the file's comment).
    static let finalizedStructureLimit = 14
    static let modulus = 1_000_003

    let seed: UInt64
    var random: SplitMix64
    var types: [GeneratedType] = []
    var globals: [String] = ["global sink = 0", "global cbbad = 0"]
    var params: [String] = []
    var functions: [String] = []
    var main = SourceBlock(depth: 1)
    var scenarioNames: [String] = []
    /// Callbacks of weak references: plain ones, and ones that collect (for weak references
    /// whose referents die by reference counting in main only).
    var plainCallbacks: [String] = []
    var collectingCallbacks: [String] = []
    var resurrectionGlobals: [String] = []
    var threadsSpawned = 0
    private var nextID = 0

    init(seed: UInt64) {
        self.seed = seed
        random = SplitMix64(seed: seed)
    }

    /// A fresh number for names (`n3`, `build3`, ...).
    mutating func id() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    // MARK: The program

    mutating func program() -> GeneratedProgram {
        if random.chance(70) { main.line(thresholdStatement()) }
        if random.chance(15) { main.line("gc.disable()") }
        let background = random.chance(30) ? backgroundChurn() : nil
        let count = random.int(in: 3...7)
        var frozen = false
        var disabled = false
        for index in 0..<count {
            scenario()
            guard index < count - 1 else { break }
            if frozen && random.chance(70) {
                main.line("gc.unfreeze()")
                frozen = false
            }
            switch random.below(12) {
            case 0, 1: main.line(thresholdStatement())
            case 2: main.line("gc.collect()")
            case 3: main.line("gc.collect(\(random.below(3)))")
            case 4:
                if !frozen {
                    main.line("gc.freeze()")
                    frozen = true
                }
            case 5:
                main.line(disabled ? "gc.enable()" : "gc.disable()")
                disabled.toggle()
            case 6: main.line("c\(id()) = gc.get_count(\(random.below(3))) + gc.get_threshold(\(random.below(3))) + gc.isenabled()")
            default: break
            }
        }
        if frozen { main.line("gc.unfreeze()") }
        if disabled && random.chance(50) { main.line("gc.enable()") }
        if let background { main.line("join(\(background))") }
        // Resurrected objects go back to being garbage; then every callback so far must have
        // seen its referent cleared.
        for global in resurrectionGlobals { main.line(random.chance(50) ? "\(global) = none" : "del \(global)") }
        main.line("gc.collect()")
        if !plainCallbacks.isEmpty || !collectingCallbacks.isEmpty {
            main.line("expect cbbad == 0, \"a weak reference's callback sees its referent cleared\"")
        }
        var expectedError: RunErrorCode?
        if random.chance(5) {
            expectedError = deliberateFailure()
        }
        main.line("print \"done\"")
        return GeneratedProgram(seed: seed, source: assemble(), expectedError: expectedError, scenarios: scenarioNames)
    }

    /// The whole text; type declarations last to be made, since finalizers may allocate any
    /// type of the program.
    private mutating func assemble() -> String {
        var parts = ["# heapfuzz program, seed \(seed) (HeapFuzz.ProgramGenerator)"]
        let declarations = types.indices.map { declaration(of: $0) }
        parts.append(contentsOf: params)
        parts.append(contentsOf: globals)
        parts.append(contentsOf: declarations)
        parts.append(contentsOf: functions)
        parts.append("main {\n" + main.text + "\n}")
        return parts.joined(separator: "\n") + "\n"
    }

    mutating func thresholdStatement() -> String {
        switch random.below(3) {
        case 0: "gc.set_threshold(\(random.int(in: 1...50)))"
        case 1: "gc.set_threshold(\(random.int(in: 1...50)), \(random.int(in: 1...10)))"
        default: "gc.set_threshold(\(random.int(in: 1...50)), \(random.int(in: 1...10)), \(random.int(in: 1...10)))"
        }
    }

    /// The end of main fails on purpose, the same way under every configuration, sometimes with
    /// a thread still waiting on a channel (the failure must wake it and release everything).
    private mutating func deliberateFailure() -> RunErrorCode {
        let n = id()
        if random.chance(50) {
            let node = requireType(["v", "next"], allowResurrecting: true)
            _ = threads(1)
            functions.append("""
                fn waiter\(n)(ch) {
                    x = recv(ch)
                    while x != none { x = recv(ch) }
                    return 0
                }
                """)
            main.line("ch\(n) = channel(2)")
            main.line("t\(n) = spawn waiter\(n)(ch\(n))")
            main.line("x\(n) = new \(types[node].name)")
            main.line("x\(n).next = x\(n)")
            main.line("send(ch\(n), x\(n))")
        }
        switch random.below(3) {
        case 0:
            main.line("expect \(n) == \(n + 1), \"a deliberate failure\"")
            return .expectFailed
        case 1:
            main.line("z\(n) = 0")
            main.line("q\(n) = \(n) / z\(n)")
            return .divisionByZero
        default:
            main.line("arr\(n) = new [2]")
            main.line("q\(n) = arr\(n)[2]")
            return .indexOutOfRange
        }
    }

    // MARK: Types

    /// A type with at least `slots` (and not one whose finalizer resurrects, unless allowed):
    /// an existing one, or a new one with a few more slots, a payload and maybe a finalizer.
    mutating func requireType(_ slots: [String], allowResurrecting: Bool, allowFinalizer: Bool = true) -> Int {
        let fitting = types.indices.filter { index in
            let type = types[index]
            return !type.reserved && slots.allSatisfy(type.slots.contains)
                && (allowResurrecting || !type.resurrects) && (allowFinalizer || type.finalizer == nil)
        }
        if !fitting.isEmpty && (types.count >= 8 || random.chance(60)) { return random.pick(fitting) }
        var chosen = slots
        let extra = random.below(5 - slots.count)
        for name in random.shuffled(Generation.slotPool) where chosen.count < slots.count + extra && !chosen.contains(name) {
            chosen.append(name)
        }
        chosen = random.shuffled(chosen)
        var plan: FinalizerPlan?
        if allowFinalizer && random.chance(50) {
            var made = FinalizerPlan()
            if allowResurrecting && random.chance(30) { made.resurrectsInto = resurrectionGlobal() }
            made.clearsSlots = random.chance(40)
            made.allocates = random.chance(50)
            made.storesIntoSelf = random.chance(20)
            made.weaklyRefersToSelf = random.chance(15)
            made.loops = random.chance(20)
            made.readsValue = random.chance(30)
            plan = made
        }
        return addType(slots: chosen, finalizer: plan, reserved: false)
    }

    mutating func addType(slots: [String], finalizer: FinalizerPlan?, reserved: Bool) -> Int {
        let payload = random.chance(30) ? random.pick([0, 1, 8, 24, 100, 600, 5000]) : 0
        types.append(GeneratedType(name: "T\(types.count)", slots: slots, payload: payload, finalizer: finalizer, reserved: reserved))
        return types.count - 1
    }

    /// A type with no finalizer among those `index`'s finalizer may allocate: declared later,
    /// or without a finalizer (never a reserved one).
    private mutating func allocatable(from index: Int) -> Int? {
        let choices = types.indices.filter { $0 != index && !types[$0].reserved && ($0 > index || types[$0].finalizer == nil) }
        return choices.isEmpty ? nil : random.pick(choices)
    }

    mutating func resurrectionGlobal() -> String {
        if resurrectionGlobals.isEmpty || (resurrectionGlobals.count < 3 && random.chance(40)) {
            let name = "rez\(resurrectionGlobals.count)"
            resurrectionGlobals.append(name)
            globals.append("global \(name)")
        }
        return random.pick(resurrectionGlobals)
    }

    /// `type T3 { ... }`, with its finalizer.
    private mutating func declaration(of index: Int) -> String {
        let type = types[index]
        var items = type.slots
        if type.payload > 0 || random.chance(10) { items.append("payload \(type.payload)") }
        guard let plan = type.finalizer else {
            return "type \(type.name) { \(items.joined(separator: random.pick([", ", "; "]))) }"
        }
        var body = SourceBlock(depth: 2)
        let refs = type.referenceSlots
        if plan.weaklyRefersToSelf {
            body.line("w = weak(self)")
            body.line("x = deref(w)")
            if random.chance(50) { body.line("del x") }
        }
        if plan.readsValue && type.slots.contains("v") {
            body.line("if self.v != none { sink = self.v + 1 }")
        }
        if plan.allocates { allocation(in: &body, from: index) }
        if plan.storesIntoSelf, let slot = refs.first, let other = allocatable(from: index) {
            body.line("self.\(slot) = new \(types[other].name)")
        }
        if plan.loops {
            body.line("k = 0")
            body.open("while k < \(random.int(in: 1...6))")
            body.line("k = k + 1")
            body.line("sink = k")
            body.close()
        }
        if plan.clearsSlots {
            for slot in type.slots where random.chance(70) { body.line("self.\(slot) = none") }
        }
        if plan.collects { body.line("found = gc.collect(\(random.chance(50) ? "" : String(random.below(3))))") }
        if let global = plan.resurrectsInto { body.line("\(global) = self") }
        if body.lines.isEmpty { body.line("sink = \(random.below(1000))") }
        var text = "type \(type.name) {\n"
        for item in items { text += "    \(item)\n" }
        text += "    finalize {\n" + body.text + "\n    }\n}"
        return text
    }

    /// Allocation inside a finalizer or callback: an object that dies at once, alone, in a self
    /// loop (new cyclic garbage made while collecting) or holding the dying object for a moment.
    mutating func allocation(in body: inout SourceBlock, from index: Int?, holding held: String? = "self") {
        let other: Int?
        if let index {
            other = allocatable(from: index)
        } else {
            let choices = types.indices.filter { !types[$0].reserved }
            other = choices.isEmpty ? nil : random.pick(choices)
        }
        guard let other, random.chance(75) else {
            body.line("arr = new [\(random.int(in: 1...4))]")
            body.line("arr[0] = arr")
            if let held, random.chance(50) { body.line("arr[0] = \(held)") }
            return
        }
        let type = types[other]
        body.line("t = new \(type.name)")
        if type.slots.contains("v") { body.line("t.v = \(random.below(100))") }
        if let slot = type.referenceSlots.first {
            // Only a type without a finalizer may hold the dying object (or weak reference):
            // a finalizer of its own could resurrect it, and the held object with it.
            if let held, type.finalizer == nil, random.chance(40) {
                body.line("t.\(slot) = \(held)")
            } else if random.chance(60) {
                body.line("t.\(slot) = t")
            }
        }
        if random.chance(30) { body.line("del t") }
    }

    // MARK: Weak-reference callbacks

    /// A callback that checks that its weak reference is cleared, and may allocate.
    mutating func plainCallback() -> String {
        if !plainCallbacks.isEmpty && (plainCallbacks.count >= 3 || random.chance(60)) { return random.pick(plainCallbacks) }
        let name = "cb\(plainCallbacks.count)"
        plainCallbacks.append(name)
        var body = SourceBlock(depth: 1)
        body.line("if deref(w) != none { cbbad = 1 }")
        if random.chance(50) { allocation(in: &body, from: nil, holding: "w") }
        if random.chance(40) { body.line("sink = \(random.below(1000))") }
        functions.append("fn \(name)(w) {\n" + body.text + "\n}")
        return name
    }

    /// A callback that collects: only for weak references whose referents die by reference
    /// counting in main (never inside a collection, where collecting is refused).
    mutating func collectingCallback() -> String {
        if !collectingCallbacks.isEmpty && random.chance(50) { return random.pick(collectingCallbacks) }
        let name = "cbc\(collectingCallbacks.count)"
        collectingCallbacks.append(name)
        var body = SourceBlock(depth: 1)
        body.line("if deref(w) != none { cbbad = 1 }")
        body.line("found = gc.collect(\(random.chance(50) ? "" : String(random.below(3))))")
        if random.chance(50) { allocation(in: &body, from: nil, holding: nil) }
        functions.append("fn \(name)(w) {\n" + body.text + "\n}")
        return name
    }

    /// `weak(x)` or `weak(x, callback)`.
    mutating func weakReference(to value: String) -> String {
        random.chance(60) ? "weak(\(value), \(plainCallback()))" : "weak(\(value))"
    }

    /// The most nodes a structure of `type` may have.
    func limit(_ wanted: Int, for type: Int) -> Int {
        types[type].finalizer == nil ? wanted : min(wanted, Generation.finalizedStructureLimit)
    }
}
