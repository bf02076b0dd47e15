// Heap+GCControl: Python's gc module surface that is not a collection itself — enable/disable,
// thresholds, the save-all debug mode and its `garbage` list, start/stop callbacks — and the
// decision of what the collector thread collects (CPython's gc.c, gc_select_generation).
//
//   due generation   the oldest g with count(g) > threshold(g); a full collection (g = 2) only
//                    when long_lived_pending >= long_lived_total / 4 (the 25 % rule, which keeps
//                    full collections from making a growing heap quadratic)
//   long_lived_total survivors of the last full collection
//   long_lived_pending  objects promoted into generation 2 by collections of generation 1 since
//   young threshold  as gc_free_threading.c's gc_should_collect: a collection is due only when
//                    count0 also exceeds long_lived_total / 4, so that a program with a large
//                    live heap that allocates and frees quickly (binary trees) does not pay a
//                    collection every 700 allocations; threshold 1 = 0 turns the scaling off
//
// The mutators' hot path reads one value of all this: `HeapCounters.signalThreshold`, threshold 0
// when automatic collection is on and enabled, Int.max otherwise. It is recomputed under the
// state lock whenever one of its inputs changes.

import Synchronization

/// When a collection callback is called.
public enum CollectionPhase: String, Sendable {
    case start
    case stop
}

/// A start/stop callback (Python's gc.callbacks): called on the collecting thread, with no lock
/// held and the world running, before and after each collection. At `start` only `generation` and
/// `reason` of the result are filled in.
public typealias CollectionCallback = @Sendable (CollectionPhase, CollectionResult) -> Void

/// The collector's settings and bookkeeping, under `Heap.collectorState`.
struct CollectorState {
    var automatic: Bool
    var enabled = true
    var thresholds: (Int, Int, Int)
    var saveAll = false
    var mode: CollectionMode = .concurrent
    /// Objects saved by save-all mode, each holding one reference.
    var garbage: [ObjectRef] = []
    var callbacks: [(id: Int, body: CollectionCallback)] = []
    var nextCallbackID = 1
    var longLivedTotal = 0
    var longLivedPending = 0
    var totals = CollectorTotals()

    /// count0 must pass this for an automatic collection (thresholds.0, scaled up with the live
    /// heap).
    var youngThreshold: Int {
        thresholds.1 == 0 ? thresholds.0 : max(thresholds.0, longLivedTotal / 4)
    }

    var signalThreshold: Int {
        automatic && enabled && thresholds.0 > 0 ? youngThreshold : Int.max
    }

    /// The oldest generation over its threshold, given the counts (nil: none is due).
    func dueGeneration(_ count0: Int, _ count1: Int, _ count2: Int) -> Int? {
        guard automatic, enabled, thresholds.0 > 0, count0 > youngThreshold else { return nil }
        if count2 > thresholds.2, longLivedPending >= longLivedTotal / 4 { return 2 }
        if count1 > thresholds.1 { return 1 }
        return 0
    }
}

extension Heap {
    // MARK: enable / disable / thresholds

    /// Python's gc.isenabled().
    public var isAutomaticCollectionEnabled: Bool {
        collectorState.withLock { $0.enabled }
    }

    /// Python's gc.enable() / gc.disable(): automatic collection only; `collect()` always works.
    public func setAutomaticCollection(enabled: Bool) {
        updateCollectorState { $0.enabled = enabled }
    }

    /// Python's gc.get_threshold().
    public var thresholds: (Int, Int, Int) {
        collectorState.withLock { $0.thresholds }
    }

    /// Python's gc.set_threshold(): threshold 0 of generation 0 disables automatic collection.
    public func setThresholds(_ threshold0: Int, _ threshold1: Int? = nil, _ threshold2: Int? = nil) {
        require(threshold0 >= 0 && (threshold1 ?? 0) >= 0 && (threshold2 ?? 0) >= 0, "heapd: setThresholds: thresholds are not negative")
        updateCollectorState {
            $0.thresholds.0 = threshold0
            if let threshold1 { $0.thresholds.1 = threshold1 }
            if let threshold2 { $0.thresholds.2 = threshold2 }
        }
    }

    private func updateCollectorState(_ change: (inout CollectorState) -> Void) {
        collectorState.withLock { state in
            change(&state)
            counters.pointee.signalThreshold.store(state.signalThreshold, ordering: .relaxed)
        }
        // A bridge assumed the old threshold (ConcurrentDetection.swift).
        liftPacingBridge()
        // A count already above a lowered threshold is not left waiting for the next batch.
        if let me = Mutator.current, me.heap === self { me.flushYoungDelta(poll: false) }
    }

    /// Whether pauses run with the stopper's priority raised (Platform/PausePriority.swift).
    public var pausePriorityState: PausePriorityState { pausePriority.state }

