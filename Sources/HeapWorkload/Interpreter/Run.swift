// Run: one execution of a compiled workload — its heap, globals, handles (channels, threads),
// output, statistics — and the whole life of it:
//
//   1. a Heap of the chosen policy and collector mode, with the run's heap limit, and the
//      program's types
//   2. main runs on a thread of its own (attached as a mutator); `spawn` adds threads
//   3. a failure (first one wins) stops every thread at its next poll and closes every channel,
//      so that nobody stays blocked; a time limit does the same from a timer
//   4. at the end: every spawned thread is joined, what the run still holds (globals, channel
//      contents, unjoined results) is released, frozen objects are unfrozen, a full collection
//      reclaims the cycles left, and what remains is counted as leaked (0 unless heapd is wrong)
//
// Hooks: weak-reference callbacks and finalizers come from HeapCore on whatever mutator thread
// triggers them (a finalizer on the collector's thread, with the world stopped); they run the
// program's function above the current frame of that thread's interpreter, or of a small
// interpreter made for a thread that has none.

import Foundation
import HeapCore
import Synchronization

/// Runs workloads.
public enum Workload {
    /// Runs a checked program to its end (or its first error) and reports. Throws only for bad
    /// `--param` overrides (E501, E413).
    public static func run(_ checked: CheckedProgram, configuration: RunConfiguration = RunConfiguration()) throws(DiagnosticList) -> RunResult {
        let constants = try checked.constants(overrides: configuration.params)
        let program = Compiler.compile(checked, constants: constants)
        let run: Run
        do throws(RunError) {
            run = try Run(program: program, configuration: configuration)
        } catch {
            return Run.notStarted(error, program: program, configuration: configuration)
        }
        return run.execute()
    }
}

/// A spawned thread's handle.
final class SpawnedThread: @unchecked Sendable {
    /// The thread's function's value until someone joins it (a reference it owns).
    private let result = Locked<Word>(Words.none)
    private let done = DispatchSemaphore(value: 0)

    func finish(with value: Word) {
        result.withLock { $0 = value }
        done.signal()
    }

    /// Waits for the thread; its result the first time (moved out), none afterwards.
    func join() -> Word {
        done.wait()
        done.signal()
        return result.withLock { value in
            defer { value = Words.none }
            return value
        }
    }
}

/// `@unchecked Sendable`: shared state is behind locks or atomics; the raw tables are written in
/// init and read-only afterwards.
final class Run: @unchecked Sendable {
    let program: CompiledProgram
    let configuration: RunConfiguration
    let heap: Heap
    /// Channels and the threads' stacks, counted against the heap's limit: the run's own, or the
    /// shared heap's (OffHeapMemory.swift).
    let offHeap: OffHeapMemory
    /// The run's types (RunTypes.swift), unpacked for the loop.
    let objectTypes: [ObjectType]
    let arrayType: ObjectType
    let callbackType: ObjectType
    /// Holds an integer, a channel or a thread handle stored in a slot (slots hold references).
    let boxType: ObjectType
    /// The code and the tables the loop reads (RunCode.swift).
    let bytecode: RunCode
    let integerWords: UnsafeMutablePointer<Word>
    let globals: UnsafeMutablePointer<Atomic<UInt>>
    /// (heap type id, slot name) → slot index, for every `x.s` whose type is not known
    /// statically (SlotTable.swift: sized by the program's slots, not types × names).
    private let slotTable: SlotTable
    let typeNames: [Int: String]
    let stopping = Atomic<Bool>(false)
    let failure = Locked<RunError?>(nil)
    /// Errors ignored in finalizers and weak-reference callbacks (the first `maximumWarnings`),
    /// and how many there were.
    let warnings = Locked<(list: [RunError], count: Int)>(([], 0))
    let handles: HandleTable
    /// What the program printed, at most `maxOutputBytes` of it (RunOutput.swift);
    /// `outputTruncated` is raised with it, so that a print loop past the bound skips formatting.
    let output: Locked<RunOutput>
    private let outputTruncated = Atomic<Bool>(false)
    let phases: Locked<[RunResult.Phase]>
    let threadReports = Locked<[RunResult.ThreadReport]>([])
    let expectPasses: Locked<[Int]>
    /// Interpreters by mutator id, for the hooks.
    let interpreters = Locked<[UInt32: InterpreterThread]>([:])
    private let spawned = Atomic<Int>(0)
    /// Objects made so far, as threads report them at their polls (for progress reports).
    let allocationsSoFar = Atomic<Int>(0)
    let allocationTotals = Locked<(objects: Int, bytes: Int)>((0, 0))
    let deadline: UInt64?
    /// The memory diagnostics, when the run asks for a report (Run+MemoryReport.swift).
    let memory: MemoryDiagnostics?
    /// The prefix of this run's type names ("" in a heap of its own).
    let typePrefix: String
    /// The heap's count of objects striped when the run began (a shared heap's goes on).
    let stripedAtStart: Int

