// Interpreter: one mutator thread running bytecode — its register stack, its call frames and the
// dispatch loop.
//
//   registers   one contiguous stack of words per thread; a frame is a window of it
//               (`frameSize` words from its base): its locals (parameters first), then its
//               temporaries. Invariants: no register above the running frame's top holds an
//               object (each is none or an integer left by an earlier frame), and between
//               statements no temporary does (the compiler moves or clears each one that may
//               hold an object once it is used; a temporary is written before it is read). So a
//               return releases and clears the frame's locals only, and an invocation (a call,
//               `execute`) clears its function's locals past the parameters — which are the
//               caller's argument temporaries, moved in place — and nothing else.
//   frames      the callers: next instruction, function entry, base, destination register
//   top         the running frame's end; callbacks that run inside an operation (weak-reference
//               callbacks during a release, finalizers) run above it
//   memory      the stack and the frames are reserved whole (`capacity`, `frameCapacity`; pages
//               never touched cost nothing) and taken from the run's OffHeapMemory ahead of
//               use, 64 KiB at a time, so that deep recursion in many threads counts against
//               the heap limit. An invocation makes at most `pollBudget` calls between two polls,
//               each at most the program's largest frame deeper, so taking before every
//               invocation and at every poll (`commitStack`) keeps, without a check on the call
//               path,
//                 top ≤ committedWords ≤ capacity,  frameCount ≤ committedFrames ≤ frameCapacity − 1
//               (a poll takes for top + pollBudget × largest frame and frameCount + pollBudget);
//               they go back when the thread's interpreter dies
//
// Between operations the thread polls at every call and loop back-edge (`pollBudget` of them at
// a time): the mutator's safepoint (stop-the-world, BRC merges, QSBR), the run's cancellation
// flag, its step and time limits.

import HeapCore
#if canImport(Glibc)
import Glibc
#endif

/// The operands of the instruction a pointer points to, read where they are used.
extension UnsafeMutablePointer where Pointee == Instruction {
    var op: Opcode { @inline(__always) get { pointee.op } }
    var a: Int32 { @inline(__always) get { pointee.a } }
    var b: Int32 { @inline(__always) get { pointee.b } }
    var c: Int32 { @inline(__always) get { pointee.c } }
    var d: Int32 { @inline(__always) get { pointee.d } }
}

/// A caller's state while its callee runs (32 bytes).
struct Frame {
    /// The caller's next instruction: the one after its call.
    var returnIP: UnsafeMutablePointer<Instruction>
    /// The caller's entry in the run's function table (RunCode.functions).
    var caller: UnsafeMutablePointer<FunctionEntry>
    var base: Int
    /// The caller's register that receives the result.
    var dest: Int32
}

/// The counters the loop updates, in raw memory owned by the thread: a stored property of the
/// class would cost a dynamic exclusivity check (swift_beginAccess, a TLS lookup) per update.
struct ThreadCounters {
    var top = 0
    var frameCount = 0
    var operations = 0
    var allocations = 0
    var bytesAllocated = 0
    var stepsLeft = Int.max
    /// Weak callbacks and finalizers running nested on this thread now.
    var hookDepth = 0
    /// Hooks to start before the next poll: a hook counts as a call, so that hooks that make
    /// fewer calls and back-edges than a poll's budget each still reach the run's limits.
    var hooksBeforePoll = InterpreterThread.pollBudget
    /// `allocations` as last added to the run's running total.
    var reportedAllocations = 0
    /// Registers and frames taken from the run's OffHeapMemory (the header's `memory`).
    var committedWords = 0
    var committedFrames = 0
    /// The running function and its frame's base as of the last poll or builtin: how a
    /// snapshot taken by another thread names this thread's top frame (frames record callers
    /// only). Not updated on calls and returns, so it may be stale between those points.
    var runningFunction = -1
    var runningBase = 0

    @inline(__always)
    mutating func noteRunning(_ function: Int, _ base: Int) {
        runningFunction = function
        runningBase = base
    }
}

final class InterpreterThread {
    let run: Run
    let mutator: Mutator
    let name: String
    let registers: UnsafeMutablePointer<Word>
    let capacity: Int
    /// Return addresses (`frameCount` of them in use), room for `maxCallDepth` + 1; pages never
    /// reached cost nothing.
    let frames: UnsafeMutablePointer<Frame>
    let frameCapacity: Int
    let counters: UnsafeMutablePointer<ThreadCounters>
    /// Passes per expect site.
    let expectPasses: UnsafeMutablePointer<Int>
    var random: SplitMix

