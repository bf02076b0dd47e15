// GCStats: what each collection reports, and the running totals kept across collections.
//
//   CollectionResult   one collection: generation, why it ran, what it examined and found, its
//                      pause and the time of each phase (all in nanoseconds)
//   CollectorTotals    since the heap was made: collections and collected per generation, total
//                      and longest pause, and HdrHistograms (3 significant digits, 1 ns to 1 min)
//                      for p50/p99/max of three times:
//                        pauses           each pause of a collection, as the stopper measured it:
//                                         every other mutator parked → stop flag lowered
//                        timeToSafepoint  each collection's handshake: stop requested → every
//                                         other mutator parked or blocked
//                        mutatorPauses    each park at a safepoint, as the parked mutator
//                                         measured it (any pause: collections and stopTheWorld)
//
// Written by the thread that ran the collection, after the world resumed, under the heap's
// `collectorState` lock; read by anyone through `Heap.collectorTotals`. `mutatorPauses` is the
// exception: each mutator records its own under the world's mutex, where it already is when it
// resumes (Safepoints.swift), and `Heap.collectorTotals` copies it in.

import Histogram
#if canImport(Glibc)
import Glibc
#endif

/// Why a collection ran.
public enum CollectionReason: String, Sendable, Equatable {
    /// `Heap.collect(generation:)` (Python's gc.collect()).
    case explicit
    /// The young count crossed the threshold; the collector thread ran it.
    case threshold
    /// The collector thread's idle timer found young objects waiting.
    case idle
}

/// What one collection did (`Heap.collect()` returns it; the start/stop callbacks see it).
public struct CollectionResult: Sendable, Equatable {
    public var generation: Int
    public var reason: CollectionReason
    /// How it found its garbage.
    public var mode: CollectionMode
    /// The concurrent phase (walk and trial deletion with the world running): 0 when stopped
    /// the world for all of it.
    public var concurrentNanoseconds: UInt64
    /// The concurrent phase's tentative garbage: what the racy view found unreachable.
    public var tentative: Int
    /// Of the tentative garbage, what the pause's validation confirmed (`unreachable` for a
    /// concurrent collection); `tentative - validated` were dropped as live or gone.
    public var validated: Int
    public var dropped: Int { tentative - validated }
    /// CPU time of the collecting thread for this collection (walks, validation, teardown; not
    /// the finalizers), from CLOCK_THREAD_CPUTIME_ID.
    public var collectorCPUNanoseconds: UInt64
    /// Tracked objects examined.
    public var candidates: Int
    /// Pages walked to find them (young collections walk only pages marked young).
    public var pagesWalked: Int
    /// Of those, walked by mutators that assisted a concurrent walk (ConcurrentDetection.swift).
    public var pagesAssisted: Int
    /// Batches of the garbage (one per validation pause) freed by mutators that assisted a
    /// concurrent collection's teardown (CollectionAssists.swift).
    public var batchesAssisted: Int
    /// Batches of the tentative garbage validated by mutators that assisted a validation pause
    /// (CollectionAssists.swift).
    public var validationsAssisted: Int
    /// Unreachable objects found, the resurrected ones included.
    public var unreachable: Int
    /// Of those, resurrected by a finalizer or a weak-reference callback and kept alive.
    public var resurrected: Int
    /// Unreachable objects that stayed so: freed, or saved in save-all mode. What Python's
    /// gc.collect() returns (CPython 3.13, bpo-38379: resurrected objects are not counted).
    public var collected: Int { unreachable - resurrected }
    /// Finalizers run.
    public var finalized: Int
    /// Of the unreachable objects, those kept in `Heap.garbage` (save-all mode) instead of freed.
    public var saved: Int
    /// The pause: from the moment every other mutator was parked or blocked to the moment the
    /// stop flag was lowered (the sum of them, when the collection paused more than once). The
    /// time to safepoint before it is `handshakeNanoseconds`: while it runs the world is not yet
    /// stopped, and a mutator still on its way to a safepoint is running or waiting for a CPU.
    public var pauseNanoseconds: UInt64
    /// Each pause of the collection, in order: a concurrent collection pauses once per batch of
    /// its tentative garbage, and any collection once more when finalizers ran.
    public var pauses: [UInt64] = []
    /// The time to safepoint before the pause: from raising the stop flag until every other
    /// mutator was parked or blocked (the pauses' together, when a collection paused twice).
    public var handshakeNanoseconds: UInt64
    /// Walking pages for candidates.
    public var findCandidatesNanoseconds: UInt64
    /// Trial deletion: update, subtract, mark.
    public var trialDeletionNanoseconds: UInt64
    /// Weak references, finalizers, the resurrection check.
    public var finalizationNanoseconds: UInt64
    /// Breaking the cycles and freeing: in the pause in stop-the-world mode, once the world runs
    /// again in concurrent mode (with the mutators that assist, CollectionAssists.swift).
    public var teardownNanoseconds: UInt64