    /// Fails with run.type-limit when the program's types do not fit what is left of the heap's
    /// type ids (a shared heap's, in practice).
    init(program: CompiledProgram, configuration: RunConfiguration) throws(RunError) {
        self.program = program
        self.configuration = configuration
        let hooks = Hooks()
        let heap = configuration.sharedHeap?.heap ?? Heap(
            policy: configuration.policy,
            allocator: AllocatorConfiguration(topology: configuration.simulatedNumaNodes.map { SimulatedTopology(virtualNodes: $0) } ?? NumaTopology(),
                                              limitBytes: configuration.heapLimitBytes),
            weakCallback: { m, weak, callback in hooks.run?.runWeakCallback(m, weak, callback) },
            finalizer: { m, object in hooks.run?.runFinalizer(m, object) },
            collector: configuration.collector,
            striping: configuration.striping)
        self.heap = heap
        stripedAtStart = heap.stripingStatistics.striped
        offHeap = configuration.sharedHeap?.offHeap ?? OffHeapMemory(limit: configuration.heapLimitBytes, allocator: heap.allocator)
        // In a shared heap the run's types carry a prefix of their own (SharedHeap.swift).
        let prefix = configuration.sharedHeap?.nextPrefix() ?? ""
        typePrefix = prefix
        let types: RunTypes
        do throws(TypeRegistryError) {
            if let shared = configuration.sharedHeap {
                types = try shared.registerTypes(of: program, prefix: prefix)
            } else {
                types = try RunTypes.register(program, prefix: prefix, in: heap.types)
            }
        } catch {
            throw RunTypes.limitError(error, program: program, shared: configuration.sharedHeap != nil)
        }
        objectTypes = types.objectTypes
        arrayType = types.arrayType
        callbackType = types.callbackType
        boxType = types.boxType
        var names: [Int: String] = [:]
        for (index, type) in objectTypes.enumerated() { names[type.id] = program.types[index].name }
        typeNames = names
        slotTable = SlotTable(layouts: program.types, typeIDs: objectTypes.map(\.id), slotNames: program.slotNames)
        bytecode = RunCode(program: program, objectTypes: types.objectTypes) { [heap] function, pc in
            let isNew = function.code[pc].op == .new || function.code[pc].op == .newArray
            return isNew ? heap.allocationSites.intern(AllocationSite(file: program.fileName, line: function.locations[pc].line, function: function.name)) : 0
        }
        integerWords = .allocate(capacity: max(program.integers.count, 1))
        for (index, value) in program.integers.enumerated() { integerWords[index] = Words.int(value) ?? 0 }
        globals = .allocate(capacity: max(program.globalNames.count, 1))
        for index in 0..<max(program.globalNames.count, 1) {
            let initial = index < program.globalInitialValues.count ? program.globalInitialValues[index].flatMap(Words.int) ?? 0 : 0
            (globals + index).initialize(to: Atomic(initial))
        }
        handles = HandleTable(capacity: configuration.maxThreads + configuration.maxChannels)
        output = Locked(RunOutput(limit: max(configuration.maxOutputBytes, 0)))
        phases = Locked(program.phases.map { RunResult.Phase(name: $0, seconds: 0, allocations: 0, runs: 0) })
        expectPasses = Locked(Array(repeating: 0, count: program.expects.count))
        deadline = configuration.timeLimit.map { limit in
            Run.now() + UInt64(limit.components.seconds) * 1_000_000_000 + UInt64(limit.components.attoseconds / 1_000_000_000)
        }
        memory = configuration.memoryReport ? MemoryDiagnostics(start: Run.now()) : nil
        if configuration.traceAllocations { heap.setAllocationTracing(true) }
        hooks.run = self
        configuration.sharedHeap?.route(ownTypeIDs, to: self)
    }