    var top: Int {
        get { counters.pointee.top }
        set { counters.pointee.top = newValue }
    }
    var operations: Int { counters.pointee.operations }
    var allocations: Int {
        get { counters.pointee.allocations }
        set { counters.pointee.allocations = newValue }
    }
    var bytesAllocated: Int { counters.pointee.bytesAllocated }
    var expectPassCounts: [Int] { (0..<run.program.expects.count).map { expectPasses[$0] } }
    /// Phases this thread is in: when each began and its allocation count then.
    var phaseStarts: [Int: (UInt64, Int)] = [:]
    static let pollBudget = 128
    /// What the stack and the frames take from the run's OffHeapMemory at a time (64 KiB each).
    static let wordsPerCommit = 8192
    static let framesPerCommit = (64 << 10) / MemoryLayout<Frame>.stride
    /// How far the stack may grow between two polls: `pollBudget` of the program's largest frame.
    let stackMargin: Int

    init(run: Run, mutator: Mutator, name: String, seed: UInt64, registerWords: Int? = nil) {
        self.run = run
        self.mutator = mutator
        self.name = name
        capacity = registerWords ?? run.configuration.registerStackWords
        // calloc: the stack starts as none everywhere, and pages never touched cost nothing.
        registers = calloc(capacity, MemoryLayout<Word>.stride)!.assumingMemoryBound(to: Word.self)
        random = SplitMix(seed: seed)
        frameCapacity = run.configuration.maxCallDepth + 1
        stackMargin = InterpreterThread.pollBudget * (run.program.functions.map(\.frameSize).max() ?? 0)
        frames = calloc(frameCapacity, MemoryLayout<Frame>.stride)!.assumingMemoryBound(to: Frame.self)
        counters = .allocate(capacity: 1)
        counters.initialize(to: ThreadCounters(stepsLeft: run.configuration.maxSteps ?? Int.max))
        expectPasses = .allocate(capacity: max(run.program.expects.count, 1))
        expectPasses.initialize(repeating: 0, count: max(run.program.expects.count, 1))
    }

    deinit {
        run.offHeap.give(counters.pointee.committedWords * MemoryLayout<Word>.stride + counters.pointee.committedFrames * MemoryLayout<Frame>.stride)
        free(registers)
        free(frames)
        counters.deallocate()
        expectPasses.deallocate()
    }

    /// Clears the locals past the parameters of a frame of `function` starting at `frame` (the
    /// header's invariants: they may hold integers an earlier frame left, never an object).
    /// Locals are few: the first two are stored inline (a plain loop became a call to memset on
    /// every call, binary-trees' `make` clearing its one local `n`).
    @inline(__always)
    private func clearLocals(_ frame: UnsafeMutablePointer<Word>, _ function: UnsafeMutablePointer<FunctionEntry>) {
        assert((function.pointee.parameterCount..<function.pointee.frameSize).allSatisfy { !Words.isObject(frame[$0]) },
               "an object above the caller's top at a call")
        let first = function.pointee.parameterCount
        let count = function.pointee.localCount
        guard first < count else { return }
        frame[first] = Words.none
        guard first &+ 1 < count else { return }
        frame[first &+ 1] = Words.none
        if first &+ 2 < count { clearMoreLocals(frame + (first &+ 2), count &- first &- 2) }
    }

    @inline(never)
    private func clearMoreLocals(_ start: UnsafeMutablePointer<Word>, _ count: Int) {
        start.update(repeating: Words.none, count: count)
    }

    /// Releases every register of the stack below `top` (the run's end, or a failure unwinding).
    func releaseRegisters(from start: Int, to end: Int) {
        for index in start..<end {
            let word = registers[index]
            registers[index] = Words.none
            if Words.isObject(word) { mutator.release(Words.object(word)) }
        }
    }

    // MARK: The loop

    /// Runs function `index` with its frame at `base` (its arguments already there) until it
    /// returns; returns its value (a reference the caller now owns). The stack it may reach
    /// before its first poll is taken first (the header's `memory`).
    func execute(_ index: Int, base: Int) throws(RunError) -> Word {
        do throws(Fault) {
            try commitStack(top: base + run.bytecode.functions[index].frameSize)
        } catch {
            throw self.error(error, function: index, pc: 0)
        }
        return try interpret(index, base: base)
    }

