// Run's result: the structured report at a run's end, and the one of a run that never started.

import Foundation
import HeapCore

extension Run {
    func report(wallSeconds: Double, live: Int, leaked: Int, problems: [String]) -> RunResult {
        let totals = heap.collectorTotals
        let error = failure.withLock { $0 }
        let passes = expectPasses.withLock { $0 }
        let (objects, bytes) = allocationTotals.withLock { ($0.objects, $0.bytes) }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let failedSite = error?.code == .expectFailed ? program.expects.firstIndex { $0.location.line == error!.line && $0.location.column == error!.column } : nil
        return RunResult(
            file: program.fileName, policy: configuration.policy.rawValue, ok: error == nil, error: error,
            output: output.withLock { $0.lines }, wallSeconds: wallSeconds, phases: phases.withLock { $0 },
            allocations: objects, frees: max(objects - live, 0), bytesAllocated: bytes, liveAtEnd: live, leaked: leaked,
            heapProblems: problems,
            collector: RunResult.Collector(
                mode: heap.collectionMode.rawValue,
                collections: totals.generations.map(\.collections), collected: totals.generations.map(\.collected),
                uncollectable: totals.generations.map(\.uncollectable), automaticCollections: totals.automaticCollections,
                pauseP50Milliseconds: Double(totals.pause(atPercentile: 50)) / 1e6,
                pauseP99Milliseconds: Double(totals.pause(atPercentile: 99)) / 1e6,
                pauseMaxMilliseconds: Double(totals.longestPauseNanoseconds) / 1e6,
                totalPauseMilliseconds: Double(totals.totalPauseNanoseconds) / 1e6,
                pauseBuckets: RunResult.pauseBucketBounds.map { Int(totals.pauses.totalCount == 0 ? 0 : totals.pauses.count(within: 0...$0)) }
                    + [Int(totals.pauses.totalCount)],
                totalConcurrentMilliseconds: Double(totals.totalConcurrentNanoseconds) / 1e6,
                collectorCPUMilliseconds: Double(totals.collectorCPUNanoseconds) / 1e6,
                tentative: totals.tentative, validated: totals.validated, dropped: totals.dropped,
                safepointP50Milliseconds: Double(totals.timeToSafepoint(atPercentile: 50)) / 1e6,
                safepointP99Milliseconds: Double(totals.timeToSafepoint(atPercentile: 99)) / 1e6,
                safepointMaxMilliseconds: Double(totals.timeToSafepoint(atPercentile: 100)) / 1e6,
                mutatorPauseP50Milliseconds: Double(totals.mutatorPause(atPercentile: 50)) / 1e6,
                mutatorPauseP99Milliseconds: Double(totals.mutatorPause(atPercentile: 99)) / 1e6,
                mutatorPauseMaxMilliseconds: Double(totals.mutatorPause(atPercentile: 100)) / 1e6,
                pausePriority: heap.pausePriorityState.rawValue),
            peakRSSBytes: usage.ru_maxrss * 1024,
            peakHeapBytes: heap.allocator.peakMappedBytes,
            threads: threadReports.withLock { $0 },
            expects: program.expects.enumerated().map { index, site in
                RunResult.Expectation(line: site.location.line, column: site.location.column, condition: site.condition,
                                      passed: passes[index], failed: index == failedSite ? 1 : 0)
            },
            warnings: warnings.withLock { $0.list }, warningCount: warnings.withLock { $0.count },
            droppedOutputLines: output.withLock { $0.truncated ? $0.droppedLines : nil },
            striping: heap.striping.rawValue, stripedObjects: heap.stripingStatistics.striped - stripedAtStart,
            memoryReport: memoryReport())
    }
}

extension Run {
    /// The result of a run that failed before its first operation (run.type-limit): nothing
    /// ran, nothing was allocated.
    static func notStarted(_ error: RunError, program: CompiledProgram, configuration: RunConfiguration) -> RunResult {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let generations = [0, 0, 0]
        return RunResult(
            file: program.fileName, policy: configuration.policy.rawValue, ok: false, error: error, output: [], wallSeconds: 0,
            phases: program.phases.map { RunResult.Phase(name: $0, seconds: 0, allocations: 0, runs: 0) },
            allocations: 0, frees: 0, bytesAllocated: 0, liveAtEnd: 0, leaked: 0, heapProblems: [],
            collector: RunResult.Collector(
                mode: (configuration.sharedHeap?.heap.collectionMode ?? configuration.collector.mode).rawValue,
                collections: generations, collected: generations, uncollectable: generations, automaticCollections: 0,
                pauseP50Milliseconds: 0, pauseP99Milliseconds: 0, pauseMaxMilliseconds: 0, totalPauseMilliseconds: 0,
                pauseBuckets: Array(repeating: 0, count: RunResult.pauseBucketBounds.count + 1),
                totalConcurrentMilliseconds: 0, collectorCPUMilliseconds: 0, tentative: 0, validated: 0, dropped: 0,
                safepointP50Milliseconds: 0, safepointP99Milliseconds: 0, safepointMaxMilliseconds: 0,
                mutatorPauseP50Milliseconds: 0, mutatorPauseP99Milliseconds: 0, mutatorPauseMaxMilliseconds: 0,
                pausePriority: PausePriorityState.off.rawValue),
            peakRSSBytes: usage.ru_maxrss * 1024, peakHeapBytes: 0, threads: [],
            expects: program.expects.map {
                RunResult.Expectation(line: $0.location.line, column: $0.location.column, condition: $0.condition, passed: 0, failed: 0)
            })
    }
}
