// Summary: the readable account of a run that `heapctl run` prints after the program's output.

import Foundation
import HeapWorkload

enum Summary {
    static func text(of result: RunResult) -> String {
        var lines: [String] = []
        func format(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }
        lines.append("")
        if let error = result.error {
            lines.append("FAILED  \(error)")
        } else {
            lines.append("ok  \(result.file)  (\(result.policy))")
        }
        lines.append("wall \(format(result.wallSeconds)) s   peak heap \(result.peakHeapBytes >> 20) MiB   peak RSS \(result.peakRSSBytes >> 20) MiB")
        lines.append("objects: \(result.allocations) allocated (\(result.bytesAllocated >> 10) KiB), \(result.frees) freed, \(result.liveAtEnd) alive at the end, \(result.leaked) leaked")
        for problem in result.heapProblems { lines.append("HEAP VERIFIER: \(problem)") }
        if let dropped = result.droppedOutputLines {
            lines.append("output: truncated at the run's bound, \(dropped) line(s) dropped")
        }
        if result.warningCount > 0 {
            lines.append("warnings: \(result.warningCount) error(s) ignored in finalizers and weak-reference callbacks (see the output)")
        }
        if let striped = result.stripedObjects, let striping = result.striping {
            lines.append("striping (\(striping)): \(striped) objects striped")
        }
        let c = result.collector
        lines.append("collector (\(c.mode)): collections \(c.collections.map(String.init).joined(separator: "/")) (automatic \(c.automaticCollections)), collected \(c.collected.reduce(0, +)), pauses p50 \(format(c.pauseP50Milliseconds)) ms p99 \(format(c.pauseP99Milliseconds)) ms max \(format(c.pauseMaxMilliseconds)) ms total \(format(c.totalPauseMilliseconds)) ms, CPU \(format(c.collectorCPUMilliseconds)) ms")
        lines.append("handshake: time to safepoint p50 \(format(c.safepointP50Milliseconds)) ms p99 \(format(c.safepointP99Milliseconds)) ms max \(format(c.safepointMaxMilliseconds)) ms; pause seen by mutators p50 \(format(c.mutatorPauseP50Milliseconds)) ms p99 \(format(c.mutatorPauseP99Milliseconds)) ms max \(format(c.mutatorPauseMaxMilliseconds)) ms; pause priority \(c.pausePriority)")
        if c.mode == "concurrent" {
            lines.append("concurrent phases: \(format(c.totalConcurrentMilliseconds)) ms, tentative \(c.tentative), validated \(c.validated), dropped \(c.dropped)")
        }
        for phase in result.phases where phase.runs > 0 {
            lines.append("phase \(phase.name): \(format(phase.seconds)) s, \(phase.allocations) objects")
        }
        for thread in result.threads {
            lines.append("\(thread.name): \(thread.operations) operations, \(format(thread.operationsPerSecond / 1e6, 1)) M/s")
        }
        let expects = result.expects
        if !expects.isEmpty {
            let failed = expects.filter { $0.failed > 0 }.count
            lines.append("expects: \(expects.count - failed) of \(expects.count) held" + (failed > 0 ? ", \(failed) failed" : ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
