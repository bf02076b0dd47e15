// CycleChurnProbe: issue 4's second collector benchmark — 2,000,000 two-object cycles created
// and dropped on one thread with automatic collection (pyperformance's gc_collect pattern scaled
// up). Reports objects/s, collections, total and longest pause, the share of the run spent in
// pauses, and peak RSS.
//
//   usage: CycleChurnProbe [cycles]   (default 2,000,000)

import Foundation
import HeapCore

let cycles = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 2_000_000 : 2_000_000
let heap = Heap(policy: .biased)
let node = heap.types.register(name: "Node", slots: ["ref"])
let mutator = heap.attachCurrentThread()

let start = DispatchTime.now().uptimeNanoseconds
for _ in 0..<cycles {
    let a = mutator.new(node)!, b = mutator.new(node)!
    mutator.store(b, into: a, slot: 0)
    mutator.store(a, into: b, slot: 0)
    mutator.release(a)
    mutator.release(b)
}
let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
let totals = heap.collectorTotals
let leftBeforeFinal = heap.liveObjectsByType()["Node", default: 0]
heap.collect()
precondition(heap.liveObjectsByType().isEmpty, "every cycle is garbage")
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
print(String(format: "%d cycles in %.3f s: %.1f M objects/s; collections %d (gen %@), collected %d, uncollected at the end %d",
             cycles, seconds, Double(2 * cycles) / seconds / 1e6, totals.collections,
             totals.generations.map { String($0.collections) }.joined(separator: "/"),
             totals.generations.map(\.collected).reduce(0, +), leftBeforeFinal))
print(String(format: "pauses: total %.1f ms (%.1f%% of the run), longest %.2f ms, p50 %.3f ms, p99 %.3f ms; peak RSS %d MiB",
             Double(totals.totalPauseNanoseconds) / 1e6, Double(totals.totalPauseNanoseconds) / 1e9 / seconds * 100,
             Double(totals.longestPauseNanoseconds) / 1e6, Double(totals.pause(atPercentile: 50)) / 1e6,
             Double(totals.pause(atPercentile: 99)) / 1e6, usage.ru_maxrss / 1024))
heap.detachCurrentThread()
