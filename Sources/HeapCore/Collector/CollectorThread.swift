// CollectorThread: the collector's own serial Dispatch queue, and what wakes it.
//
//   wake    a user-data source (OR-coalesced). A mutator whose batched young count pushes count0
//           past threshold 0 signals it once (`HeapCounters.collectionRequested` keeps the others
//           quiet until the collector has looked); the handler picks a generation as CPython's
//           gc.c does and collects it.
//   timer   every `idleInterval`: if no collection ran since the last tick and young objects are
//           waiting, collects generation 0 (idle-time collection), so that a program that
//           stops allocating does not keep its young cycles until it allocates again.
//
// Each run attaches the queue's current thread as a mutator for the length of the collection and
// detaches it afterwards: Dispatch may run the next one on another thread, and a mutator belongs
// to one thread. The collector's mutator is an ordinary one (it parks nobody but itself; the
// stop-the-world handshake serialises it with explicit `collect()` calls from other mutators).
//
// Lifetime: the heap owns this object and holds it strongly; handlers reach the heap weakly, so
// a run in flight keeps the heap alive only until it returns. The heap's deinit cancels the
// sources and never waits on the queue (it may itself be running on it, after the last run).

import CHeapShim
import Dispatch

/// How a collection finds its garbage (Collector/ConcurrentDetection.swift).
public enum CollectionMode: String, Sendable, CaseIterable, Equatable {
    /// Candidates are walked and trial deletion done while mutators run; a short pause then
    /// re-checks only the tentative garbage (the default).
    case concurrent
    /// The whole collection, walk included, runs with the world stopped.
    case stopTheWorld = "stop-the-world"
}

/// How a heap's collector runs.
public struct CollectorConfiguration: Sendable {
    /// How collections find garbage; the heap's `collectionMode` can change it later.
    public var mode: CollectionMode
    /// The collector thread collects by itself when counts cross thresholds (Python's default).
    /// When false, only explicit `collect()` calls collect.
    public var automatic: Bool
    /// Python's gc thresholds (700, 10, 10); threshold 0 of generation 0 disables automatic
    /// collection.
    public var thresholds: (Int, Int, Int)
    /// Period of the idle-time collection timer (nil: none).
    public var idleInterval: Duration?
    /// Threads that share a large collection's walk of the heap while the world is stopped (the
    /// mutators are parked, so their CPUs are free); 1: the collecting thread alone. Default: the
    /// CPUs available, at most 8.
    public var pauseWorkers: Int
    /// Mutators held by a concurrent collection's validation pause that may validate batches of
    /// it beside the stopper, 0 to 3 (CollectionAssists.swift). Default 0: measured, a pause
    /// that waits for a woken mutator's batch is longer, quiet machine or busy (BENCHMARKS.md).
    public var validationAssists: Int
    /// Nice levels the stopper takes off its own priority for each pause, 0 to 20
    /// (Platform/PausePriority.swift). Default 10; 0: pauses run at the stopper's priority.
    public var pausePriorityBoost: Int

    public init(automatic: Bool = true, thresholds: (Int, Int, Int) = (700, 10, 10), idleInterval: Duration? = .milliseconds(500),
                pauseWorkers: Int = min(max(Int(heapd_allowed_cpu_count()), 1), 8), mode: CollectionMode = .concurrent,
                validationAssists: Int = 0, pausePriorityBoost: Int = CollectorConfiguration.defaultPausePriorityBoost) {
        self.mode = mode
        self.automatic = automatic
        self.thresholds = thresholds
        self.idleInterval = idleInterval
        self.pauseWorkers = max(pauseWorkers, 1)
        self.validationAssists = CollectorConfiguration.clamp(validationAssists, to: CollectorConfiguration.validationAssistsRange)
        self.pausePriorityBoost = CollectorConfiguration.clamp(pausePriorityBoost, to: CollectorConfiguration.pausePriorityBoostRange)
    }

    private static func clamp(_ value: Int, to range: ClosedRange<Int>) -> Int {
        min(max(value, range.lowerBound), range.upperBound)
    }

    public static let defaultPausePriorityBoost = 10
    public static let validationAssistsRange = 0...ConcurrentDetection.assistants
    public static let pausePriorityBoostRange = 0...20

    /// No collector thread: collection happens only when a mutator calls `collect()`.
    public static let manual = CollectorConfiguration(automatic: false, idleInterval: nil)
}

/// `@unchecked Sendable`: `lastTickCollections` is touched only on `queue`; `heap` is written
/// once, before the sources are activated.
final class CollectorThread: @unchecked Sendable {
    let queue = DispatchQueue(label: "heapd.collector", qos: .utility)
    private let wake: DispatchSourceUserDataOr
    private let timer: DispatchSourceTimer?
    private weak var heap: Heap?
    /// Collections counted at the last timer tick (queue-confined).
    private var lastTickCollections = -1

    init(heap: Heap, idleInterval: Duration?) {
        self.heap = heap
        wake = DispatchSource.makeUserDataOrSource(queue: queue)
        timer = idleInterval == nil ? nil : DispatchSource.makeTimerSource(flags: [], queue: queue)
        wake.setEventHandler { [weak self] in self?.heap?.collectAutomatically(.threshold) }
        if let timer, let idleInterval {
            let nanoseconds = Int(idleInterval.components.seconds) * 1_000_000_000 + Int(idleInterval.components.attoseconds / 1_000_000_000)
            timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds), leeway: .nanoseconds(nanoseconds / 10))
            timer.setEventHandler { [weak self] in self?.tick() }
        }
        wake.activate()
        timer?.activate()
    }

    /// Asks for a collection. Any thread; lock-free.
    func signal() {
        wake.or(data: 1)
    }

    /// Stops both sources; a run in flight finishes. Never waits.
    func cancel() {
        wake.cancel()
        timer?.cancel()
    }

    private func tick() {
        guard let heap else { return }
        let collections = heap.collectorTotals.collections
        defer { lastTickCollections = heap.collectorTotals.collections }
        guard collections == lastTickCollections else { return }
        heap.collectAutomatically(.idle)
    }
}
