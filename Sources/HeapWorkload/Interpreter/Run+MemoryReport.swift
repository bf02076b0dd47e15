// Run+MemoryReport: a run's memory diagnostics (MemoryReport.swift says what the report holds).
//
// Only when the run asks for a report (RunConfiguration.memoryReport): then `snapshot`
// statements take a census of the run's live objects and chains to its largest groups, a timer
// samples the heap's bytes, collections are timed, and at the end — main and every thread done,
// before the run releases what it holds — a last census ("end") and chains to every group left.
// Each census comes with the allocator's fragmentation at that moment. Without a report a
// `snapshot` statement does nothing.
//
// Roots of the chains are what the run itself holds: globals (`global cache`), the threads'
// registers (`thread main: node in fn build`), channels' buffers (`channel 2 [0]`); HeapCore
// adds frozen objects. Each census and search runs with the world stopped, by the thread that
// takes the snapshot, so every thread's registers and every channel hold still meanwhile.
//
// In a shared heap only the run's own types are counted (other runs' objects are theirs).

import Foundation
import HeapCore

/// What the diagnostics gather while the run goes on. `@unchecked Sendable`: every table is
/// locked; `timer` is set once at the start and cancelled at the end by the run's main thread.
final class MemoryDiagnostics: @unchecked Sendable {
    struct Census {
        var name: String
        var seconds: Double
        var groups: [CensusKey: CensusCount]
        var retention: [MemoryReport.Retention]
        var fragmentation: FragmentationReport
    }

    let start: UInt64
    let censuses = Locked<[Census]>([])
    let samples = Locked<[MemoryReport.Sample]>([])
    let collectionSeconds = Locked<[Double]>([])
    var leaks: [MemoryReport.Leak] = []
    var timer: DispatchSourceTimer?
    var callback: Int?

    /// Samples kept at most; past them every other one goes and the rest are kept (a long run's
    /// timeline keeps its shape at half the resolution).
    static let maximumSamples = 4096

    init(start: UInt64) { self.start = start }

    func seconds(at time: UInt64 = Run.now()) -> Double { Double(time - start) / 1e9 }
}

extension Run {
    /// Starts the timeline's sampling and the collections' timing.
    func startMemoryDiagnostics(_ memory: MemoryDiagnostics) {
        sampleTimeline(memory)
        memory.callback = heap.addCollectionCallback { [weak memory] phase, _ in
            guard phase == .stop, let memory else { return }
            memory.collectionSeconds.withLock { $0.append(memory.seconds()) }
        }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let interval = configuration.timelineInterval
        let milliseconds = max(Int(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000), 1)
        timer.schedule(deadline: .now() + .milliseconds(milliseconds), repeating: .milliseconds(milliseconds))
        timer.setEventHandler { @Sendable [weak self, weak memory] in
            guard let self, let memory else { return }
            sampleTimeline(memory)
        }
        timer.resume()
        memory.timer = timer
    }

    func stopMemoryDiagnostics(_ memory: MemoryDiagnostics) {
        memory.timer?.cancel()
        if let callback = memory.callback { heap.removeCollectionCallback(callback) }
        sampleTimeline(memory)
    }

    private func sampleTimeline(_ memory: MemoryDiagnostics) {
        let statistics = heap.allocator.statistics()
        let sample = MemoryReport.Sample(seconds: memory.seconds(), liveBytes: statistics.liveBytes, mappedBytes: statistics.mappedBytes,
                                         residentBytes: statistics.residentBytes, collections: heap.collectorTotals.collections)
        memory.samples.withLock { samples in
            samples.append(sample)
            if samples.count > MemoryDiagnostics.maximumSamples {
                samples = samples.enumerated().filter { $0.offset % 2 == 0 || $0.offset == samples.count - 1 }.map(\.element)
            }
        }
    }

    // MARK: Snapshots

    /// `snapshot "name"` on `thread`, running `function` with its frame at `base`. Not inside a
    /// pause this thread holds (stopping the world again would be a misuse): none is taken there.
    func takeSnapshot(_ index: Int, thread: InterpreterThread, function: Int, base: Int) {
        guard let memory, !thread.mutator.isInsidePause else { return }
        let seconds = memory.seconds()
        let census = heap.stopTheWorld { () -> MemoryDiagnostics.Census in
            let isCounted = countedTypes()
            let groups = heap.censusWorldStopped(including: isCounted)
            let largest = grouping.totals(groups).prefix(MemoryReport.maximumChains).map(\.key)
            let search = grouping.search(in: heap, roots: rootsWorldStopped(current: (thread, function, base)), isCounted: isCounted, keys: largest)
            let retention = grouping.totals(groups).prefix(MemoryReport.maximumChains).compactMap { key, _ in
                search.chains[key].map { MemoryReport.Retention(group: grouping.name(key), chain: $0) }
            }
            return MemoryDiagnostics.Census(name: program.snapshots[index], seconds: seconds, groups: groups, retention: retention,
                                            fragmentation: heap.allocator.fragmentationReport())
        }
        memory.censuses.withLock { $0.append(census) }
    }

