// Metrics: the daemon's figures in Prometheus's text exposition format (`metrics` op).
//
//   counters    requests, errors, runs started / finished / failed; objects allocated, collections
//               per generation and objects collected, summed over the runs that ended; censuses
//               of the shared heap (below)
//   gauges      runs running, and the heap bytes they have mapped now (their latest progress);
//               the shared heap's mapped bytes and live blocks per NUMA node, and its tracked
//               objects per generation
//   histogram   collector pauses of the runs that ended (heapd_gc_pause_seconds)
//
// The tracked objects per generation come from a census, a walk of the shared heap that stops
// its world; a scrape does not take one every time (GenerationCensus).

import HeapCore
import HeapWorkload
import Synchronization

/// Totals over the runs that ended, kept by the service.
struct RunTotals {
    var allocations = 0
    var collections = [0, 0, 0]
    var collected = 0
    /// Cumulative, per bucket of `RunResult.pauseBucketBounds` and +Inf.
    var pauseBuckets = Array(repeating: 0, count: RunResult.pauseBucketBounds.count + 1)
    var pauseSeconds = 0.0
    /// Objects striped (HeapCore's Striping.swift).
    var striped = 0

    mutating func add(_ result: RunResult) {
        allocations += result.allocations
        for generation in 0..<3 { collections[generation] += result.collector.collections[generation] }
        collected += result.collector.collected.reduce(0, +)
        for (index, count) in result.collector.pauseBuckets.enumerated() where index < pauseBuckets.count { pauseBuckets[index] += count }
        pauseSeconds += result.collector.totalPauseMilliseconds / 1000
        striped += result.stripedObjects ?? 0
    }
}

enum Metrics {
    static func text(stats: ServiceStats, totals: RunTotals, heapBytes: Int, sharedHeapNodes: [(node: Int, bytes: Int, objects: Int)],
                     sharedHeapGenerations: [Int], sharedHeapCensuses: Int) -> String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for (labels, value) in samples { lines.append("\(name)\(labels) \(value)") }
        }
        metric("heapd_requests_total", "counter", "Requests received.", [("", "\(stats.requests)")])
        metric("heapd_errors_total", "counter", "Error responses sent.", [("", "\(stats.errors)")])
        metric("heapd_runs_started_total", "counter", "Runs admitted.", [("", "\(stats.runsStarted)")])
        metric("heapd_runs_finished_total", "counter", "Runs that ended well.", [("", "\(stats.runsFinished)")])
        metric("heapd_runs_failed_total", "counter", "Runs that ended with an error.", [("", "\(stats.runsFailed)")])
        metric("heapd_runs_running", "gauge", "Runs executing now.", [("", "\(stats.runsRunning)")])
        metric("heapd_heap_bytes", "gauge", "Memory mapped by the heaps of the runs executing now.", [("", "\(heapBytes)")])
        metric("heapd_shared_heap_bytes", "gauge", "Memory the shared heap has mapped, per NUMA node.",
               sharedHeapNodes.map { ("{node=\"\($0.node)\"}", "\($0.bytes)") })
        metric("heapd_shared_heap_objects", "gauge", "Live blocks in the shared heap, per NUMA node.",
               sharedHeapNodes.map { ("{node=\"\($0.node)\"}", "\($0.objects)") })
        metric("heapd_shared_heap_tracked_objects", "gauge", "Tracked objects in the shared heap, per generation (frozen: the permanent one).",
               zip(["0", "1", "2", "frozen"], sharedHeapGenerations).map { ("{generation=\"\($0.0)\"}", "\($0.1)") })
        metric("heapd_shared_heap_censuses_total", "counter", "Walks of the shared heap that counted its tracked objects (each stops its world).",
               [("", "\(sharedHeapCensuses)")])
        metric("heapd_objects_allocated_total", "counter", "Objects made by runs that ended.", [("", "\(totals.allocations)")])
        metric("heapd_gc_collections_total", "counter", "Collections by generation, in runs that ended.",
               (0..<3).map { ("{generation=\"\($0)\"}", "\(totals.collections[$0])") })
        metric("heapd_gc_collected_total", "counter", "Objects found unreachable, in runs that ended.", [("", "\(totals.collected)")])
        metric("heapd_striped_objects_total", "counter", "Objects given per-thread reference counts (striped), in runs that ended.",
               [("", "\(totals.striped)")])
        var buckets = RunResult.pauseBucketBounds.enumerated().map { index, bound in
            ("{le=\"\(Double(bound) / 1e9)\"}", "\(totals.pauseBuckets[index])")
        }
        buckets.append(("{le=\"+Inf\"}", "\(totals.pauseBuckets.last!)"))
        lines.append("# HELP heapd_gc_pause_seconds Collector pauses, in runs that ended.")
        lines.append("# TYPE heapd_gc_pause_seconds histogram")
        for (labels, value) in buckets { lines.append("heapd_gc_pause_seconds_bucket\(labels) \(value)") }
        lines.append("heapd_gc_pause_seconds_sum \(totals.pauseSeconds)")
        lines.append("heapd_gc_pause_seconds_count \(totals.pauseBuckets.last!)")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The shared heap's tracked objects per generation — [0, 1, 2, frozen] — for metrics. A count
/// is a walk that stops the heap's world, so a scrape takes a new one only when
///
///   the heap has changed    its signature (live blocks, the collector's counts, collections per
///                           generation, all read without stopping anything) differs from the
///                           last census's; an empty heap is counted as empty with no walk
///   and it is not too soon  `minimumInterval` has passed since the last walk
///
/// and otherwise answers the last census. Any thread; one census at a time (a lock held across
/// the walk: a second scrape waits for the first's figures rather than stopping the world again).
final class GenerationCensus: Sendable {
    static let minimumInterval = Duration.seconds(10)

    private struct Signature: Equatable {
        var liveBlocks: Int
        var counts: [Int]
        var collections: [Int]
    }

    private struct State {
        var counts = [0, 0, 0, 0]
        var signature: Signature?
        var taken: ContinuousClock.Instant?
        var walks = 0
    }

    private let state = Mutex(State())

    /// Walks taken so far.
    var walks: Int { state.withLock { $0.walks } }

    /// The counts of `heap`, which has `liveBlocks` live blocks now.
    func counts(of heap: Heap, liveBlocks: Int) -> [Int] {
        let count = heap.count
        let signature = Signature(liveBlocks: liveBlocks, counts: [count.0, count.1, count.2], collections: heap.generationStats.map(\.collections))
        return state.withLock { state in
            if liveBlocks == 0 {
                state.counts = [0, 0, 0, 0]
                state.signature = signature
                return state.counts
            }
            let now = ContinuousClock.now
            if signature == state.signature { return state.counts }
            if let taken = state.taken, now - taken < GenerationCensus.minimumInterval { return state.counts }
            // This thread takes part in the stopped world as a mutator of the heap.
            let attached = Mutator.current == nil
            if attached { heap.attachCurrentThread() }
            state.counts = heap.trackedObjectsByGeneration()
            if attached { heap.detachCurrentThread() }
            state.signature = signature
            state.taken = now
            state.walks += 1
            return state.counts
        }
    }
}