    /// How collections find garbage (CollectionMode); a change applies from the next collection.
    public var collectionMode: CollectionMode {
        get { collectorState.withLock { $0.mode } }
        set { collectorState.withLock { $0.mode = newValue } }
    }

    // MARK: save-all mode and garbage

    /// Python's gc.set_debug(gc.DEBUG_SAVEALL): unreachable objects are kept in `garbage`
    /// instead of being freed (weak references to them are still cleared and finalizers still
    /// run, as in CPython).
    public var saveAllGarbage: Bool {
        get { collectorState.withLock { $0.saveAll } }
        set { collectorState.withLock { $0.saveAll = newValue } }
    }

    /// Python's gc.garbage: the objects save-all mode kept. The list holds a reference to each;
    /// they stay valid until `clearGarbage(mutator:)`.
    public var garbage: [ObjectRef] {
        collectorState.withLock { $0.garbage }
    }

    /// Empties `garbage`, dropping its references (cycles among them need another collection,
    /// as in Python after `del gc.garbage[:]`). Returns how many it dropped.
    @discardableResult
    public func clearGarbage(mutator: Mutator) -> Int {
        let saved = collectorState.withLock { state -> [ObjectRef] in
            defer { state.garbage = [] }
            return state.garbage
        }
        for object in saved { mutator.release(object) }
        return saved.count
    }

    // MARK: callbacks

    /// Adds a start/stop callback; returns its id for `removeCollectionCallback`.
    @discardableResult
    public func addCollectionCallback(_ body: @escaping CollectionCallback) -> Int {
        collectorState.withLock { state in
            defer { state.nextCallbackID += 1 }
            state.callbacks.append((state.nextCallbackID, body))
            return state.nextCallbackID
        }
    }

    public func removeCollectionCallback(_ id: Int) {
        collectorState.withLock { $0.callbacks.removeAll { $0.id == id } }
    }

    func invokeCollectionCallbacks(_ phase: CollectionPhase, _ result: CollectionResult) {
        let callbacks = collectorState.withLock { $0.callbacks }
        guard !callbacks.isEmpty else { return }
        runningProgramCode { for callback in callbacks { callback.body(phase, result) } }
    }

    // MARK: statistics

    /// Totals since the heap was made: per generation, pauses, times to safepoint and the pauses
    /// mutators saw (with histograms).
    public var collectorTotals: CollectorTotals {
        var totals = collectorState.withLock { $0.totals }
        totals.mutatorPauses = world.mutatorPauses
        return totals
    }

    /// Python's gc.get_stats(), per generation.
    public var generationStats: [GenerationStats] {
        collectorState.withLock { $0.totals.generations }
    }

    // MARK: what the collector thread collects

    /// The generation an automatic collection should collect now, or nil (CPython's rule).
    func dueGeneration() -> Int? {
        let (count0, count1, count2) = (counters.pointee.count0.load(ordering: .relaxed),
                                        counters.pointee.count1.load(ordering: .relaxed),
                                        counters.pointee.count2.load(ordering: .relaxed))
        return collectorState.withLock { $0.dueGeneration(count0, count1, count2) }
    }

    /// Run by the collector thread: attaches it, collects what is due, detaches.
    func collectAutomatically(_ reason: CollectionReason) {
        // Cleared first: a mutator crossing the threshold from now on signals again.
        counters.pointee.collectionRequested.store(false, ordering: .relaxed)
        testHooks?.beforeAutomaticCollection?()
        let generation: Int?
        switch reason {
        case .threshold: generation = dueGeneration()
        case .idle:
            let waiting = counters.pointee.count0.load(ordering: .relaxed) > 0
            generation = waiting && collectorState.withLock({ $0.automatic && $0.enabled && $0.thresholds.0 > 0 }) ? 0 : nil
        case .explicit: generation = nil
        }
        guard let generation else {
            // Nothing due: no collection will replace a bridge (ConcurrentDetection.swift).
            liftPacingBridge()
            return
        }
        let me = attachCurrentThread()
        collect(generation, by: me, reason: reason)
        detachCurrentThread()
    }

    /// Bookkeeping after a collection of `generation` in which `survivors` objects survived.
    func noteSurvivors(_ survivors: Int, ofGeneration generation: Int) {
        collectorState.withLock { state in
            switch generation {
            case 1: state.longLivedPending += survivors
            case 2:
                state.longLivedPending = 0
                state.longLivedTotal = survivors
                counters.pointee.signalThreshold.store(state.signalThreshold, ordering: .relaxed)
            default: break
            }
        }
        // A bridge assumed the old threshold (ConcurrentDetection.swift).
        if generation == 2 { liftPacingBridge() }
    }
}