    init(generation: Int, reason: CollectionReason, mode: CollectionMode) {
        self.generation = generation
        self.reason = reason
        self.mode = mode
        concurrentNanoseconds = 0; tentative = 0; validated = 0; collectorCPUNanoseconds = 0
        candidates = 0; pagesWalked = 0; pagesAssisted = 0; batchesAssisted = 0; validationsAssisted = 0; unreachable = 0; resurrected = 0; finalized = 0; saved = 0
        pauseNanoseconds = 0; handshakeNanoseconds = 0; findCandidatesNanoseconds = 0
        trialDeletionNanoseconds = 0; finalizationNanoseconds = 0; teardownNanoseconds = 0
    }
}

/// Totals since the heap was made.
public struct CollectorTotals: Sendable {
    /// Python's gc.get_stats(), per generation.
    public var generations = Array(repeating: GenerationStats(), count: 3)
    public var collections: Int { generations.reduce(0) { $0 + $1.collections } }
    public var totalPauseNanoseconds: UInt64 = 0
    public var longestPauseNanoseconds: UInt64 = 0
    /// Each pause (`CollectionResult.pauses`), in nanoseconds.
    public var pauses = CollectorTotals.nanosecondHistogram()
    /// Times to safepoint (`CollectionResult.handshakeNanoseconds`) in nanoseconds, one per
    /// collection.
    public var timeToSafepoint = CollectorTotals.nanosecondHistogram()
    /// The pauses mutators saw, in nanoseconds: one per park at a safepoint, from the moment the
    /// mutator parked to the moment it ran again, measured by the mutator itself — in
    /// collections and in `stopTheWorld` alike. A mutator in a blocking region sees no pause and
    /// records none (nor does one that waits to attach or to leave a blocking region).
    public var mutatorPauses = CollectorTotals.nanosecondHistogram()
    /// Collections the collector thread ran by itself (threshold or idle).
    public var automaticCollections = 0
    /// Time spent in concurrent phases, and the collecting threads' CPU time, in all.
    public var totalConcurrentNanoseconds: UInt64 = 0
    public var collectorCPUNanoseconds: UInt64 = 0
    /// Tentative and validated garbage summed over the collections:
    /// dropped = tentative - validated.
    public var tentative = 0
    public var validated = 0
    public var dropped: Int { tentative - validated }

    mutating func record(_ result: CollectionResult) {
        generations[result.generation].collections += 1
        generations[result.generation].collected += result.collected
        totalPauseNanoseconds += result.pauseNanoseconds
        for pause in result.pauses.isEmpty ? [result.pauseNanoseconds] : result.pauses {
            longestPauseNanoseconds = max(longestPauseNanoseconds, pause)
            _ = pauses.record(min(max(pause, 1), pauses.highestTrackableValue))
        }
        _ = timeToSafepoint.record(min(max(result.handshakeNanoseconds, 1), timeToSafepoint.highestTrackableValue))
        if result.reason != .explicit { automaticCollections += 1 }
        totalConcurrentNanoseconds += result.concurrentNanoseconds
        collectorCPUNanoseconds += result.collectorCPUNanoseconds
        tentative += result.tentative
        validated += result.validated
    }

    /// The pause at `percentile` (0...100), in nanoseconds; 0 before the first collection.
    public func pause(atPercentile percentile: Double) -> UInt64 {
        pauses.totalCount == 0 ? 0 : pauses.valueAtPercentile(percentile)
    }

    /// The time to safepoint at `percentile` (0...100), in nanoseconds; 0 before the first
    /// collection.
    public func timeToSafepoint(atPercentile percentile: Double) -> UInt64 {
        timeToSafepoint.totalCount == 0 ? 0 : timeToSafepoint.valueAtPercentile(percentile)
    }

    /// The pause a mutator saw at `percentile` (0...100), in nanoseconds; 0 before the first park.
    public func mutatorPause(atPercentile percentile: Double) -> UInt64 {
        mutatorPauses.totalCount == 0 ? 0 : mutatorPauses.valueAtPercentile(percentile)
    }

    /// An empty histogram of nanoseconds: 1 ns to 1 min, 3 significant digits.
    static func nanosecondHistogram() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    }
}

/// Per-generation statistics, as Python's gc.get_stats().
public struct GenerationStats: Sendable, Equatable {
    public var collections = 0
    /// Unreachable objects that stayed so (freed, or saved in save-all mode).
    public var collected = 0
    /// Objects found unreachable that could not be freed (none in heapd: finalizers run, and
    /// resurrected objects are alive again, not uncollectable).
    public var uncollectable = 0
}

/// The calling thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
@inline(__always)
func threadCPUNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// A monotonic clock reading in nanoseconds (CLOCK_MONOTONIC: not moved by clock changes).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