    /// `execute` without taking stack first. (Kept apart: the same check inside this function
    /// cost 2.7% more instructions in binary-trees's loop, by callgrind.)
    private func interpret(_ index: Int, base startBase: Int) throws(RunError) -> Word {
        let table = run.bytecode.functions
        let slotCaches = run.bytecode.slotCaches
        let newTypes = run.bytecode.newTypes
        let boxTypeID = run.boxType.id
        let counters = self.counters
        let frames = self.frames
        let registers = self.registers
        let capacity = self.capacity
        let frameLimit = frameCapacity &- 1
        let entryDepth = counters.pointee.frameCount
        // The running function's entry (its index, `function`, only where a report needs it).
        var running = table + index
        var function: Int { running - table }
        // The next instruction (the loop's pc, as a pointer; jumps move it by their distance,
        // RunCode.swift, so no pointer to the function's start stays live across the dispatch).
        var ip = running.pointee.code
        var base = startBase
        var regs = registers + base
        let m = mutator
        var budget = InterpreterThread.pollBudget
        guard base + running.pointee.frameSize <= capacity else {
            throw error(Fault(.recursionLimit, "register stack exhausted"), function: function, pc: 0)
        }
        counters.pointee.top = base + running.pointee.frameSize
        clearLocals(regs, running)

        @inline(__always) func set(_ register: Int32, _ word: Word) {
            let slot = regs + Int(register)
            let old = slot.pointee
            slot.pointee = word
            if Words.isObject(old) { m.release(Words.object(old)) }
        }
        @inline(__always) func int(_ register: Int32, _ what: StaticString) throws(Fault) -> Int64 {
            let word = regs[Int(register)]
            guard Words.isInt(word) else { throw Fault(.typeError, "\(what) needs an integer, not \(run.describeKind(word))") }
            return Words.intValue(word)
        }
        @inline(__always) func object(_ register: Int32, _ what: StaticString) throws(Fault) -> ObjectRef {
            let word = regs[Int(register)]
            guard Words.isObject(word) else {
                throw Fault(word == 0 ? .noneAccess : .typeError, "\(what) of \(run.describeKind(word)): an object is needed")
            }
            return Words.object(word)
        }
        /// The slot that name number `name` is in `container`'s type, through the instruction's
        /// slot cache `cache` (RunCode.swift).
        @inline(__always) func namedSlot(_ container: ObjectRef, _ name: Int32, _ cache: Int32) throws(Fault) -> Int {
            let entry = (slotCaches + Int(cache)).pointee.load(ordering: .relaxed)
            if _fastPath(entry >> 32 == UInt64(truncatingIfNeeded: container.typeID)) { return Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) }
            return try slotCacheMiss(container, name: name, cache: cache)
        }
        /// An ordering test's operands (registers a and b), both integers, as their tagged
        /// words: 2v + 1 orders as v does.
        @inline(__always) func integers(_ instruction: UnsafeMutablePointer<Instruction>) throws(Fault) -> (Int, Int) {
            let x = regs[Int(instruction.a)], y = regs[Int(instruction.b)]
            guard x & y & 1 == 1 else {
                throw Fault(.typeError, "comparison of \(run.describeKind(x)) and \(run.describeKind(y)): integers are needed")
            }
            return (Int(bitPattern: x), Int(bitPattern: y))
        }
        /// The same for register a and the immediate b.
        @inline(__always) func integerAndImmediate(_ instruction: UnsafeMutablePointer<Instruction>) throws(Fault) -> (Int, Int) {
            let x = regs[Int(instruction.a)]
            guard Words.isInt(x) else { throw Fault(.typeError, "comparison of \(run.describeKind(x)) and an integer: integers are needed") }
            return (Int(bitPattern: x), Int(instruction.b) &<< 1 | 1)
        }
        /// The object in `register`, checked to have slot `slot` (an index the compiler resolved).
        @inline(__always) func knownSlot(_ register: Int32, _ slot: Int32) throws(Fault) -> ObjectRef {
            let container = try object(register, "slot")
            guard Int(slot) < container.slotCount else { throw Fault(.unknownSlot, "object has no slot \(slot)") }
            return container
        }