    /// Every type id this run registered.
    var ownTypeIDs: [Int] { objectTypes.map(\.id) + [arrayType.id, callbackType.id, boxType.id] }

    /// Live objects of this run's own types (in a shared heap, others' do not count).
    private func liveObjectsOfThisRun() -> [String: Int] {
        // liveObjectsByType stops the world for its walk (this thread is a mutator of the heap):
        // other runs' threads in a shared heap, and the collector thread, hold still meanwhile.
        heap.liveObjectsByType().filter { typePrefix.isEmpty || $0.key.hasPrefix(typePrefix) }
    }

    deinit {
        integerWords.deallocate()
        globals.deallocate()
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    // MARK: The run

    func execute() -> RunResult {
        let start = Run.now()
        let timer = deadline.map { _ in armTimeLimit() }
        // Reports stop before the result exists: after `reporting` is false, none is sent.
        let reporting = Locked(true)
        let reporter = configuration.progress.map { report in
            armProgress({ progress in reporting.withLock { active in if active { report(progress) } } }, since: start)
        }
        // Collections of this run's heap, reported the same way (never after the result).
        let collectionCallback = configuration.collected.map { report in
            heap.addCollectionCallback { phase, result in
                guard phase == .stop else { return }
                reporting.withLock { active in if active { report(result) } }
            }
        }
        defer {
            reporter?.cancel()
            reporting.withLock { $0 = false }
            if let collectionCallback { heap.removeCollectionCallback(collectionCallback) }
        }
        if let memory { startMemoryDiagnostics(memory) }
        let finished = DispatchSemaphore(value: 0)
        let box = Locked<(live: Int, leaked: Int, problems: [String])>((0, 0, []))
        let thread = Thread { [self] in
            let m = heap.attachCurrentThread(pinningTo: cpu(forThread: 0))
            // main's interpreter dies here, its stack's bytes back in the OffHeapMemory.
            do {
                let interpreter = InterpreterThread(run: self, mutator: m, name: "main", seed: configuration.seed)
                register(interpreter)
                let threadStart = Run.now()
                do throws(RunError) {
                    try checkGlobalInitialValues()
                    let result = try interpreter.execute(program.mainIndex, base: 0)
                    if Words.isObject(result) { m.release(Words.object(result)) }
                } catch {
                    fail(error)
                }
                retire(interpreter, since: threadStart)
            }
            // Every other thread, then what the run itself still holds. Releasing globals can run
            // weak callbacks and finalizers that spawn threads or store objects in globals again:
            // repeat until a round changes nothing.
            joinAllThreads(as: m)
            if let memory {
                stopMemoryDiagnostics(memory)
                takeEndCensus()
            }
            let shared = configuration.sharedHeap != nil
            box.withLock { $0.live = liveObjectsOfThisRun().filter { !$0.key.hasSuffix("<callback>") }.values.reduce(0, +) }
            if !shared {
                heap.unfreeze()
                heap.setAutomaticCollection(enabled: false)
            }
            // Cyclic garbage goes first, while every global still holds its value, so that its
            // finalizers see them all; then the globals' objects, one global at a time, again
            // until no global holds one (a finalizer that stores `self` in a global makes a chain
            // of resurrections that takes a pass per link). Bounded: finalizers that keep making
            // objects end in a leak report, not in a run that never ends.
            var releasesLeft = Run.maximumEndReleases
            for _ in 0..<Run.endRounds {
                let threadsBefore = spawned.load(ordering: .relaxed)
                let found = heap.collect().unreachable
                joinAllThreads(as: m)
                var released = 0
                while releasesLeft > 0 {
                    let pass = releaseRunState(as: m)
                    guard pass > 0 else { break }
                    released += pass
                    releasesLeft -= pass
                    joinAllThreads(as: m)
                }
                if released == 0 && found == 0 && spawned.load(ordering: .relaxed) == threadsBefore { break }
            }
            // From here on nothing may start again.
            stopping.store(true, ordering: .relaxed)
            spawned.store(configuration.maxThreads + 1, ordering: .relaxed)
            // After the last collection: its finalizers ran on interpreters made for the hooks.
            mergeHookInterpreters()
            let unprinted = warnings.withLock { $0.count - $0.list.count }
            if unprinted > 0 { print("warning: \(unprinted) more errors ignored in finalizers and weak-reference callbacks") }
            box.withLock { $0.leaked = liveObjectsOfThisRun().values.reduce(0, +) }
            // The whole-heap verifier, world stopped, with no roots left but what globals still
            // hold (only when finalizers kept storing objects there past the end's bound): every
            // count must be explained and no freed block reachable. (Not in a shared heap: other
            // runs hold roots there.)
            if !shared {
                let problems = heap.stopTheWorld { heap.verify(roots: objectsInGlobals()) }
                box.withLock { $0.problems = problems }
            } else {
                // The run's type ids go back to the shared heap once no object carries them
                // (SharedHeap.swift).
                configuration.sharedHeap?.retire(ownTypeIDs, as: m)
            }
            heap.detachCurrentThread()
            finished.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        finished.wait()
        timer?.cancel()
        let wall = Double(Run.now() - start) / 1e9
        return report(wallSeconds: wall, live: box.withLock { $0.live }, leaked: box.withLock { $0.leaked },
                      problems: box.withLock { $0.problems })
    }

    /// A timer that reports the run's figures every `progressInterval`.
    private func armProgress(_ report: @escaping @Sendable (RunProgress) -> Void, since start: UInt64) -> DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let interval = configuration.progressInterval
        let milliseconds = max(Int(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000), 10)
        let previous = Locked<(time: UInt64, allocations: Int)>((start, 0))
        timer.schedule(deadline: .now() + .milliseconds(milliseconds), repeating: .milliseconds(milliseconds))
        timer.setEventHandler { @Sendable [weak self] in
            guard let self else { return }
            let now = Run.now()
            let allocations = allocationsSoFar.load(ordering: .relaxed)
            let (then, before) = previous.withLock { state in
                defer { state = (now, allocations) }
                return state
            }
            let seconds = Double(now - then) / 1e9
            report(RunProgress(elapsedSeconds: Double(now - start) / 1e9, allocations: allocations,
                               allocationsPerSecond: seconds > 0 ? Double(allocations - before) / seconds : 0,
                               heapBytes: heap.allocator.mappedBytes, collections: heap.collectorTotals.collections))
        }
        timer.resume()
        return timer
    }

    /// The CPU thread `number` (main is 0) is pinned to when the run pins threads: round-robin
    /// over the CPUs the process may use.
    private func cpu(forThread number: Int) -> Int? {
        configuration.pinThreads ? number % max(CPUPinning.allowedCPUCount(), 1) : nil
    }

    /// A global whose constant initial value does not fit 63 bits fails the run at its start.
    private func checkGlobalInitialValues() throws(RunError) {
        for (index, value) in program.globalInitialValues.enumerated() {
            guard let value, Words.int(value) == nil else { continue }
            throw RunError(code: .overflow, message: "global \(program.globalNames[index]) = \(value) does not fit 63 bits",
                           fileName: program.fileName, line: 0, column: 0, function: "main")
        }
    }

    private func armTimeLimit() -> DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        // A deadline already past (a limit under a millisecond, or a slow start) fires at once;
        // the subtraction must not go below zero.
        let now = Run.now()
        let nanoseconds = deadline! > now ? Int(clamping: deadline! - now) : 0
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds))
        timer.setEventHandler { @Sendable [weak self] in
            self?.stop(because: RunError(code: .timeLimit, message: "the run took longer than its time limit", fileName: self?.program.fileName ?? "",
                                         line: 0, column: 0, function: "main"))
        }
        timer.resume()
        return timer
    }

    /// Records the run's first failure and stops everyone.
    func fail(_ error: RunError) {
        stop(because: error)
    }

    /// The first failure is the run's, with one exception: a thread stopped because another
    /// stopped reports `cancelled` and may be first to be recorded, and the failure that stopped
    /// the run replaces it. A cancellation from outside (the client's, or heapd stopping) is final:
    /// what other threads then run into (a closed channel, none from a join) is its consequence.
    private func stop(because error: RunError) {
        let cancelledFromOutside = configuration.cancellation?.isCancelled ?? false
        let first = failure.withLock { current -> Bool in
            if current == nil || (current!.code == .cancelled && error.code != .cancelled && !cancelledFromOutside) {
                current = error
                return true
            }
            return false
        }
        guard first else { return }
        stopping.store(true, ordering: .relaxed)
        // Blocked senders and receivers wake up: closed channels give none or an error.
        for channel in handles.channels { channel.close() }
    }

    var stopReason: String {
        failure.withLock { $0.map { "\($0.code.rawValue) at \($0.line):\($0.column)" } ?? "cancelled" }
    }

    private func register(_ interpreter: InterpreterThread) {
        interpreters.withLock { $0[interpreter.mutator.id] = interpreter }
    }

    /// A thread's interpreter is done: its counts go to the run's.
    private func retire(_ interpreter: InterpreterThread, since start: UInt64) {
        interpreter.releaseRegisters(from: 0, to: interpreter.top)
        let seconds = Double(Run.now() - start) / 1e9
        threadReports.withLock {
            $0.append(RunResult.ThreadReport(name: interpreter.name, operations: interpreter.operations, seconds: seconds,
                                             operationsPerSecond: seconds > 0 ? Double(interpreter.operations) / seconds : 0))
        }
        expectPasses.withLock { passes in
            for (index, count) in interpreter.expectPassCounts.enumerated() { passes[index] += count }
        }
        allocationTotals.withLock { $0.objects += interpreter.allocations; $0.bytes += interpreter.bytesAllocated }
        _ = interpreters.withLock { $0.removeValue(forKey: interpreter.mutator.id) }
    }

    /// Interpreters made for hooks on other threads (the collector's): their expect passes and
    /// allocations count too.
    private func mergeHookInterpreters() {
        let leftovers = interpreters.withLock { table -> [InterpreterThread] in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for interpreter in leftovers {
            expectPasses.withLock { passes in
                for (index, count) in interpreter.expectPassCounts.enumerated() { passes[index] += count }
            }
            allocationTotals.withLock { $0.objects += interpreter.allocations; $0.bytes += interpreter.bytesAllocated }
        }
    }

    // MARK: Threads

    func spawn(function: Int, arguments: UnsafeMutablePointer<Word>, count: Int, from parent: InterpreterThread) throws(Fault) -> Word {
        let number = spawned.wrappingAdd(1, ordering: .relaxed).newValue
        guard number <= configuration.maxThreads else { throw Fault(.threadLimit, "more than \(configuration.maxThreads) threads spawned") }
        let handle = SpawnedThread()
        let words = (0..<count).map { index -> Word in
            defer { arguments[index] = Words.none }
            return arguments[index]
        }
        let thread = Thread { [self] in
            let m = heap.attachCurrentThread(pinningTo: cpu(forThread: number))
            // The interpreter dies before the thread is joined: its stack's bytes are back in
            // the run's OffHeapMemory by the time `join` returns.
            func interpret() -> Word {
                let interpreter = InterpreterThread(run: self, mutator: m, name: "thread \(number)", seed: configuration.seed &+ UInt64(number) &* 0x9E37_79B9)
                register(interpreter)
                for (index, word) in words.enumerated() { interpreter.registers[index] = word }
                let start = Run.now()
                var result = Words.none
                do throws(RunError) {
                    result = try interpreter.execute(function, base: 0)
                } catch {
                    fail(error)
                }
                retire(interpreter, since: start)
                return result
            }
            let result = interpret()
            // Detach first: the objects this thread owns are merged before anyone joining it
            // can drop them.
            heap.detachCurrentThread()
            handle.finish(with: result)
        }
        thread.stackSize = 4 << 20
        return try addHandle(handle, thread: thread)
    }

    private func addHandle(_ handle: SpawnedThread, thread: Thread) throws(Fault) -> Word {
        let word = try addHandle(handle)
        thread.start()
        return word
    }

    func addHandle(_ object: AnyObject) throws(Fault) -> Word {
        guard let index = handles.append(object) else {
            throw Fault(.badArgument, "more than \(handles.capacity) channels and threads in one run")
        }
        return Words.handle(index)
    }

    func join(_ word: Word, from interpreter: InterpreterThread) throws(Fault) -> Word {
        guard Words.isHandle(word), let thread = handles.thread(Words.handleIndex(word)) else {
            throw Fault(.typeError, "join() of \(describeKind(word)): a thread is needed")
        }
        interpreter.mutator.enterBlockingRegion()
        let result = thread.join()
        interpreter.mutator.leaveBlockingRegion()
        return result
    }

    /// Runs `body` with the channel `word` names (no reference counting on the way).
    @inline(__always)
    func withChannel<R>(_ word: Word, _ body: (Channel) -> R) throws(Fault) -> R {
        guard Words.isHandle(word), let result = handles.withChannel(Words.handleIndex(word), body) else {
            throw Fault(.typeError, "a channel is needed, not \(describeKind(word))")
        }
        return result
    }

    /// Main is over: waits for every spawned thread (in a blocking region) and drops results
    /// nobody joined.
    private func joinAllThreads(as m: Mutator) {
        var index = 0
        while index < handles.threadCount {
            defer { index += 1 }
            guard let thread = handles.thread(index) else { continue }
            m.enterBlockingRegion()
            let result = thread.join()
            m.leaveBlockingRegion()
            if Words.isObject(result) { m.release(Words.object(result)) }
        }
    }

    /// Rounds of releasing and collecting at the end of a run (see `execute`).
    static let endRounds = 8
    /// References to globals' objects and channel contents released at most at the end of a run.
    static let maximumEndReleases = 1 << 20

    /// The objects globals hold now, without a reference of their own (world stopped).
    private func objectsInGlobals() -> [ObjectRef] {
        (0..<program.globalNames.count).compactMap { index in
            let word = globals[index].load(ordering: .relaxed)
            return Words.isObject(word) ? Words.object(word) : nil
        }
    }

    /// Releases the objects that globals hold (a global holding an integer or a handle keeps
    /// it, for finalizers that run later) and channel contents; returns how many references it
    /// dropped.
    private func releaseRunState(as m: Mutator) -> Int {
        var released = 0
        for index in 0..<program.globalNames.count {
            var word = globals[index].load(ordering: .sequentiallyConsistent)
            while Words.isObject(word) {
                // A finalizer on another thread (a shared heap's collector) may store meanwhile.
                let (exchanged, original) = globals[index].compareExchange(expected: word, desired: Words.none, ordering: .sequentiallyConsistent)
                if exchanged {
                    m.release(Words.object(word))
                    released += 1
                    break
                }
                word = original
            }
        }
        for channel in handles.channels {
            for word in channel.drain() where Words.isObject(word) { m.release(Words.object(word)); released += 1 }
        }
        return released
    }

    // MARK: Hooks

    private func interpreter(for m: Mutator) -> InterpreterThread {
        interpreters.withLock { table in
            if let existing = table[m.id] { return existing }
            let made = InterpreterThread(run: self, mutator: m, name: "collector", seed: configuration.seed, registerWords: 1 << 16)
            table[m.id] = made
            return made
        }
    }

    /// Callbacks and finalizers nested inside one another (each runs inside a release made by
    /// the one before) beyond this depth fail the run instead of exhausting the native stack.
    static let maximumHookNesting = 48

    /// Runs `body` as one more nested hook on `interpreter`. Not at all once the run is
    /// stopping; too deep, the hook does not run and a warning says so. Every hook counts as a
    /// call towards the thread's next poll (limits, cancellation, safepoint).
    private func nestedHook(_ interpreter: InterpreterThread, function: Int, _ body: () -> Void) {
        if stopping.load(ordering: .relaxed) { return }
        interpreter.counters.pointee.hooksBeforePoll -= 1
        if interpreter.counters.pointee.hooksBeforePoll <= 0 {
            interpreter.counters.pointee.hooksBeforePoll = InterpreterThread.pollBudget
            do throws(Fault) {
                try interpreter.poll()
            } catch {
                return ignore(interpreter.error(error, function: function, pc: 0), in: function)
            }
        }
        guard interpreter.counters.pointee.hookDepth < Run.maximumHookNesting else {
            return ignore(interpreter.error(Fault(.recursionLimit, "weak-reference callbacks and finalizers nested more than \(Run.maximumHookNesting) deep"),
                                            function: function, pc: 0), in: function)
        }
        interpreter.counters.pointee.hookDepth += 1
        body()
        interpreter.counters.pointee.hookDepth -= 1
    }

    func runWeakCallback(_ m: Mutator, _ weak: ObjectRef, _ callback: ObjectRef) {
        let function = callback.payload.load(as: Int.self)
        let interpreter = interpreter(for: m)
        nestedHook(interpreter, function: function) { runWeakCallback(interpreter, m, weak, function) }
    }

    private func runWeakCallback(_ interpreter: InterpreterThread, _ m: Mutator, _ weak: ObjectRef, _ function: Int) {
        let base = interpreter.top
        guard base < interpreter.capacity else { return fail(interpreter.error(Fault(.recursionLimit, "register stack exhausted"), function: function, pc: 0)) }
        m.retain(weak)
        interpreter.registers[base] = weak.bits
        do throws(RunError) {
            let result = try interpreter.execute(function, base: base)
            if Words.isObject(result) { m.release(Words.object(result)) }
        } catch {
            ignore(error, in: function)
        }
    }

    func runFinalizer(_ m: Mutator, _ object: ObjectRef) {
        guard let type = objectTypes.firstIndex(where: { $0.id == object.typeID }), let function = program.types[type].finalizer else { return }
        let interpreter = interpreter(for: m)
        nestedHook(interpreter, function: function) { runFinalizer(interpreter, m, object, function) }
    }

    private func runFinalizer(_ interpreter: InterpreterThread, _ m: Mutator, _ object: ObjectRef, _ function: Int) {
        let base = interpreter.top
        guard base < interpreter.capacity else { return fail(interpreter.error(Fault(.recursionLimit, "register stack exhausted"), function: function, pc: 0)) }
        m.retain(object)
        interpreter.registers[base] = object.bits
        do throws(RunError) {
            let result = try interpreter.execute(function, base: base)
            if Words.isObject(result) { m.release(Words.object(result)) }
        } catch {
            ignore(error, in: function)
        }
    }

    /// An error inside a finalizer or a weak-reference callback does not fail the run (CPython's
    /// "Exception ignored in"): the hook's frames are unwound already, the object is freed or
    /// not as it would have been, and the error becomes a warning — a line of output and an
    /// entry of the result's `warnings`. Errors that stop the whole run (a limit, a cancellation,
    /// another thread's failure) still stop it.
    private func ignore(_ error: RunError, in function: Int) {
        guard !error.code.stopsTheRun else { return fail(error) }
        let kept = warnings.withLock { kept -> Bool in
            kept.count += 1
            guard kept.list.count < Run.maximumWarnings else { return false }
            kept.list.append(error)
            return true
        }
        guard kept else { return }
        let place = "\(program.functions[function].name)" + (error.line > 0 ? " (line \(error.line))" : "")
        print("warning: error ignored in \(place): \(error.code.rawValue): \(error.message)")
    }

    /// Warnings kept in a result and printed; later ones are counted only (a line at the end
    /// says how many).
    static let maximumWarnings = 100

    // MARK: Operations' helpers

    @inline(__always)
    func slotIndex(of object: ObjectRef, name: Int) throws(Fault) -> Int {
        let slot = slotTable.slot(typeID: object.typeID, name: name)
        guard slot >= 0 else { throw unknownSlot(object, name) }
        return slot
    }

    @inline(never)
    private func unknownSlot(_ object: ObjectRef, _ name: Int) -> Fault {
        Fault(.unknownSlot, "\(describeKind(object.bits)) has no slot '\(program.slotNames[name])'")
    }

    func heapLimitFault() -> Fault {
        let heapName = configuration.sharedHeap == nil ? "heap" : "shared heap"
        return Fault(.heapLimit, "\(heapName) limit reached: \(heap.allocator.mappedBytes) bytes mapped and \(offHeap.bytes) bytes of channels and stacks, limit \(offHeap.limit)")
    }

    func expectFault(site: Int, values: (String, String)?) -> Fault {
        let expect = program.expects[site]
        var message = "expect failed: \(expect.condition)"
        if let values { message += " (left: \(values.0), right: \(values.1))" }
        if let text = expect.message { message += ": \(text)" }
        return Fault(.expectFailed, message)
    }

    static func compare(_ op: Opcode, _ x: Int64, _ y: Int64) -> Bool {
        switch op {
        case .less: x < y
        case .lessEqual: x <= y
        case .greater: x > y
        case .greaterEqual: x >= y
        case .equal: x == y
        default: x != y
        }
    }

    /// Whether the output has reached its bound: a line printed now is only counted
    /// (`countDroppedLine`), so the interpreter need not format it.
    var isOutputTruncated: Bool { outputTruncated.load(ordering: .relaxed) }

    func countDroppedLine() {
        output.withLock { $0.countDropped() }
    }

    func print(_ line: String) {
        let shown = output.withLock { output -> String? in
            let shown = output.append(line)
            if output.truncated { outputTruncated.store(true, ordering: .relaxed) }
            return shown
        }
        if let shown { configuration.output?(shown) }
    }

    func beginPhase(_ index: Int, thread: InterpreterThread) {
        thread.phaseStarts[index] = (Run.now(), thread.allocations)
    }

    func endPhase(_ index: Int, thread: InterpreterThread) {
        guard let (start, allocations) = thread.phaseStarts.removeValue(forKey: index) else { return }
        let seconds = Double(Run.now() - start) / 1e9
        phases.withLock {
            $0[index].seconds += seconds
            $0[index].allocations += thread.allocations - allocations
            $0[index].runs += 1
        }
        configuration.phaseEnded?(program.phases[index], seconds)
    }

    /// How `print` shows a value.
    func describe(_ word: Word, mutator m: Mutator) -> String {
        if word == 0 { return "none" }
        if Words.isInt(word) { return String(Words.intValue(word)) }
        if Words.isHandle(word) {
            return handles.isChannel(Words.handleIndex(word)) ? "<channel>" : "<thread>"
        }
        let object = Words.object(word)
        if object.typeID == heap.weakReferenceType.id {
            guard let referent = m.deref(object) else { return "<weak reference to nothing>" }
            defer { m.release(referent) }
            // One level only: a chain of weak references is not followed.
            let name = referent.typeID == heap.weakReferenceType.id ? "weak reference"
                : referent.typeID == arrayType.id ? "array of \(referent.slotCount)" : typeNames[referent.typeID] ?? "object"
            return "<weak reference to \(name)>"
        }
        if object.typeID == arrayType.id { return "<array of \(object.slotCount)>" }
        return "<\(typeNames[object.typeID] ?? "object")>"
    }

    /// What kind of value a word is, for error messages.
    func describeKind(_ word: Word) -> String {
        if word == 0 { return "none" }
        if Words.isInt(word) { return "an integer" }
        if Words.isHandle(word) { return handles.isChannel(Words.handleIndex(word)) ? "a channel" : "a thread" }
        let object = Words.object(word)
        if object.typeID == heap.weakReferenceType.id { return "a weak reference" }
        if object.typeID == arrayType.id { return "an array" }
        return "a \(typeNames[object.typeID] ?? "object") object"
    }
}

/// The heap's hooks reach the run through this box: the heap is made before the run is whole.
private final class Hooks: @unchecked Sendable {
    weak var run: Run?
}
