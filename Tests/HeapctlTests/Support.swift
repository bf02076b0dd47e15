// Results as heapctl gets them from heapd. RunResult has no public initializer: the tests
// decode one from its JSON.

import Foundation
import HeapWorkload

/// A run that ended well, with `operations` spread over two threads, in collection `mode`.
func decodedResult(policy: String = "biased", wall: Double = 1, operations: Int = 1000, collections: [Int] = [3, 1, 0],
                   mode: String = "concurrent") -> RunResult {
    let json = """
        {"file": "t.hw", "policy": "\(policy)", "ok": true, "output": [], "wallSeconds": \(wall), "phases": [],
         "allocations": 0, "frees": 0, "bytesAllocated": 0, "liveAtEnd": 0, "leaked": 0, "heapProblems": [],
         "collector": {"mode": "\(mode)", "collections": \(collections), "collected": [0, 0, 0], "uncollectable": [0, 0, 0],
                       "automaticCollections": 0, "pauseP50Milliseconds": 0, "pauseP99Milliseconds": 0, "pauseMaxMilliseconds": 0,
                       "totalPauseMilliseconds": 0, "pauseBuckets": [0, 0, 0, 0, 0, 0, 0],
                       "totalConcurrentMilliseconds": 1.5, "collectorCPUMilliseconds": 2.25, "tentative": 12, "validated": 10, "dropped": 2,
                       "safepointP50Milliseconds": 0.01, "safepointP99Milliseconds": 0.02, "safepointMaxMilliseconds": 0.03,
                       "mutatorPauseP50Milliseconds": 0.1, "mutatorPauseP99Milliseconds": 0.2, "mutatorPauseMaxMilliseconds": 0.3},
         "peakRSSBytes": \(64 << 20), "peakHeapBytes": \(8 << 20),
         "threads": [{"name": "main", "operations": \(operations / 2), "seconds": \(wall), "operationsPerSecond": 0},
                     {"name": "thread 1", "operations": \(operations / 2), "seconds": \(wall), "operationsPerSecond": 0}],
         "expects": [], "warnings": [], "warningCount": 0}
        """
    return try! JSONDecoder().decode(RunResult.self, from: Data(json.utf8))
}
