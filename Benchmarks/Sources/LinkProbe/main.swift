// LinkProbe: allocate + link + free of a 2-slot object, heapd (biased) against the same shape as a
// Swift final class with ARC, alternating in one process with no malloc interposer linked
// (package-benchmark's interposer slows every malloc, so Swift's allocations, ~40 %).
//
//   usage: LinkProbe [iterations]      (default 2,000,000; 5 rounds; prints ns per iteration)

import BenchmarkSupport
import Foundation
import HeapCore

let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 2_000_000 : 2_000_000
let heap = Heap(policy: .biased, collector: .manual)
let node = heap.types.register(name: "Node", slots: ["left", "right"])
let mutator = heap.attachCurrentThread()

func nanoseconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations)
}

var heapdTimes: [Double] = []
var swiftTimes: [Double] = []
for _ in 0..<5 {
    heapdTimes.append(nanoseconds { linkTwoSlotObjects(mutator, node: node, iterations: iterations) })
    swiftTimes.append(nanoseconds { linkTwoSlotSwiftObjects(iterations: iterations) })
}
heap.detachCurrentThread()
let ratios = zip(swiftTimes, heapdTimes).map { $0 / $1 }
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
print(String(format: "heapd %.1f ns, Swift ARC %.1f ns per iteration (medians of 5); Swift/heapd per round: %@",
             median(heapdTimes), median(swiftTimes), ratios.map { String(format: "%.2f", $0) }.joined(separator: " ")))