        do throws(Fault) {
            while true {
                // Operands are read from the instruction in memory by the cases that use them (a
                // copy of the whole instruction kept all five values live across the dispatch).
                let instruction = ip
                ip += 1
                // Counted in the thread's counters: a local count, added at the end, stayed
                // in a stack slot anyway (a load and a store per operation).
                counters.pointee.operations &+= 1
                switch instruction.op {
                case .loadInt:
                    let word = run.integerWords[Int(instruction.b)]
                    guard word != 0 else { throw Fault(.overflow, "integer \(run.program.integers[Int(instruction.b)]) does not fit 63 bits") }
                    set(instruction.a, word)
                case .loadNone:
                    set(instruction.a, Words.none)
                case .move:
                    let word = regs[Int(instruction.b)]
                    if Words.isObject(word) { m.retain(Words.object(word)) }
                    set(instruction.a, word)
                case .clear:
                    set(instruction.a, Words.none)
                case .loadGlobal:
                    set(instruction.a, m.loadShared(run.globals + Int(instruction.b)))
                case .storeGlobal, .storeGlobalMove:
                    let word = regs[Int(instruction.b)]
                    if instruction.op == .storeGlobalMove { regs[Int(instruction.b)] = Words.none } else if Words.isObject(word) { m.retain(Words.object(word)) }
                    let old = (run.globals + Int(instruction.a)).pointee.exchange(word, ordering: .sequentiallyConsistent)
                    if Words.isObject(old) { m.release(Words.object(old)) }
                case .add:
                    let x = regs[Int(instruction.b)], y = regs[Int(instruction.c)]
                    if x & y & 1 == 1 {
                        let (sum, overflow) = Int(bitPattern: x).addingReportingOverflow(Int(bitPattern: y) &- 1)
                        guard !overflow else { throw Fault(.overflow, "integer overflow in +") }
                        set(instruction.a, Word(bitPattern: sum))
                    } else {
                        try arithmetic(.add, instruction.pointee, regs)
                    }
                case .subtract:
                    let x = regs[Int(instruction.b)], y = regs[Int(instruction.c)]
                    if x & y & 1 == 1 {
                        let (difference, overflow) = Int(bitPattern: x).subtractingReportingOverflow(Int(bitPattern: y) &- 1)
                        guard !overflow else { throw Fault(.overflow, "integer overflow in -") }
                        set(instruction.a, Word(bitPattern: difference))
                    } else {
                        try arithmetic(.subtract, instruction.pointee, regs)
                    }
                case .multiply: try arithmetic(.multiply, instruction.pointee, regs)
                case .divide: try arithmetic(.divide, instruction.pointee, regs)
                case .remainder: try arithmetic(.remainder, instruction.pointee, regs)
                case .shiftLeft: try arithmetic(.shiftLeft, instruction.pointee, regs)
                case .shiftRight: try arithmetic(.shiftRight, instruction.pointee, regs)
                case .bitAnd: try arithmetic(.bitAnd, instruction.pointee, regs)
                case .bitOr: try arithmetic(.bitOr, instruction.pointee, regs)
                case .bitXor: try arithmetic(.bitXor, instruction.pointee, regs)
                case .equal:
                    set(instruction.a, Words.bool(regs[Int(instruction.b)] == regs[Int(instruction.c)]))
                case .notEqual:
                    set(instruction.a, Words.bool(regs[Int(instruction.b)] != regs[Int(instruction.c)]))
                case .less, .lessEqual, .greater, .greaterEqual:
                    let x = try int(instruction.b, "comparison"), y = try int(instruction.c, "comparison")
                    set(instruction.a, Words.bool(Run.compare(instruction.op, x, y)))
                case .negate:
                    let x = try int(instruction.b, "unary -")
                    guard let word = Words.int(-x) else { throw Fault(.overflow, "integer overflow in unary -") }
                    set(instruction.a, word)
                case .not:
                    set(instruction.a, Words.bool(!Words.isTrue(regs[Int(instruction.b)])))
                case .jump:
                    ip += Int(instruction.a)
                case .loop:
                    // Polls before jumping, so that a limit or a cancellation names this line.
                    budget &-= 1
                    if budget == 0 { budget = InterpreterThread.pollBudget; counters.pointee.noteRunning(function, base); try poll() }
                    ip += Int(instruction.a)
                case .jumpIfFalse:
                    if !Words.isTrue(regs[Int(instruction.a)]) { ip += Int(instruction.b) }
                case .jumpIfTrue:
                    if Words.isTrue(regs[Int(instruction.a)]) { ip += Int(instruction.b) }
                case .jumpUnlessEqual:
                    if regs[Int(instruction.a)] != regs[Int(instruction.b)] { ip += Int(instruction.c) }
                case .jumpUnlessNotEqual:
                    if regs[Int(instruction.a)] == regs[Int(instruction.b)] { ip += Int(instruction.c) }
                // An ordering test has a case per opcode (a shared case tested the opcode again).
                case .jumpUnlessLess:
                    let (x, y) = try integers(instruction)
                    if !(x < y) { ip += Int(instruction.c) }
                case .jumpUnlessLessEqual:
                    let (x, y) = try integers(instruction)
                    if !(x <= y) { ip += Int(instruction.c) }
                case .jumpUnlessGreater:
                    let (x, y) = try integers(instruction)
                    if !(x > y) { ip += Int(instruction.c) }
                case .jumpUnlessGreaterEqual:
                    let (x, y) = try integers(instruction)
                    if !(x >= y) { ip += Int(instruction.c) }
                case .addImmediate:
                    let x = regs[Int(instruction.b)]
                    guard Words.isInt(x) else {
                        throw Fault(.typeError, "unsupported operands for +/-: \(run.describeKind(x)) and an integer")
                    }
                    let (sum, overflow) = Int(bitPattern: x).addingReportingOverflow(Int(instruction.c) &<< 1)
                    guard !overflow else { throw Fault(.overflow, "integer overflow in + (values are 63-bit)") }
                    set(instruction.a, Word(bitPattern: sum))
                // Against an immediate: equality holds for any value (an object is not the
                // integer), an ordering needs an integer.
                case .jumpUnlessEqualImmediate:
                    if regs[Int(instruction.a)] != Word(bitPattern: Int(instruction.b) &<< 1 | 1) { ip += Int(instruction.c) }
                case .jumpUnlessNotEqualImmediate:
                    if regs[Int(instruction.a)] == Word(bitPattern: Int(instruction.b) &<< 1 | 1) { ip += Int(instruction.c) }
                case .jumpUnlessLessImmediate:
                    let (x, n) = try integerAndImmediate(instruction)
                    if !(x < n) { ip += Int(instruction.c) }
                case .jumpUnlessLessEqualImmediate:
                    let (x, n) = try integerAndImmediate(instruction)
                    if !(x <= n) { ip += Int(instruction.c) }
                case .jumpUnlessGreaterImmediate:
                    let (x, n) = try integerAndImmediate(instruction)
                    if !(x > n) { ip += Int(instruction.c) }
                case .jumpUnlessGreaterEqualImmediate:
                    let (x, n) = try integerAndImmediate(instruction)
                    if !(x >= n) { ip += Int(instruction.c) }
                case .jumpIfSlotNamedNone:
                    let container = try object(instruction.a, "slot")
                    if m.slotIsEmpty(container, slot: try namedSlot(container, instruction.b, instruction.d)) { ip += Int(instruction.c) }
                case .jumpIfSlotNamedNotNone:
                    let container = try object(instruction.a, "slot")
                    if !m.slotIsEmpty(container, slot: try namedSlot(container, instruction.b, instruction.d)) { ip += Int(instruction.c) }
                case .jumpIfSlotNone:
                    if m.slotIsEmpty(try knownSlot(instruction.a, instruction.b), slot: Int(instruction.b)) { ip += Int(instruction.c) }
                case .jumpIfSlotNotNone:
                    if !m.slotIsEmpty(try knownSlot(instruction.a, instruction.b), slot: Int(instruction.b)) { ip += Int(instruction.c) }
                case .new:
                    let newType = newTypes + Int(instruction.b)
                    guard let made = m.new(newType.pointee.type) else { throw run.heapLimitFault() }
                    if m.tracesAllocations { m.recordAllocationSite(made, site: running.pointee.sites[ip - running.pointee.code - 1]) }
                    counters.pointee.allocations &+= 1
                    counters.pointee.bytesAllocated &+= newType.pointee.bytes
                    set(instruction.a, made.bits)
                case .newArray:
                    let count = try int(instruction.b, "new [n]")
                    guard count >= 0 && count <= Int64(run.configuration.maxArrayLength) else {
                        throw Fault(.badArgument, "new [\(count)]: an array has 0 to \(run.configuration.maxArrayLength) slots")
                    }
                    guard let made = m.newArray(run.arrayType, count: Int(count)) else { throw run.heapLimitFault() }
                    if m.tracesAllocations { m.recordAllocationSite(made, site: running.pointee.sites[ip - running.pointee.code - 1]) }
                    counters.pointee.allocations &+= 1
                    counters.pointee.bytesAllocated &+= run.arrayType.objectBytes(slots: Int(count))
                    set(instruction.a, made.bits)
                case .getSlot:
                    let container = try object(instruction.b, "slot")
                    guard Int(instruction.c) < container.slotCount else { throw Fault(.unknownSlot, "object has no slot \(instruction.c)") }
                    set(instruction.a, unbox(boxTypeID, m.load(container, slot: Int(instruction.c))))
                case .getSlotNamed:
                    let container = try object(instruction.b, "slot")
                    let slot = try namedSlot(container, instruction.c, instruction.d)
                    set(instruction.a, unbox(boxTypeID, m.load(container, slot: slot)))
                case .setSlot, .setSlotMove, .setSlotNamed, .setSlotNamedMove:
                    let container = try object(instruction.a, "slot")
                    let slot: Int
                    if instruction.op == .setSlot || instruction.op == .setSlotMove {
                        slot = Int(instruction.b)
                        guard slot < container.slotCount else { throw Fault(.unknownSlot, "object has no slot \(slot)") }
                    } else {
                        slot = try namedSlot(container, instruction.b, instruction.d)
                    }
                    try storeSlot(container, slot, instruction.c, moving: instruction.op == .setSlotMove || instruction.op == .setSlotNamedMove, regs)
                case .setSlotUnpublished:
                    try storeSlot(try knownSlot(instruction.a, instruction.b), Int(instruction.b), instruction.c, moving: false, regs, unpublished: true)
                case .setSlotUnpublishedMove:
                    let container = try knownSlot(instruction.a, instruction.b)
                    // The object moved in (`make`'s `n.left = make(d - 1)`) inline, the rest
                    // through storeSlot. (Inlining all of storeSlot into every store case instead
                    // made slot stores faster and binary-trees slower: 3.51 → 3.68 s.)
                    let word = regs[Int(instruction.c)]
                    if _fastPath(Words.isObject(word)) {
                        regs[Int(instruction.c)] = Words.none
                        m.storeUnpublished(consuming: ObjectRef(bits: word), into: container, slot: Int(instruction.b))
                    } else {
                        try storeSlot(container, Int(instruction.b), instruction.c, moving: true, regs, unpublished: true)
                    }
                case .getElement:
                    let (array, index) = try element(instruction.b, instruction.c, regs)
                    set(instruction.a, unbox(boxTypeID, m.load(array, slot: index)))
                case .setElement, .setElementMove:
                    let (array, index) = try element(instruction.a, instruction.b, regs)
                    try storeSlot(array, index, instruction.c, moving: instruction.op == .setElementMove, regs)
                case .setElementUnpublished, .setElementUnpublishedMove:
                    let (array, index) = try element(instruction.a, instruction.b, regs)
                    try storeSlot(array, index, instruction.c, moving: instruction.op == .setElementUnpublishedMove, regs, unpublished: true)
                case .call:
                    // Polls in the caller, so that a limit or a cancellation names the call.
                    budget &-= 1
                    if budget == 0 { budget = InterpreterThread.pollBudget; counters.pointee.noteRunning(function, base); try poll() }
                    let callee = table + Int(instruction.b)
                    let calleeBase = base &+ Int(instruction.a)
                    let depth = counters.pointee.frameCount
                    guard depth < frameLimit else {
                        throw Fault(.recursionLimit, "recursion deeper than \(run.configuration.maxCallDepth) calls")
                    }
                    let frameEnd = calleeBase &+ callee.pointee.frameSize
                    guard frameEnd <= capacity else { throw Fault(.recursionLimit, "register stack exhausted") }
                    assert(depth < counters.pointee.committedFrames && frameEnd <= counters.pointee.committedWords,
                           "a call past the stack taken from the run's OffHeapMemory")
                    frames[depth] = Frame(returnIP: ip, caller: running, base: base, dest: instruction.c)
                    counters.pointee.frameCount = depth &+ 1
                    running = callee
                    ip = callee.pointee.code
                    base = calleeBase
                    regs = registers + calleeBase
                    counters.pointee.top = frameEnd
                    // The callee's locals start as none (its parameters are the arguments).
                    clearLocals(regs, callee)
                case .ret, .retNone, .retImmediate:
                    let result: Word
                    switch instruction.op {
                    case .ret:
                        result = regs[Int(instruction.a)]
                        regs[Int(instruction.a)] = Words.none
                    case .retImmediate: result = Word(bitPattern: Int(instruction.a) &<< 1 | 1)
                    default: result = Words.none
                    }
                    assert((running.pointee.localCount..<running.pointee.frameSize).allSatisfy { !Words.isObject(regs[$0]) },
                           "a temporary holds an object at a return")
                    var local = regs
                    let localsEnd = regs + running.pointee.localCount
                    while local < localsEnd {
                        let word = local.pointee
                        if word != 0 {
                            local.pointee = Words.none
                            if Words.isObject(word) { m.release(Words.object(word)) }
                        }
                        local += 1
                    }
                    let depth = counters.pointee.frameCount
                    if depth == entryDepth {
                        counters.pointee.top = base
                        return result
                    }
                    let frame = frames[depth &- 1]
                    counters.pointee.frameCount = depth &- 1
                    running = frame.caller
                    ip = frame.returnIP
                    base = frame.base
                    regs = registers + base
                    counters.pointee.top = base &+ running.pointee.frameSize
                    set(frame.dest, result)
                case .forCheck:
                    let current = try int(instruction.a, "for"), stop = try int(instruction.b, "range"), step = try int(instruction.c, "range step")
                    if step > 0 ? current >= stop : current <= stop { ip += Int(instruction.d) }
                case .forStep:
                    let current = try int(instruction.a, "for"), stop = try int(instruction.b, "range"), step = try int(instruction.c, "range step")
                    let next = current &+ step
                    if step > 0 ? next < stop : next > stop {
                        // next lies between current and stop: it fits.
                        regs[Int(instruction.a)] = Words.int(next)!
                        budget &-= 1
                        if budget == 0 { budget = InterpreterThread.pollBudget; counters.pointee.noteRunning(function, base); try poll() }
                        ip += Int(instruction.d)
                    }
                case .repeatCheck:
                    let count = try int(instruction.a, "repeat")
                    if count <= 0 { ip += Int(instruction.b) } else { regs[Int(instruction.a)] = Words.int(count - 1)! }
                case .checkStep:
                    guard try int(instruction.a, "range step") != 0 else { throw Fault(.zeroStep, "range() step must not be zero") }
                case .builtin:
                    // A builtin may block (recv, send, join) while a snapshot names this frame.
                    counters.pointee.noteRunning(function, base)
                    let result = try builtin(Builtin(code: instruction.b), instruction.c, instruction.d, regs,
                                             moving: instruction.b & Builtin.movesSecondArgument != 0)
                    if instruction.a >= 0 { set(instruction.a, result) } else if Words.isObject(result) { m.release(Words.object(result)) }
                case .weak:
                    set(instruction.a, try weakReference(instruction.b, callback: Int(instruction.c), regs))
                case .setThreshold:
                    var values: [Int] = []
                    for register in instruction.a..<(instruction.a + instruction.b) {
                        let value = try int(register, "gc.set_threshold")
                        guard value >= 0 && value <= Int64(Int32.max) else { throw Fault(.badArgument, "gc.set_threshold(\(value)): thresholds are 0 or more") }
                        values.append(Int(value))
                    }
                    run.heap.setThresholds(values[0], values.count > 1 ? values[1] : nil, values.count > 2 ? values[2] : nil)
                case .print:
                    // Not formatted once the output is truncated: a print loop then costs a count.
                    if run.isOutputTruncated {
                        run.countDroppedLine()
                    } else {
                        run.print(run.program.printLists[Int(instruction.a)].map { item in
                            switch item {
                            case .text(let text): text
                            case .register(let register): run.describe(regs[Int(register)], mutator: m)
                            }
                        }.joined(separator: " "))
                    }
                case .expect:
                    if Words.isTrue(regs[Int(instruction.a)]) {
                        expectPasses[Int(instruction.b)] &+= 1
                    } else {
                        throw run.expectFault(site: Int(instruction.b), values: nil)
                    }
                case .expectCompare:
                    let x = regs[Int(instruction.a)], y = regs[Int(instruction.b)]
                    let op = BinaryOperator.comparisons[Int(instruction.d)]
                    let holds: Bool
                    switch op {
                    case .equal: holds = x == y
                    case .notEqual: holds = x != y
                    default:
                        guard Words.isInt(x) && Words.isInt(y) else {
                            throw Fault(.typeError, "comparison of \(run.describeKind(x)) and \(run.describeKind(y)): integers are needed")
                        }
                        holds = Run.compare(op.opcode, Words.intValue(x), Words.intValue(y))
                    }
                    if holds {
                        expectPasses[Int(instruction.c)] &+= 1
                    } else {
                        throw run.expectFault(site: Int(instruction.c), values: (run.describe(x, mutator: m), run.describe(y, mutator: m)))
                    }
                case .phaseBegin:
                    run.beginPhase(Int(instruction.a), thread: self)
                case .phaseEnd:
                    run.endPhase(Int(instruction.a), thread: self)
                case .snapshot:
                    run.takeSnapshot(Int(instruction.a), thread: self, function: function, base: base)
                case .spawn:
                    let handle = try run.spawn(function: Int(instruction.b), arguments: regs + Int(instruction.c), count: Int(instruction.d), from: self)
                    set(instruction.a, handle)
                }
            }
        } catch {
            // Unwind: everything this invocation put on the stack goes, then say where it failed.
            let failure = self.error(error, function: function, pc: run.bytecode.pc(of: ip, in: function) - 1)
            releaseRegisters(from: startBase, to: max(counters.pointee.top, startBase))
            counters.pointee.frameCount = entryDepth
            counters.pointee.top = startBase
            throw failure
        }
    }

    func error(_ fault: Fault, function: Int, pc: Int) -> RunError {
        let compiled = run.program.functions[function]
        let location = compiled.locations.indices.contains(pc) ? compiled.locations[pc] : .none
        return RunError(code: fault.code, message: fault.message, fileName: run.program.fileName,
                        line: location.line, column: location.column, function: compiled.name)
    }

    // MARK: Slow paths

    @inline(never)
    private func arithmetic(_ op: BinaryOperator, _ instruction: Instruction, _ regs: UnsafeMutablePointer<Word>) throws(Fault) {
        let x = regs[Int(instruction.b)], y = regs[Int(instruction.c)]
        guard Words.isInt(x) && Words.isInt(y) else {
            throw Fault(.typeError, "unsupported operands for \(op.rawValue): \(run.describeKind(x)) and \(run.describeKind(y))")
        }
        switch op.apply(Words.intValue(x), Words.intValue(y)) {
        case .success(let value):
            guard let word = Words.int(value) else { throw Fault(.overflow, "integer overflow in \(op.rawValue) (values are 63-bit)") }
            let slot = regs + Int(instruction.a)
            let old = slot.pointee
            slot.pointee = word
            if Words.isObject(old) { mutator.release(Words.object(old)) }
        case .failure(.divisionByZero): throw Fault(.divisionByZero, "division by zero")
        case .failure(.negativeShift): throw Fault(.badArgument, "negative shift count")
        case .failure(.overflow): throw Fault(.overflow, "integer overflow in \(op.rawValue) (values are 63-bit)")
        }
    }

    /// The slot cache `cache` missed (RunCode.swift): the slot from the run's table, and the cache
    /// filled with it.
    @inline(never)
    private func slotCacheMiss(_ container: ObjectRef, name: Int32, cache: Int32) throws(Fault) -> Int {
        let slot = try run.slotIndex(of: container, name: Int(name))
        let entry = UInt64(truncatingIfNeeded: container.typeID) << 32 | UInt64(truncatingIfNeeded: slot)
        (run.bytecode.slotCaches + Int(cache)).pointee.store(entry, ordering: .relaxed)
        return slot
    }

    /// Stores register `register` into the slot, moving it out of the register when `moving`;
    /// `unpublished`: no other thread can reach the container (plain stores).
    private func storeSlot(_ container: ObjectRef, _ slot: Int, _ register: Int32, moving: Bool, _ regs: UnsafeMutablePointer<Word>,
                           unpublished: Bool = false) throws(Fault) {
        let word = regs[Int(register)]
        let value: ObjectRef?
        if word == 0 || Words.isObject(word) {
            value = ObjectRef(bits: word)
            if moving {
                regs[Int(register)] = Words.none
            } else if let value {
                mutator.retain(value)
            }
        } else {
            // An integer, a channel or a thread: slots hold references, so it goes in a box.
            value = try box(word)
        }
        if unpublished {
            mutator.storeUnpublished(consuming: value, into: container, slot: slot)
        } else {
            mutator.store(consuming: value, into: container, slot: slot)
        }
    }

    /// A new box object holding a value that is not a reference.
    @inline(never)
    private func box(_ word: Word) throws(Fault) -> ObjectRef {
        guard let box = mutator.new(run.boxType) else { throw run.heapLimitFault() }
        box.payload.storeBytes(of: word, as: Word.self)
        counters.pointee.allocations &+= 1
        counters.pointee.bytesAllocated &+= run.boxType.objectBytes(slots: 0)
        return box
    }

    /// What a slot load gives the program: the object, or the value in a box (the box's
    /// reference dropped).
    @inline(__always)
    private func unbox(_ boxTypeID: Int, _ loaded: ObjectRef?) -> Word {
        guard let loaded else { return Words.none }
        guard loaded.typeID == boxTypeID else { return loaded.bits }
        let word = loaded.payload.load(as: Word.self)
        mutator.release(loaded)
        return word
    }

    private func element(_ arrayRegister: Int32, _ indexRegister: Int32, _ regs: UnsafeMutablePointer<Word>) throws(Fault) -> (ObjectRef, Int) {
        let word = regs[Int(arrayRegister)]
        guard Words.isObject(word) else { throw Fault(word == 0 ? .noneAccess : .typeError, "indexing \(run.describeKind(word)): an array is needed") }
        let array = Words.object(word)
        guard array.typeID == run.arrayType.id else { throw Fault(.typeError, "indexing \(run.describeKind(word)): an array is needed") }
        let indexWord = regs[Int(indexRegister)]
        guard Words.isInt(indexWord) else { throw Fault(.typeError, "an array index is an integer, not \(run.describeKind(indexWord))") }
        let index = Words.intValue(indexWord)
        guard index >= 0 && index < Int64(array.slotCount) else {
            throw Fault(.indexOutOfRange, "index \(index) out of range for an array of \(array.slotCount)")
        }
        return (array, Int(index))
    }

    /// Takes registers and frames from the run's OffHeapMemory for the next `pollBudget` calls
    /// from a frame ending at `top` (the header's `memory`); run.heap-limit when they do not
    /// fit. Called at every poll and before every invocation.
    @inline(never)
    private func commitStack(top: Int) throws(Fault) {
        let words = min(top + stackMargin, capacity)
        let frames = min(counters.pointee.frameCount + InterpreterThread.pollBudget, frameCapacity - 1)
        guard words > counters.pointee.committedWords || frames > counters.pointee.committedFrames else { return }
        let wantedWords = max(min(InterpreterThread.roundUp(words, InterpreterThread.wordsPerCommit), capacity), counters.pointee.committedWords)
        let wantedFrames = max(min(InterpreterThread.roundUp(frames, InterpreterThread.framesPerCommit), frameCapacity - 1), counters.pointee.committedFrames)
        let bytes = (wantedWords - counters.pointee.committedWords) * MemoryLayout<Word>.stride
            + (wantedFrames - counters.pointee.committedFrames) * MemoryLayout<Frame>.stride
        guard run.offHeap.take(bytes) else { throw run.heapLimitFault() }
        counters.pointee.committedWords = wantedWords
        counters.pointee.committedFrames = wantedFrames
    }

    private static func roundUp(_ value: Int, _ step: Int) -> Int {
        (value + step - 1) / step * step
    }

    /// Polled every `pollBudget` calls and back-edges.
    @inline(never)
    func poll() throws(Fault) {
        mutator.safepoint()
        // What progress reports see: this thread's allocations since its last poll.
        let allocations = counters.pointee.allocations
        run.allocationsSoFar.wrappingAdd(allocations - counters.pointee.reportedAllocations, ordering: .relaxed)
        counters.pointee.reportedAllocations = allocations
        if run.stopping.load(ordering: .relaxed) { throw Fault(.cancelled, "stopped: \(run.stopReason)") }
        if let cancellation = run.configuration.cancellation, cancellation.isCancelled {
            throw Fault(.cancelled, "the run was cancelled")
        }
        try commitStack(top: counters.pointee.top)
        // The heap's own allocations see only its mapped bytes (OffHeapMemory.swift).
        if run.offHeap.isOverLimit { throw run.heapLimitFault() }
        counters.pointee.stepsLeft -= InterpreterThread.pollBudget
        if counters.pointee.stepsLeft < 0 { throw Fault(.stepLimit, "more than \(run.configuration.maxSteps ?? 0) loop iterations and calls") }
        if let deadline = run.deadline, Run.now() > deadline {
            throw Fault(.timeLimit, "the run took longer than its time limit")
        }
    }
}

/// SplitMix64: the run's deterministic `rand`.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