    /// The end's census, its leaks with their chains, and the fragmentation (main and every
    /// thread done; called by the run's main thread before it releases globals and channels).
    func takeEndCensus() {
        guard let memory else { return }
        let seconds = memory.seconds()
        let (census, leaks) = heap.stopTheWorld { () -> (MemoryDiagnostics.Census, [MemoryReport.Leak]) in
            let isCounted = countedTypes()
            let groups = heap.censusWorldStopped(including: isCounted)
            let totals = grouping.totals(groups)
            // Chains (and their cycle searches) for the groups listed only.
            let listed = totals.prefix(MemoryReport.maximumEntries).map(\.key)
            let search = grouping.search(in: heap, roots: rootsWorldStopped(current: nil), isCounted: isCounted, keys: listed)
            let finalizerTypes = Set(program.types.indices.filter { program.types[$0].finalizer != nil }.map { objectTypes[$0].id })
            let leaks = totals.prefix(MemoryReport.maximumEntries).map { key, count in
                let chain = search.chains[key]
                let typeHasFinalizer = key.typeID >= 0 ? finalizerTypes.contains(key.typeID)
                    : groups.contains { $0.key.site == key.site && finalizerTypes.contains($0.key.typeID) }
                let unreachable = count.objects - (search.reached[key] ?? 0)
                return MemoryReport.Leak(group: grouping.name(key), objects: count.objects, bytes: count.bytes, unreachable: unreachable, chain: chain,
                                         finalizerCycle: typeHasFinalizer && (chain?.cycleSize != nil || unreachable > 0))
            }
            let retention = totals.prefix(MemoryReport.maximumChains).compactMap { key, _ in
                search.chains[key].map { MemoryReport.Retention(group: grouping.name(key), chain: $0) }
            }
            let census = MemoryDiagnostics.Census(name: "end", seconds: seconds, groups: groups, retention: retention,
                                                  fragmentation: heap.allocator.fragmentationReport())
            return (census, leaks)
        }
        memory.censuses.withLock { $0.append(census) }
        memory.leaks = leaks
    }

    /// Which types a census counts: the run's own objects, in a shared heap only its types
    /// (weak references are everyone's there).
    private func countedTypes() -> (Int) -> Bool {
        guard configuration.sharedHeap != nil else { return { _ in true } }
        let own = Set(ownTypeIDs)
        return { own.contains($0) }
    }

    /// How this run's censuses become report entries.
    var grouping: MemoryGrouping {
        MemoryGrouping(sites: heap.allocationSites, typeName: { [self] in reportTypeName($0) })
    }

    /// A type's name as the program spells it (the run's prefix in a shared heap left out).
    func reportTypeName(_ id: Int) -> String {
        if let name = typeNames[id] { return name }
        switch id {
        case arrayType.id: return "array"
        case boxType.id: return "box"
        case callbackType.id: return "callback"
        case heap.weakReferenceType.id: return "weakref"
        default:
            let name = heap.types.name(of: id)
            return !typePrefix.isEmpty && name.hasPrefix(typePrefix) ? String(name.dropFirst(typePrefix.count)) : name
        }
    }

    /// The references the run holds: globals, channels' buffers, every thread's registers
    /// (`current`: the snapshotting thread, whose running function the frames do not say).
    private func rootsWorldStopped(current: (thread: InterpreterThread, function: Int, base: Int)?) -> [ReferenceRoot] {
        var roots: [ReferenceRoot] = []
        for (index, name) in program.globalNames.enumerated() {
            let word = globals[index].load(ordering: .relaxed)
            if Words.isObject(word) { roots.append(ReferenceRoot(name: "global \(name)", object: Words.object(word))) }
        }
        let threads = interpreters.withLock { Array($0.values) }.sorted { $0.mutator.id < $1.mutator.id }
        for thread in threads {
            let noted = thread.counters.pointee.runningFunction >= 0
                ? (function: thread.counters.pointee.runningFunction, base: thread.counters.pointee.runningBase) : nil
            let running = current.flatMap { $0.thread === thread ? ($0.function, $0.base) : nil } ?? noted
            roots += registerRoots(of: thread, running: running)
        }
        for (number, channel) in handles.channels.enumerated() {
            for (position, word) in channel.bufferedWords().enumerated() where Words.isObject(word) {
                roots.append(ReferenceRoot(name: "channel \(number + 1) [\(position)]", object: Words.object(word)))
            }
        }
        return roots
    }

    /// A thread's registers holding objects, each named by the local it is (or a temporary) and
    /// the function whose frame holds it. Frames record their callers; `running` is the top one.
    private func registerRoots(of thread: InterpreterThread, running: (function: Int, base: Int)?) -> [ReferenceRoot] {
        var owners = (0..<thread.counters.pointee.frameCount).map { (function: thread.frames[$0].caller - bytecode.functions, base: thread.frames[$0].base) }
        if let running, running.base >= (owners.last?.base ?? 0) { owners.append(running) }
        var roots: [ReferenceRoot] = []
        for register in 0..<thread.top {
            let word = thread.registers[register]
            guard Words.isObject(word) else { continue }
            let owner = owners.last { register >= $0.base && register < $0.base + bytecode.functions[$0.function].frameSize }
            let place: String
            if let owner {
                let function = program.functions[owner.function]
                let local = register - owner.base
                let what = local < function.localNames.count ? function.localNames[local] : "a temporary"
                place = function.name == "main" ? what : "\(what) in fn \(function.name)"
            } else {
                place = "register \(register)"
            }
            roots.append(ReferenceRoot(name: "\(thread.name): \(place)", object: Words.object(word)))
        }
        return roots
    }

    // MARK: The report

    /// The report, once the run is over.
    func memoryReport() -> MemoryReport? {
        guard let memory else { return nil }
        let censuses = memory.censuses.withLock { $0 }
        let snapshots = censuses.map(grouping.snapshot)
        let differences = zip(censuses, censuses.dropFirst()).map { before, after in
            MemoryReport.Difference(from: before.name, to: after.name, changes: grouping.changes(from: before.groups, to: after.groups))
        }
        return MemoryReport(scope: "run", tracing: heap.isTracingAllocations, snapshots: snapshots, differences: differences, leaks: memory.leaks,
                            timeline: memory.samples.withLock { $0 },
                            collectionSeconds: memory.collectionSeconds.withLock { $0 })
    }
}
